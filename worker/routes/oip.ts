/**
 * Open Inference Protocol (KServe v2) REST:
 *   GET  /v2/health/live, /v2/health/ready   (no API key: load balancers probe them)
 *   GET  /v2/models/<name>, /v2/models/<name>/ready
 *   POST /v2/models/<name>/infer
 *     { id?, inputs: [{ name, shape, datatype, data }], outputs?: [{ name }] }
 *     -> { model_name, model_version, id?, outputs: [{ name, shape, datatype, data }] }
 *
 * `data` may be flat or nested (row-major either way). 64-bit integers past
 * 2^53 are accepted and returned as decimal strings. BYTES is not supported.
 */
import { Hono } from 'hono';
import type { TensorMap } from '../../src/protocol/tensor.ts';
import { apiKeyAuth } from '../auth.ts';
import type { ModelDescription } from '../coordinator-do.ts';
import type { AppEnv } from '../env.ts';
import { badRequest, HttpError } from '../http-error.ts';
import { clientLinkOf, inferOrThrow, serverTiming, TRACE_HEADER, type TraceSink, type ModelDirectory } from '../lib/coordinator-client.ts';
import { checkAgainstSpec, flattenNested, fromTensor, MAX_REQUEST_ELEMENTS, OIP_TYPES, oipDatatypeOf, toTensor } from '../lib/json-tensor.ts';
import { readJsonBody } from '../lib/read-json-body.ts';
import type { SaturationHints } from '../lib/saturation-hint.ts';

const bad = badRequest;

/** @example app.route('/', oipRoutes(directory, saturation)); */
export function oipRoutes(directory: ModelDirectory, saturation: SaturationHints): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/v2/health/live', (c) => c.json({ live: true }));
  routes.get('/v2/health/ready', async (c) => {
    const ready = (await directory.list(c.env)).length > 0;
    return c.json({ ready }, ready ? 200 : 503);
  });
  routes.get('/v2', (c) => c.json({ name: 'tessera', version: '0.1.0', extensions: [] }));

  routes.use('/v2/models/*', apiKeyAuth());
  routes.get('/v2/models/:name', async (c) => c.json(metadataOf(await directory.get(c.env, c.req.param('name')))));
  routes.get('/v2/models/:name/ready', async (c) => {
    const model = await directory.get(c.env, c.req.param('name'));
    return c.json({ name: model.name, ready: true });
  });
  routes.post('/v2/models/:name/infer', async (c) => {
    const startedAt = Date.now();
    const trace: TraceSink | undefined = c.req.header(TRACE_HEADER) ? {} : undefined;
    // Before the body is read or the pool is asked (worker/lib/saturation-hint.ts).
    saturation.check(c.req.param('name'));
    const model = await directory.get(c.env, c.req.param('name'));
    const { id, inputs, wanted } = parseInferRequest(await readJsonBody(c.req.raw), model);
    const outputs = await inferOrThrow(c.env, model.name, inputs, { saturation, trace, client: clientLinkOf(c) });
    if (trace) c.header('Server-Timing', serverTiming(startedAt, trace));
    const names = wanted ?? Object.keys(outputs);
    for (const n of names) if (!(n in outputs)) bad(`requested output "${n}" is not one of the model's outputs (${Object.keys(outputs).join(', ')})`);
    return c.json({
      model_name: model.name,
      model_version: model.revision,
      ...(id !== undefined ? { id } : {}),
      outputs: names.map((n) => {
        const t = outputs[n]!;
        return { name: n, shape: t.dims, datatype: oipDatatypeOf(t.type), data: fromTensor(t) };
      }),
    });
  });
  return routes;
}

/** Model metadata in OIP's shape. */
function metadataOf(m: ModelDescription): unknown {
  const io = (specs: ModelDescription['inputs']) => (specs ?? []).map((s) => ({ name: s.name, datatype: oipDatatypeOf(s.type), shape: s.shape }));
  return { name: m.name, versions: [m.revision], platform: 'onnx', inputs: io(m.inputs), outputs: io(m.outputs) };
}

/**
 * Validates an OIP infer body against the model's declared inputs.
 *
 * @example
 * parseInferRequest({ inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] }, model);
 */
export function parseInferRequest(body: unknown, model: ModelDescription): { id?: string; inputs: TensorMap; wanted?: string[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) bad('body must be a JSON object with an "inputs" array');
  const b = body as Record<string, unknown>;
  if (!Array.isArray(b.inputs) || b.inputs.length === 0) bad('"inputs" must be a non-empty array of { name, shape, datatype, data }');
  const specs = model.inputs;
  const inputs: TensorMap = {};
  let total = 0;
  (b.inputs as unknown[]).forEach((raw, i) => {
    const where = `inputs[${i}]`;
    if (typeof raw !== 'object' || raw === null) bad(`${where} must be an object { name, shape, datatype, data }`);
    const t = raw as Record<string, unknown>;
    if (typeof t.name !== 'string' || t.name === '') bad(`${where}.name must be a non-empty string`);
    const name = t.name as string;
    if (name in inputs) bad(`${where}: input "${name}" given twice`);
    const spec = specs?.find((s) => s.name === name);
    if (specs && !spec) bad(`${where}: unknown input "${name}"; model "${model.name}" takes ${specs.map((s) => s.name).join(', ')}`);
    if (typeof t.datatype !== 'string' || !Object.hasOwn(OIP_TYPES, t.datatype)) {
      bad(`${where}.datatype must be one of ${Object.keys(OIP_TYPES).join(', ')}, got ${JSON.stringify(t.datatype)}`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad(`${where}.shape must be an array of non-negative integers`);
    const shape = t.shape as number[];
    const count = shape.reduce((a, d) => a * d, 1);
    total += count;
    if (total > MAX_REQUEST_ELEMENTS) {
      throw new HttpError(413, 'payload-too-large', `inputs hold more than ${MAX_REQUEST_ELEMENTS} elements; split the request`);
    }
    const where2 = `input "${name}"`;
    const { values } = flattenNested(t.data, where2);
    const tensor = toTensor(OIP_TYPES[t.datatype as string]!, shape, values, where2);
    if (spec) checkAgainstSpec(tensor, spec, where2);
    inputs[name] = tensor;
  });
  if (specs) for (const s of specs) if (!(s.name in inputs)) bad(`missing input "${s.name}" (${oipDatatypeOf(s.type)} [${s.shape.join(', ')}])`);
  let wanted: string[] | undefined;
  if (b.outputs !== undefined) {
    if (!Array.isArray(b.outputs) || !b.outputs.every((o) => typeof o === 'object' && o !== null && typeof (o as { name?: unknown }).name === 'string')) {
      bad('"outputs" must be an array of { name }');
    }
    wanted = (b.outputs as { name: string }[]).map((o) => o.name);
  }
  if (b.id !== undefined && typeof b.id !== 'string') bad('"id" must be a string');
  return { ...(typeof b.id === 'string' ? { id: b.id } : {}), inputs, ...(wanted ? { wanted } : {}) };
}
