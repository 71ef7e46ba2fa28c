/**
 * Test-only: a model whose compute the request chooses. `x` [1, d] is tiled
 * to MIN_ROWS + `rows` x d (`rows` [1, 1] int64, the second input), run through `layers`
 * MatMul + Relu with one d x d weight, and averaged back to [1, d]. A request
 * with a tiny body can so compute for as long as a test needs (a lease, a
 * compute deadline), on any backend.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataType } from '../../src/pack/onnx-types.ts';
import { floatTensor, floatValueInfo, int64Tensor, intAttr, intsAttr, modelOf, node, tensorValueInfo } from '../../src/pack/generate/onnx-builder.ts';
import { randomFloats } from '../../src/pack/generate/seeded-random.ts';
import { encodeModel } from '../../src/pack/onnx-model.ts';
import { packModel } from '../../src/pack/pack-model.ts';

export const SLOW_D = 256;
/** Rows computed on top of the requested ones. */
export const MIN_ROWS = 1024;

/** Writes the model and packs it as `name` under `dir`; returns the pack folder. */
export async function packSlowModel(dir: string, name = 'slow', layers = 24): Promise<string> {
  const d = SLOW_D;
  const nodes = [
    // At least MIN_ROWS rows, so an all-zeros sample (a session's warm-up run) computes like a real request.
    node('Add', ['rows', 'min_rows'], ['rows_total']),
    node('Concat', ['rows_total', 'one'], ['repeats2d'], [intAttr('axis', 1)]),
    node('Reshape', ['repeats2d', 'shape2'], ['repeats']),
    node('Tile', ['x', 'repeats'], ['h0']),
  ];
  for (let i = 0; i < layers; i++) {
    nodes.push(node('MatMul', [`h${i}`, 'w'], [`m${i}`]));
    nodes.push(node('Relu', [`m${i}`], [`h${i + 1}`]));
  }
  nodes.push(node('ReduceMean', [`h${layers}`], ['output'], [intsAttr('axes', [0]), intAttr('keepdims', 1)]));
  const model = modelOf({
    name: 'slow', producer: 'tessera-test', nodes,
    initializers: [
      floatTensor('w', [d, d], randomFloats(d * d, 5, 1 / Math.sqrt(d))),
      { ...int64Tensor('one', [1]), dims: [1, 1] },
      { ...int64Tensor('min_rows', [MIN_ROWS]), dims: [1, 1] },
      int64Tensor('shape2', [2]),
    ],
    inputs: [floatValueInfo('x', [1, d]), tensorValueInfo('rows', DataType.INT64, [1, 1])],
    outputs: [floatValueInfo('output', [1, d])],
  });
  const src = join(dir, `${name}-src`);
  await rm(src, { recursive: true, force: true });
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'model.onnx'), encodeModel(model));
  const out = join(dir, name);
  await rm(out, { recursive: true, force: true });
  await packModel(join(src, 'model.onnx'), { out, name });
  return out;
}
