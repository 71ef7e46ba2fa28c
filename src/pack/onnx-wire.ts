/**
 * onnx.proto field numbers and protobuf wire types, for the code that walks
 * ONNX files on the wire format instead of decoding them (model-requirements,
 * split-inline-weights): one list, as in onnx.proto.
 */

/** ModelProto.graph */
export const MODEL_GRAPH = 7;
/** GraphProto.initializer, .input, .output */
export const GRAPH_INITIALIZER = 5;
export const GRAPH_INPUT = 11;
export const GRAPH_OUTPUT = 12;
/** TensorProto.dims, .data_type, .raw_data, .external_data, .data_location */
export const TENSOR_DIMS = 1;
export const TENSOR_DATA_TYPE = 2;
export const TENSOR_RAW_DATA = 9;
export const TENSOR_EXTERNAL_DATA = 13;
export const TENSOR_DATA_LOCATION = 14;
/** TensorProto.DataLocation.EXTERNAL */
export const DATA_LOCATION_EXTERNAL = 1;
/** ValueInfoProto.type, TypeProto.tensor_type, TypeProto.Tensor.elem_type */
export const VALUE_INFO_TYPE = 2;
export const TYPE_TENSOR_TYPE = 1;
export const TYPE_TENSOR_ELEM_TYPE = 1;

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;
