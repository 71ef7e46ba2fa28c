/**
 * OpenAI chat/completions and completions bodies -> a GenerateRequest
 * (snake_case in, camelCase out), with every check the Worker can make before
 * any session sees the request: the body's own shape here, and the model's
 * limits (context length, max new tokens) in {@link checkAgainstModel}.
 */
import type { ChatMessage, GenerateRequest } from '../../src/protocol/generation.ts';
import type { ModelDescription } from '../coordinator-do.ts';
import { badRequest } from '../http-error.ts';

/**
 * The documented ceiling on `max_tokens` for any model; a model's offer may
 * set a lower one (`maxNewTokens`), and its context length caps it too.
 */
export const MAX_TOKENS_LIMIT = 4096;
/** OpenAI allows up to 4 stop sequences. */
export const MAX_STOP_SEQUENCES = 4;

export interface CompletionRequest {
  model: string;
  stream: boolean;
  /** `stream_options.include_usage`: a last chunk with usage before `[DONE]`. */
  includeUsage: boolean;
  request: GenerateRequest;
}

const bad = (message: string, param: string): never => badRequest(message, { param });
const ROLES = ['system', 'user', 'assistant'] as const;

function body(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('body must be a JSON object like {"model": "...", "messages": [...]}', 'body');
  return value as Record<string, unknown>;
}

/**
 * @example
 * parseChatRequest({ model: 'llama', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 16 });
 * // { model: 'llama', stream: false, includeUsage: false, request: { messages: [...], maxNewTokens: 16 } }
 */
export function parseChatRequest(value: unknown): CompletionRequest {
  const b = body(value);
  const m = b.messages;
  if (m === undefined) bad('"messages" is missing; send an array like [{"role": "user", "content": "Hello"}]', 'messages');
  if (!Array.isArray(m) || m.length === 0) bad('"messages" must be a non-empty array of { role, content }', 'messages');
  const messages: ChatMessage[] = (m as unknown[]).map((x, i) => {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) bad(`messages[${i}] must be an object { role, content }`, 'messages');
    const o = x as Record<string, unknown>;
    if (!ROLES.includes(o.role as ChatMessage['role'])) bad(`messages[${i}]: unknown role ${JSON.stringify(o.role)}; expected system, user or assistant`, 'messages');
    return { role: o.role as ChatMessage['role'], content: contentOf(o.content, i) };
  });
  return common(b, { messages });
}

/** A message's content: a string, or OpenAI's array of text parts (other part types are not supported). */
function contentOf(content: unknown, i: number): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content) && content.every((p) => typeof p === 'object' && p !== null && (p as { type?: unknown }).type === 'text' && typeof (p as { text?: unknown }).text === 'string')) {
    return content.map((p) => (p as { text: string }).text).join('');
  }
  return bad(`messages[${i}].content must be a string (or an array of {"type": "text", "text": ...} parts)`, 'messages');
}

/**
 * @example
 * parseCompletionRequest({ model: 'llama', prompt: 'Once upon', stop: '.' });
 */
export function parseCompletionRequest(value: unknown): CompletionRequest {
  const b = body(value);
  let prompt = b.prompt;
  if (Array.isArray(prompt) && prompt.length === 1) prompt = prompt[0];
  if (typeof prompt !== 'string') bad('"prompt" must be a string (one prompt per request; token arrays are not supported)', 'prompt');
  if (prompt === '') bad('"prompt" is empty; send some text to complete', 'prompt');
  return common(b, { prompt: prompt as string });
}

function common(b: Record<string, unknown>, input: { prompt: string } | { messages: ChatMessage[] }): CompletionRequest {
  if (typeof b.model !== 'string' || b.model === '') bad('"model" must be the name of a served text-generation model (GET /v1/models lists them)', 'model');
  if (b.n !== undefined && b.n !== null && b.n !== 1) bad(`"n" must be 1 (one choice per request), got ${JSON.stringify(b.n)}`, 'n');
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') bad('"stream" must be a boolean', 'stream');
  const request: GenerateRequest = { ...input };
  const maxTokens = b.max_completion_tokens ?? b.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null) {
    if (!Number.isSafeInteger(maxTokens) || (maxTokens as number) < 1) bad('"max_tokens" must be an integer >= 1', 'max_tokens');
    if ((maxTokens as number) > MAX_TOKENS_LIMIT) bad(`"max_tokens" is ${String(maxTokens)}; at most ${MAX_TOKENS_LIMIT}`, 'max_tokens');
    request.maxNewTokens = maxTokens as number;
  }
  const num = (key: string, ok: (n: number) => boolean, what: string): number | undefined => {
    const v = b[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) bad(`"${key}" must be ${what}`, key);
    return v as number;
  };
  const temperature = num('temperature', (n) => n >= 0 && n <= 2, 'a number from 0 to 2');
  const topP = num('top_p', (n) => n > 0 && n <= 1, 'a number in (0, 1]');
  const seed = num('seed', (n) => Number.isSafeInteger(n), 'an integer');
  if (temperature !== undefined) request.temperature = temperature;
  if (topP !== undefined) request.topP = topP;
  if (seed !== undefined) request.seed = seed;
  const stop = b.stop;
  if (stop !== undefined && stop !== null) {
    const list = typeof stop === 'string' ? [stop] : stop;
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && s.length > 0)) bad('"stop" must be a non-empty string or an array of them', 'stop');
    if ((list as string[]).length > MAX_STOP_SEQUENCES) bad(`"stop" has ${(list as string[]).length} sequences; at most ${MAX_STOP_SEQUENCES}`, 'stop');
    if ((list as string[]).length > 0) request.stop = [...(list as string[])];
  }
  const options = b.stream_options;
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) bad('"stream_options" must be an object', 'stream_options');
  const includeUsage = (options as { include_usage?: unknown } | null | undefined)?.include_usage === true;
  return { model: b.model as string, stream: b.stream === true, includeUsage, request };
}

const utf8 = new TextEncoder();

/**
 * The checks that need the model's offer: it generates text, `max_tokens`
 * fits its limits, and the prompt is not provably longer than its context.
 * Without a tokenizer the Worker proves length only from below: a token
 * covers at most `maxTokenBytes` UTF-8 bytes, so a prompt of B bytes has at
 * least B / maxTokenBytes tokens. Prompts that pass that bound but still do
 * not fit (after the chat template) are refused by the session, which counts
 * with the real tokenizer before generating anything, and come back as 400
 * `invalid-argument`.
 *
 * @example
 * checkAgainstModel(parsed, await directory.get(env, parsed.model));
 */
export function checkAgainstModel(parsed: CompletionRequest, model: ModelDescription): void {
  if (model.task !== 'text-generation' || model.contextLength === undefined) {
    bad(`model "${model.name}" does not generate text; GET /v1/models lists the text-generation models`, 'model');
  }
  const context = model.contextLength as number;
  const limit = Math.min(MAX_TOKENS_LIMIT, model.maxNewTokens ?? Infinity, context);
  const max = parsed.request.maxNewTokens;
  if (max !== undefined && max > limit) bad(`"max_tokens" is ${max}; model "${model.name}" allows at most ${limit}`, 'max_tokens');
  if (model.maxTokenBytes !== undefined) {
    const text = 'prompt' in parsed.request ? parsed.request.prompt : parsed.request.messages.map((m) => m.content).join('');
    const atLeast = Math.ceil(utf8.encode(text).length / model.maxTokenBytes);
    if (atLeast >= context) {
      badRequest(`the prompt has at least ${atLeast} tokens; model "${model.name}" has a context of ${context} tokens (prompt plus output)`, {
        param: 'prompt' in parsed.request ? 'prompt' : 'messages', contextLength: context, promptTokensAtLeast: atLeast,
      });
    }
  }
}
