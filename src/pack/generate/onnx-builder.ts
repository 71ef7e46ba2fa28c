/**
 * Tiny helpers that build ONNX protobuf objects for the test-model generator.
 */
import { AttributeType, DataType, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx-types.ts';

export function floatTensor(name: string, dims: number[], data: Float32Array): TensorProto {
  return { name, dims, data_type: DataType.FLOAT, raw_data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export function int64Tensor(name: string, values: number[]): TensorProto {
  const data = new BigInt64Array(values.map((v) => BigInt(v)));
  return { name, dims: [values.length], data_type: DataType.INT64, raw_data: new Uint8Array(data.buffer) };
}

export function node(opType: string, inputs: string[], outputs: string[], attributes: AttributeProto[] = []): NodeProto {
  return { op_type: opType, input: inputs, output: outputs, name: `${opType}_${outputs[0]}`, attribute: attributes };
}

export function intAttr(name: string, value: number): AttributeProto {
  return { name, type: AttributeType.INT, i: value };
}

export function floatAttr(name: string, value: number): AttributeProto {
  return { name, type: AttributeType.FLOAT, f: value };
}

export function intsAttr(name: string, values: number[]): AttributeProto {
  return { name, type: AttributeType.INTS, ints: values };
}

/** A tensor value info (`elemType` a DataType value); strings in `dims` are symbolic dimensions. */
export function tensorValueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) },
      },
    },
  };
}

export function floatValueInfo(name: string, dims: (number | string)[]): ValueInfoProto {
  return tensorValueInfo(name, DataType.FLOAT, dims);
}

/**
 * A model around one graph, at the IR version and opset every generated model uses.
 *
 * @example
 * const model = modelOf({ name: 'mlp', producer: 'tessera-generate', nodes, initializers, inputs, outputs });
 */
export function modelOf(g: { name: string; producer: string; nodes: NodeProto[]; initializers: TensorProto[]; inputs: ValueInfoProto[]; outputs: ValueInfoProto[] }): ModelProto {
  return {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    producer_name: g.producer,
    graph: { name: g.name, node: g.nodes, initializer: g.initializers, input: g.inputs, output: g.outputs },
  };
}
