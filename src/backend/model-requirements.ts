/**
 * What a model needs from a WebGPU device, read from its ONNX graph before a
 * session exists: the largest initializer (each one becomes one GPU buffer,
 * bound whole as a storage buffer) and whether it carries float16 tensors
 * (WGSL f16 needs the adapter's `shader-f16` feature).
 *
 * Reads the protobuf wire format with protobufjs' Reader and walks only the
 * fields it needs, skipping the rest, so a graph with megabytes of inline
 * weights is scanned without decoding (or copying) them.
 */
import protobuf from 'protobufjs';
import { TesseraError } from '../errors.ts';
import { bitsPerElement, int64ToNumber } from '../pack/onnx-model.ts';
import { DataType } from '../pack/onnx-types.ts';
import {
  GRAPH_INITIALIZER,
  GRAPH_INPUT,
  GRAPH_OUTPUT,
  MODEL_GRAPH,
  TENSOR_DATA_TYPE,
  TENSOR_DIMS,
  TYPE_TENSOR_ELEM_TYPE,
  TYPE_TENSOR_TYPE,
  VALUE_INFO_TYPE,
  WIRE_BYTES,
  WIRE_VARINT,
} from '../pack/onnx-wire.ts';

export interface ModelRequirements {
  /** Bytes of the largest initializer; 0 when there are none. */
  largestTensorBytes: number;
  /** Whether any initializer, graph input or graph output is float16. */
  usesFloat16: boolean;
}

/**
 * @example
 * const needs = readModelRequirements(graphBytes);
 * if (needs.usesFloat16 && !features.includes('shader-f16')) useWasm();
 */
export function readModelRequirements(graph: Uint8Array): ModelRequirements {
  const needs: ModelRequirements = { largestTensorBytes: 0, usesFloat16: false };
  try {
    forEachField(graph, (field, wire, reader) => {
      if (field === MODEL_GRAPH && wire === WIRE_BYTES) readGraph(reader.bytes(), needs);
      else reader.skipType(wire);
    });
  } catch (err) {
    throw new TesseraError('invalid-model', `the graph is not a readable ONNX ModelProto: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return needs;
}

function readGraph(bytes: Uint8Array, needs: ModelRequirements): void {
  forEachField(bytes, (field, wire, reader) => {
    if (wire !== WIRE_BYTES) return void reader.skipType(wire);
    if (field === GRAPH_INITIALIZER) {
      const { dataType, elements } = readTensor(reader.bytes());
      if (dataType === DataType.FLOAT16) needs.usesFloat16 = true;
      // Sub-byte types are packed; strings have no fixed size and count as 0.
      const size = Math.ceil((elements * bitsPerElement(dataType)) / 8);
      if (size > needs.largestTensorBytes) needs.largestTensorBytes = size;
    } else if (field === GRAPH_INPUT || field === GRAPH_OUTPUT) {
      if (readValueInfoElemType(reader.bytes()) === DataType.FLOAT16) needs.usesFloat16 = true;
    } else {
      reader.skipType(wire);
    }
  });
}

function readTensor(bytes: Uint8Array): { dataType: number; elements: number } {
  let dataType = 0;
  let elements = 1;
  forEachField(bytes, (field, wire, reader) => {
    if (field === TENSOR_DATA_TYPE && wire === WIRE_VARINT) dataType = reader.int32();
    else if (field === TENSOR_DIMS && wire === WIRE_VARINT) elements *= int64ToNumber(reader.int64());
    else if (field === TENSOR_DIMS && wire === WIRE_BYTES) {
      // Some writers pack repeated int64 even in proto2; accept both encodings.
      const packed = protobuf.Reader.create(reader.bytes());
      while (packed.pos < packed.len) elements *= int64ToNumber(packed.int64());
    } else reader.skipType(wire);
  });
  return { dataType, elements };
}

function readValueInfoElemType(bytes: Uint8Array): number {
  let elemType = 0;
  forEachField(bytes, (field, wire, reader) => {
    if (field !== VALUE_INFO_TYPE || wire !== WIRE_BYTES) return void reader.skipType(wire);
    forEachField(reader.bytes(), (f, w, typeReader) => {
      if (f !== TYPE_TENSOR_TYPE || w !== WIRE_BYTES) return void typeReader.skipType(w);
      forEachField(typeReader.bytes(), (f2, w2, tensorReader) => {
        if (f2 === TYPE_TENSOR_ELEM_TYPE && w2 === WIRE_VARINT) elemType = tensorReader.int32();
        else tensorReader.skipType(w2);
      });
    });
  });
  return elemType;
}

function forEachField(
  bytes: Uint8Array,
  visit: (field: number, wire: number, reader: protobuf.Reader) => void,
): void {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    visit(tag >>> 3, tag & 7, reader);
  }
}
