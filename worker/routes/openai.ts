/**
 * OpenAI-compatible embeddings:
 *   POST /v1/embeddings { input: string | string[], model, encoding_format?: 'float' | 'base64' }
 *   -> { object: 'list', data: [{ object: 'embedding', index, embedding }], model, usage }
 *
 * Strings travel to a session as fixed-width UTF-8 rows (src/protocol/text-tensors.ts),
 * so the coordinator batches them across requests like any tensor; the session
 * tokenizes and runs the transformers.js pipeline on the batch. Errors keep
 * the Worker's shape, `{ error: { code, message } }`, which is also where the
 * OpenAI clients look for them.
 */
import { Hono } from 'hono';
import type { TensorMap } from '../../src/protocol/tensor.ts';
import { EMBEDDINGS_OUTPUT, TEXT_INPUT, TEXT_ROW_BYTES, TOKENS_OUTPUT, encodeTextRows, utf8Length } from '../../src/protocol/text-tensors.ts';
import { apiKeyAuth } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { badRequest, HttpError } from '../http-error.ts';
import { clientLinkOf, inferOrThrow, type ModelDirectory } from '../lib/coordinator-client.ts';
import { readJsonBody } from '../lib/read-json-body.ts';
import type { SaturationHints } from '../lib/saturation-hint.ts';

/** Inputs per request, as OpenAI allows. */
export const MAX_EMBEDDING_INPUTS = 2048;

const bad = (message: string, param: string): never => badRequest(message, { param });

/** @example app.route('/', openaiRoutes(directory, saturation)); */
export function openaiRoutes(directory: ModelDirectory, saturation: SaturationHints): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use('/v1/embeddings', apiKeyAuth());
  routes.post('/v1/embeddings', async (c) => {
    const request = parseEmbeddingsRequest(await readJsonBody(c.req.raw));
    // The model is named in the body, so this is as early as the hint can refuse: before the pool is asked.
    saturation.check(request.model);
    const model = await directory.get(c.env, request.model);
    if (!(model.inputs ?? []).some((s) => s.name === TEXT_INPUT && s.type === 'uint8')) {
      throw new HttpError(400, 'bad-request', `model "${model.name}" does not take text (no uint8 "${TEXT_INPUT}" input); serve a feature-extraction pipeline under that name`, { details: { param: 'model' } });
    }
    const inputs: TensorMap = { [TEXT_INPUT]: encodeTextRows(request.input) };
    const outputs = await inferOrThrow(c.env, model.name, inputs, { saturation, client: clientLinkOf(c) });
    const emb = outputs[EMBEDDINGS_OUTPUT];
    if (!emb || emb.type !== 'float32' || emb.dims.length !== 2 || emb.dims[0] !== request.input.length) {
      throw new HttpError(502, 'backend-error', `the session answered without a float32 [${request.input.length}, d] "${EMBEDDINGS_OUTPUT}" output`);
    }
    const d = emb.dims[1] as number;
    const data = emb.data as Float32Array;
    const tokens = outputs[TOKENS_OUTPUT]?.data as Int32Array | undefined;
    const promptTokens = tokens ? tokens.reduce((s, n) => s + n, 0) : 0;
    return c.json({
      object: 'list',
      data: request.input.map((_, i) => {
        const row = data.slice(i * d, (i + 1) * d);
        return { object: 'embedding', index: i, embedding: request.encodingFormat === 'base64' ? base64Of(row) : Array.from(row) };
      }),
      model: model.name,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    });
  });
  return routes;
}

export interface EmbeddingsRequest {
  input: string[];
  model: string;
  encodingFormat: 'float' | 'base64';
}

/**
 * Validates an embeddings body (snake_case in, camelCase out).
 *
 * @example
 * parseEmbeddingsRequest({ input: 'hi', model: 'bert' }); // { input: ['hi'], model: 'bert', encodingFormat: 'float' }
 */
export function parseEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) bad('body must be a JSON object like {"model": "...", "input": "text"}', 'body');
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model === '') bad('"model" must be the name of a served model (GET /v1/models lists them)', 'model');
  let input: string[];
  if (typeof b.input === 'string') input = [b.input];
  else if (Array.isArray(b.input) && b.input.every((x) => typeof x === 'string')) input = b.input as string[];
  else return bad('"input" must be a string or an array of strings (token arrays are not supported)', 'input');
  if (input.length === 0) bad('"input" is an empty array; send at least one string', 'input');
  if (input.length > MAX_EMBEDDING_INPUTS) bad(`"input" has ${input.length} strings; at most ${MAX_EMBEDDING_INPUTS} per request`, 'input');
  input.forEach((s, i) => {
    if (s.length === 0) bad(`input[${i}] is empty; every input must have text`, 'input');
    const n = utf8Length(s);
    if (n > TEXT_ROW_BYTES) bad(`input[${i}] is ${n} UTF-8 bytes; at most ${TEXT_ROW_BYTES} (split long documents)`, 'input');
  });
  const format = b.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') bad(`"encoding_format" must be "float" or "base64", got ${JSON.stringify(format)}`, 'encoding_format');
  return { input, model: b.model as string, encodingFormat: format as 'float' | 'base64' };
}

/** Little-endian float32 bytes in base64, as OpenAI sends them. */
function base64Of(row: Float32Array): string {
  const bytes = new Uint8Array(row.buffer, row.byteOffset, row.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
