/**
 * KServe v1 prediction protocol:
 *   GET  /v1/models                 -> { models: [name, ...] }
 *   GET  /v1/models/<name>          -> { name, ready }
 *   POST /v1/models/<name>:predict  { instances: [...] } -> { predictions: [...] }
 *
 * Each instance is one row along dim 0 of the model's single input (nested
 * arrays of the remaining dims), or, for models with several inputs, an object
 * with one row per input name. Rows are stacked into one batch, so a request's
 * instances run together. Predictions are one per instance: the output's row,
 * or an object of rows when the model has several outputs.
 */
import { Hono } from 'hono';
import type { TensorSpec } from '../../src/protocol/coordinator-messages.ts';
import type { TensorMap } from '../../src/protocol/tensor.ts';
import { apiKeyAuth } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { badRequest, HttpError } from '../http-error.ts';
import { clientLinkOf, inferOrThrow, type ModelDirectory } from '../lib/coordinator-client.ts';
import { checkAgainstSpec, flattenNested, fromTensor, nest, toTensor } from '../lib/json-tensor.ts';
import { readJsonBody } from '../lib/read-json-body.ts';
import { ocrInstancesToInputs } from '../lib/ocr-instances.ts';
import { readOcrResult } from '../../src/protocol/ocr-tensors.ts';
import type { SaturationHints } from '../lib/saturation-hint.ts';
import type { ModelDescription } from '../coordinator-do.ts';

const bad = badRequest;

/** @example app.route('/', kserveRoutes(directory, saturation)); // one directory and one set of hints per isolate (createApp) */
export function kserveRoutes(directory: ModelDirectory, saturation: SaturationHints): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use('/v1/models', apiKeyAuth());
  routes.use('/v1/models/*', apiKeyAuth());

  // One path, two protocols: KServe reads `models`, OpenAI clients read `data`
  // (where text-generation models carry their context length).
  routes.get('/v1/models', async (c) => {
    const models = await directory.list(c.env);
    return c.json({
      models: models.map((m) => m.name),
      object: 'list',
      data: models.map((m) => ({
        id: m.name, object: 'model', created: 0, owned_by: 'tessera',
        ...(m.task ? { task: m.task } : {}), ...(m.contextLength !== undefined ? { context_length: m.contextLength } : {}),
      })),
    });
  });

  routes.get('/v1/models/:name', async (c) => {
    const model = await directory.get(c.env, c.req.param('name'));
    return c.json({ name: model.name, ready: true });
  });

  // Hono cannot put a literal ":predict" after a parameter, so the verb is parsed here.
  routes.post('/v1/models/:spec', async (c) => {
    const match = /^(.+):predict$/.exec(c.req.param('spec'));
    if (!match) throw new HttpError(404, 'not-found', 'KServe v1 supports POST /v1/models/<name>:predict');
    // Before the body is read or the pool is asked (worker/lib/saturation-hint.ts).
    saturation.check(match[1] as string);
    const model = await directory.get(c.env, match[1] as string);
    if (model.pipeline === 'ocr') {
      // One batch per image (they cannot be stacked); the instances run in parallel.
      const requests = ocrInstancesToInputs(await readJsonBody(c.req.raw));
      const predictions = await Promise.all(requests.map(async (inputs) => readOcrResult(await inferOrThrow(c.env, model.name, inputs, { saturation, client: clientLinkOf(c) }))));
      return c.json({ predictions });
    }
    const inputs = instancesToInputs(await readJsonBody(c.req.raw), model);
    const outputs = await inferOrThrow(c.env, model.name, inputs, { saturation, client: clientLinkOf(c) });
    return c.json({ predictions: outputsToPredictions(outputs, rowsOf(inputs)) });
  });
  return routes;
}

function rowsOf(inputs: TensorMap): number {
  return Object.values(inputs)[0]?.dims[0] ?? 0;
}

/**
 * `{ instances }` -> the model's input tensors, stacked along dim 0.
 *
 * @example
 * instancesToInputs({ instances: [[1, 2], [3, 4]] }, model); // { x: float32 [2, 2] }
 */
export function instancesToInputs(body: unknown, model: ModelDescription): TensorMap {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { instances?: unknown }).instances)) {
    bad('body must be a JSON object with an "instances" array, e.g. {"instances": [[1, 2, 3]]}');
  }
  const instances = (body as { instances: unknown[] }).instances;
  if (instances.length === 0) bad('"instances" is empty; send at least one instance');
  const specs = model.inputs ?? [];
  if (specs.length === 0) bad(`model "${model.name}" declares no inputs, so instances cannot be mapped; use POST /v2/models/${model.name}/infer`);
  const named = typeof instances[0] === 'object' && instances[0] !== null && !Array.isArray(instances[0]);
  if (!named && specs.length !== 1) {
    bad(`model "${model.name}" has ${specs.length} inputs (${specs.map((s) => s.name).join(', ')}); send each instance as an object keyed by input name`);
  }
  const inputs: TensorMap = {};
  for (const spec of specs) {
    const rows = instances.map((inst, i) => {
      if (!named) return inst;
      if (typeof inst !== 'object' || inst === null || Array.isArray(inst)) bad(`instances[${i}] must be an object like instances[0]`);
      const o = inst as Record<string, unknown>;
      for (const key of Object.keys(o)) if (!specs.some((s) => s.name === key)) bad(`instances[${i}]: unknown input "${key}"; the model's inputs are ${specs.map((s) => s.name).join(', ')}`);
      if (!(spec.name in o)) bad(`instances[${i}]: missing input "${spec.name}"`);
      return o[spec.name];
    });
    inputs[spec.name] = stack(rows, spec, `input "${spec.name}"`);
  }
  return inputs;
}

function stack(rows: unknown[], spec: TensorSpec, where: string): TensorMap[string] {
  if (spec.shape.length === 0) bad(`${where} is a scalar and cannot be batched from instances; use the v2 infer API`);
  const { shape, values } = flattenNested(rows, where);
  // flattenNested sees the instances list as dim 0; a scalar row gives rank 1.
  const tensor = toTensor(spec.type, shape, values, where);
  checkAgainstSpec(tensor, spec, where);
  return tensor;
}

/**
 * Outputs -> one prediction per instance (split along dim 0).
 *
 * @example
 * outputsToPredictions({ y: float32 [2, 3] }, 2); // [[...3], [...3]]
 */
export function outputsToPredictions(outputs: TensorMap, rows: number): unknown[] {
  const names = Object.keys(outputs);
  const perOutput = names.map((name) => {
    const t = outputs[name]!;
    if (t.dims[0] !== rows) throw new HttpError(502, 'backend-error', `output "${name}" has ${t.dims[0] ?? 'no'} rows for ${rows} instances`);
    return nest(fromTensor(t), t.dims) as unknown[];
  });
  return Array.from({ length: rows }, (_, i) =>
    names.length === 1 ? perOutput[0]![i] : Object.fromEntries(names.map((n, j) => [n, perOutput[j]![i]])),
  );
}
