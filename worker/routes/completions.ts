/**
 * OpenAI-compatible text generation, served by client sessions through the
 * coordinator:
 *   POST /v1/chat/completions { model, messages, stream?, max_tokens?, temperature?, top_p?, seed?, stop?, n: 1 }
 *   POST /v1/completions      { model, prompt, ... the same options }
 *
 * `stream: true` answers with server-sent events as the session produces
 * tokens (`data: {chunk}` with a delta, `finish_reason` on the last, a usage
 * chunk with `stream_options.include_usage`, then `data: [DONE]`). The HTTP
 * status is chosen when the first token is in: a request that fails before
 * it (full queue, no session, a prompt the session refused) gets a normal
 * JSON error with its status (429 + Retry-After, 503, 400), and a failure
 * after it is an `event: error` with `{ error: { code, message } }` (which
 * the openai clients raise), never a silent end. A client that disconnects
 * cancels the generation on its session.
 */
import { Hono, type Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { FinishReason, GenerateResult } from '../../src/protocol/generation.ts';
import { apiKeyAuth } from '../auth.ts';
import type { GenerationStreamEvent, GenerationTiming, ModelDescription } from '../coordinator-do.ts';
import type { AppEnv } from '../env.ts';
import { HttpError } from '../http-error.ts';
import { cancelOnDisconnect, clientLinkOf, TRACE_HEADER, type ModelDirectory } from '../lib/coordinator-client.ts';
import { firstEventOrThrow, generationHttpError, openGeneration, type GenerationStream } from '../lib/generation-stream.ts';
import { checkAgainstModel, parseChatRequest, parseCompletionRequest, type CompletionRequest } from '../lib/parse-completion-request.ts';
import { readJsonBody } from '../lib/read-json-body.ts';
import type { SaturationHints } from '../lib/saturation-hint.ts';

type Kind = 'chat' | 'text';

/** @example app.route('/', completionRoutes(directory, saturation)); */
export function completionRoutes(directory: ModelDirectory, saturation: SaturationHints): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use('/v1/chat/completions', apiKeyAuth());
  routes.use('/v1/completions', apiKeyAuth());
  const handle = (kind: Kind) => async (c: Context<AppEnv>) => {
    const startedAt = Date.now();
    const body = await readJsonBody(c.req.raw);
    const parsed = kind === 'chat' ? parseChatRequest(body) : parseCompletionRequest(body);
    // The model is named in the body, so this is as early as the hint can refuse: before the pool is asked.
    saturation.check(parsed.model);
    const model = await modelOrBadRequest(directory, c, parsed.model);
    checkAgainstModel(parsed, model);
    const traced = c.req.header(TRACE_HEADER) === '1';
    const events = await openGeneration(c.env, model.name, parsed.request, traced);
    // A client that leaves at any point, even before the first token (when no
    // response stream exists yet to be cancelled), cancels the generation.
    const release = cancelOnDisconnect(c.env, model.name, events.id, clientLinkOf(c));
    let streaming = false;
    try {
      // Wait for the first event: it decides the status (and the pool's saturation hint), and a traced request's Server-Timing.
      const first = await firstEventOrThrow(events, model.name, saturation);
      if (first.timing) c.header('Server-Timing', generationTiming(startedAt, first.timing));
      const meta = { id: `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${events.id}`, created: Math.floor(startedAt / 1000), model: model.name };
      if (!parsed.stream) return await collected(c, kind, meta, events, first);
      streaming = true;
      return streamed(c, kind, parsed, meta, events, first, release);
    } finally {
      if (!streaming) release();
    }
  };
  routes.post('/v1/chat/completions', handle('chat'));
  routes.post('/v1/completions', handle('text'));
  return routes;
}

/** An unknown model is the caller's mistake here: 400 with `param: model`, as the API contract asks (not the 404 of the model routes). */
async function modelOrBadRequest(directory: ModelDirectory, c: Context<AppEnv>, name: string): Promise<ModelDescription> {
  try {
    return await directory.get(c.env, name);
  } catch (err) {
    if (err instanceof HttpError && err.status === 404) throw new HttpError(400, 'bad-request', err.message, { details: { param: 'model' } });
    throw err;
  }
}

interface Meta {
  id: string;
  created: number;
  model: string;
}

/** `Server-Timing` for a traced generation: coordinator-side TTFT beside the session's own. */
function generationTiming(startedAt: number, t: GenerationTiming, now = Date.now()): string {
  const parts = [`worker;dur=${now - startedAt}`, `queue;dur=${t.queueMs}`, `ttft;dur=${t.ttftMs}`];
  if (t.sessionTtftMs !== undefined) parts.push(`session-ttft;dur=${t.sessionTtftMs}`);
  return parts.join(', ');
}

// OpenAI has no "abort": a generation stopped on purpose ended like a stop.
const finishOf = (r: FinishReason): 'stop' | 'length' => (r === 'length' ? 'length' : 'stop');
const usageOf = (r: GenerateResult) => ({ prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens });

async function collected(c: Context<AppEnv>, kind: Kind, meta: Meta, events: GenerationStream, first: GenerationStreamEvent): Promise<Response> {
  let text = '';
  for (let e: GenerationStreamEvent | undefined = first; e; e = await events.next()) {
    if (e.type === 'chunk') text += e.chunk.text;
    else if (e.type === 'error') throw generationHttpError(e.error);
    else {
      // The result's text is authoritative (stop strings removed); the chunks are what streamed.
      const finish = finishOf(e.result.finishReason);
      const choice = kind === 'chat'
        ? { index: 0, message: { role: 'assistant', content: e.result.text }, logprobs: null, finish_reason: finish }
        : { index: 0, text: e.result.text, logprobs: null, finish_reason: finish };
      return c.json({ id: meta.id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created: meta.created, model: meta.model, choices: [choice], usage: usageOf(e.result) });
    }
  }
  throw new HttpError(502, 'unavailable', `the generation ended without a result after ${text.length} characters`);
}

function streamed(c: Context<AppEnv>, kind: Kind, parsed: CompletionRequest, meta: Meta, events: GenerationStream, first: GenerationStreamEvent, release: () => void): Response {
  return streamSSE(c, async (sse) => {
    sse.onAbort(() => void events.cancel());
    try {
      await writeEvents(sse, kind, parsed, meta, events, first);
    } finally {
      release();
    }
  });
}

/** The SSE events of one generation, written as its events arrive. */
async function writeEvents(sse: SSEStreamingApi, kind: Kind, parsed: CompletionRequest, meta: Meta, events: GenerationStream, first: GenerationStreamEvent): Promise<void> {
  const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const usageField = parsed.includeUsage ? { usage: null } : {};
  const chunk = (choice: Record<string, unknown>) => JSON.stringify({ id: meta.id, object, created: meta.created, model: meta.model, choices: [choice], ...usageField });
  let role = kind === 'chat';
  for (let e: GenerationStreamEvent | undefined = first; e; e = await events.next()) {
    if (sse.aborted) return;
    if (e.type === 'chunk') {
      if (e.chunk.text === '') continue;
      const delta = role ? { role: 'assistant', content: e.chunk.text } : { content: e.chunk.text };
      role = false;
      await sse.writeSSE({ data: chunk(kind === 'chat' ? { index: 0, delta, logprobs: null, finish_reason: null } : { index: 0, text: e.chunk.text, logprobs: null, finish_reason: null }) });
    } else if (e.type === 'done') {
      const finish = finishOf(e.result.finishReason);
      const delta = role ? { role: 'assistant', content: '' } : {};
      await sse.writeSSE({ data: chunk(kind === 'chat' ? { index: 0, delta, logprobs: null, finish_reason: finish } : { index: 0, text: '', logprobs: null, finish_reason: finish }) });
      if (parsed.includeUsage) {
        await sse.writeSSE({ data: JSON.stringify({ id: meta.id, object, created: meta.created, model: meta.model, choices: [], usage: usageOf(e.result) }) });
      }
      await sse.writeSSE({ data: '[DONE]' });
      return;
    } else {
      // Truncated: the client must see an error, never a [DONE].
      await sse.writeSSE({ event: 'error', data: JSON.stringify({ error: { code: e.error.code, message: e.error.message } }) });
      return;
    }
  }
}
