import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { onnxType } from './onnx-schema.ts';
import { decodeModel, encodeModel } from './onnx-model.ts';
import { matmulChainModel } from './generate/matmul-chain.ts';
import { transformerBlockModel } from './generate/transformer-block.ts';
import type { ModelProto } from './onnx-types.ts';

/** A model that sets fields of every message kind, so a missing or misnumbered field shows up. */
function kitchenSinkModel(): Record<string, unknown> {
  const shape = { dim: [{ dim_value: 2, denotation: 'BATCH' }, { dim_param: 'n' }] };
  const tensor = {
    dims: [2],
    data_type: 1,
    segment: { begin: 0, end: 2 },
    float_data: [1.5, -2],
    name: 'w',
    doc_string: 'weights',
    metadata_props: [{ key: 'k', value: 'v' }],
  };
  const external = { name: 'e', dims: [4], data_type: 7, data_location: 1, external_data: [{ key: 'location', value: 'x.data' }, { key: 'offset', value: '0' }] };
  const subgraph = { name: 'body', node: [{ op_type: 'Identity', input: ['a'], output: ['b'] }], output: [{ name: 'b' }] };
  return {
    ir_version: 10,
    opset_import: [{ domain: '', version: 21 }, { domain: 'com.example', version: 1 }],
    producer_name: 'test',
    producer_version: '1',
    domain: 'ai.test',
    model_version: 3,
    doc_string: 'doc',
    graph: {
      name: 'g',
      doc_string: 'graph doc',
      node: [
        {
          name: 'n',
          op_type: 'If',
          domain: '',
          overload: 'o',
          input: ['c'],
          output: ['y'],
          doc_string: 'node doc',
          metadata_props: [{ key: 'a', value: 'b' }],
          device_configurations: [
            {
              configuration_id: 'cfg',
              pipeline_stage: 1,
              sharding_spec: [
                {
                  tensor_name: 'w',
                  device: [0, 1],
                  index_to_device_group_map: [{ key: 0, value: [0, 1] }],
                  sharded_dim: [{ axis: 0, simple_sharding: [{ dim_value: 2, num_shards: 2 }, { dim_param: 'n', num_shards: 1 }] }],
                },
              ],
            },
          ],
          attribute: [
            { name: 'then_branch', type: 5, g: subgraph },
            { name: 'f', type: 1, f: 0.5, ref_attr_name: 'r', doc_string: 'd' },
            { name: 'i', type: 2, i: -7 },
            { name: 's', type: 3, s: new Uint8Array([104, 105]) },
            { name: 't', type: 4, t: tensor },
            { name: 'sp', type: 11, sparse_tensor: { values: tensor, indices: { dims: [2], data_type: 7, int64_data: [0, 1] }, dims: [4] } },
            { name: 'tp', type: 13, tp: { tensor_type: { elem_type: 1, shape } } },
            { name: 'fs', type: 6, floats: [1, 2] },
            { name: 'is', type: 7, ints: [1, -2, 3] },
            { name: 'ss', type: 8, strings: [new Uint8Array([1])] },
            { name: 'ts', type: 9, tensors: [tensor] },
            { name: 'gs', type: 10, graphs: [subgraph] },
            { name: 'sps', type: 12, sparse_tensors: [{ dims: [1] }] },
            { name: 'tps', type: 14, type_protos: [{ sequence_type: { elem_type: { tensor_type: { elem_type: 1 } } } }] },
          ],
        },
      ],
      initializer: [tensor, external, { name: 'd', dims: [1], data_type: 11, double_data: [0.25] }, { name: 'u', dims: [1], data_type: 13, uint64_data: [5] }, { name: 'i32', dims: [1], data_type: 6, int32_data: [-3] }, { name: 'str', dims: [1], data_type: 8, string_data: [new Uint8Array([65])] }, { name: 'raw', dims: [1], data_type: 1, raw_data: new Uint8Array([0, 0, 128, 63]) }],
      sparse_initializer: [{ values: tensor, indices: { dims: [2], data_type: 7, int64_data: [0, 1] }, dims: [4] }],
      input: [{ name: 'c', type: { tensor_type: { elem_type: 9, shape: { dim: [] } }, denotation: 'cond' }, doc_string: 'in', metadata_props: [{ key: 'x', value: 'y' }] }],
      output: [
        { name: 'y', type: { map_type: { key_type: 7, value_type: { tensor_type: { elem_type: 1 } } } } },
        { name: 'z', type: { optional_type: { elem_type: { sparse_tensor_type: { elem_type: 1, shape } } } } },
        { name: 'q', type: { opaque_type: { domain: 'd', name: 'n' } } },
      ],
      value_info: [{ name: 'v', type: { tensor_type: { elem_type: 1, shape } } }],
      quantization_annotation: [{ tensor_name: 'w', quant_parameter_tensor_names: [{ key: 'SCALE_TENSOR', value: 's' }] }],
      metadata_props: [{ key: 'g', value: 'h' }],
    },
    metadata_props: [{ key: 'author', value: 'me' }],
    training_info: [{ initialization: subgraph, algorithm: subgraph, initialization_binding: [{ key: 'a', value: 'b' }], update_binding: [{ key: 'c', value: 'd' }] }],
    functions: [
      {
        name: 'F',
        domain: 'com.example',
        overload: 'v1',
        input: ['x'],
        output: ['y'],
        attribute: ['alpha'],
        attribute_proto: [{ name: 'beta', type: 1, f: 1 }],
        node: [{ op_type: 'Relu', input: ['x'], output: ['y'] }],
        doc_string: 'fn',
        opset_import: [{ domain: '', version: 21 }],
        value_info: [{ name: 'x' }],
        metadata_props: [{ key: 'f', value: 'g' }],
      },
    ],
    configuration: [{ name: 'mesh', num_devices: 2, device: ['gpu:0', 'gpu:1'] }],
  };
}

describe('onnx schema', () => {
  it('uses the upstream field numbers', () => {
    const ids = (type: string) => Object.fromEntries(Object.values(onnxType(type).fields).map((f) => [f.name, f.id]));
    expect(ids('ModelProto')).toEqual({
      ir_version: 1, opset_import: 8, producer_name: 2, producer_version: 3, domain: 4, model_version: 5, doc_string: 6, graph: 7,
      metadata_props: 14, training_info: 20, functions: 25, configuration: 26,
    });
    expect(ids('TensorProto')).toMatchObject({ dims: 1, data_type: 2, segment: 3, float_data: 4, int32_data: 5, string_data: 6, int64_data: 7, name: 8, raw_data: 9, double_data: 10, uint64_data: 11, doc_string: 12, external_data: 13, data_location: 14, metadata_props: 16 });
    expect(ids('GraphProto')).toMatchObject({ node: 1, name: 2, initializer: 5, doc_string: 10, input: 11, output: 12, value_info: 13, quantization_annotation: 14, sparse_initializer: 15, metadata_props: 16 });
    expect(ids('AttributeProto')).toMatchObject({ f: 2, i: 3, s: 4, t: 5, g: 6, floats: 7, ints: 8, strings: 9, tensors: 10, graphs: 11, doc_string: 13, tp: 14, type_protos: 15, type: 20, ref_attr_name: 21, sparse_tensor: 22, sparse_tensors: 23 });
    expect(ids('TypeProto')).toMatchObject({ tensor_type: 1, sequence_type: 4, map_type: 5, denotation: 6, opaque_type: 7, sparse_tensor_type: 8, optional_type: 9 });
    // proto2: only the upstream's [packed = true] fields are packed.
    const packed = Object.values(onnxType('TensorProto').fields).filter((f) => f.packed).map((f) => f.name).sort();
    expect(packed).toEqual(['double_data', 'float_data', 'int32_data', 'int64_data', 'uint64_data']);
    expect(onnxType('TensorProto').fields.dims?.packed).toBe(false);
  });

  it('round-trips every message kind byte for byte', () => {
    const bytes = encodeModel(kitchenSinkModel() as ModelProto);
    const decoded = decodeModel(bytes, 'sink.onnx');
    const again = encodeModel(decoded);
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
    const plain = onnxType('ModelProto').toObject(decoded as unknown as protobuf.Message, { longs: Number, bytes: Array }) as Record<string, any>;
    expect(plain.functions[0].attribute_proto[0].name).toBe('beta');
    expect(plain.configuration[0].device).toEqual(['gpu:0', 'gpu:1']);
    expect(plain.graph.node[0].device_configurations[0].sharding_spec[0].sharded_dim[0].simple_sharding[1].dim_param).toBe('n');
    expect(plain.graph.output[1].type.optional_type.elem_type.sparse_tensor_type.shape.dim[0].denotation).toBe('BATCH');
    expect(plain.graph.node[0].attribute[2].i).toBe(-7);
  });

  it('keeps fields it does not know (a newer ONNX) through decode and encode', () => {
    const known = encodeModel(matmulChainModel({ d: 8, layers: 1, seed: 1 }));
    // Field 99, varint 5: not in the schema.
    const withUnknown = new Uint8Array([...known, 0x98, 0x06, 0x05]);
    const again = encodeModel(decodeModel(withUnknown));
    expect(Buffer.from(again).equals(Buffer.from(withUnknown))).toBe(true);
  });

  it('round-trips generated models byte for byte', () => {
    for (const model of [matmulChainModel({ d: 16, layers: 2, seed: 4 }), transformerBlockModel({ d: 32, heads: 4, seed: 4 })]) {
      const bytes = encodeModel(model);
      expect(Buffer.from(encodeModel(decodeModel(bytes))).equals(Buffer.from(bytes))).toBe(true);
    }
  });

  it('re-encodes models written by the C++ protobuf runtime (ONNX Runtime) byte for byte', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-schema-'));
    try {
      writeFileSync(join(dir, 'in.onnx'), encodeModel(transformerBlockModel({ d: 32, heads: 4, seed: 9 })));
      // 'all' adds com.microsoft fused ops and their attributes: more of the schema exercised.
      for (const level of ['disabled', 'all'] as const) {
        const out = join(dir, `${level}.onnx`);
        const session = await ort.InferenceSession.create(join(dir, 'in.onnx'), { graphOptimizationLevel: level, optimizedModelFilePath: out, logSeverityLevel: 3 });
        await session.release();
        const written = readFileSync(out);
        expect(Buffer.from(encodeModel(decodeModel(written))).equals(written)).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
