/**
 * Validators for the generation wire types (generation.ts) as they cross the
 * coordinator socket: each builds a fresh object holding only the known
 * fields, so nothing a peer adds rides along, and throws `bad-request` naming
 * the field that is wrong.
 */
import type { ChatMessage, FinishReason, GenerateChunk, GenerateRequest, GenerateResult } from './generation.ts';
import { bad, obj, type Obj } from './read-fields.ts';

function optNumber(o: Obj, key: string, where: string, ok: (n: number) => boolean, what: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) bad(`${where}: "${key}" must be ${what}`);
  return v as number;
}

const ROLES = new Set<ChatMessage['role']>(['system', 'user', 'assistant']);
const FINISH = new Set<FinishReason>(['stop', 'length', 'abort']);

/**
 * @example
 * const request = parseGenerateRequest({ prompt: 'Hi', maxNewTokens: 8 }, '"generate" message: request');
 */
export function parseGenerateRequest(value: unknown, where = 'generate request'): GenerateRequest {
  const o = obj(value, where);
  let request: GenerateRequest;
  if (o.prompt !== undefined) {
    if (typeof o.prompt !== 'string') bad(`${where}: "prompt" must be a string`);
    if (o.messages !== undefined) bad(`${where}: give "prompt" or "messages", not both`);
    request = { prompt: o.prompt as string };
  } else {
    const m = o.messages;
    if (!Array.isArray(m) || m.length === 0) bad(`${where}: needs "prompt" or a non-empty "messages" array`);
    request = {
      messages: (m as unknown[]).map((x, i) => {
        const at = `${where}: messages[${i}]`;
        const mo = obj(x, at);
        if (!ROLES.has(mo.role as ChatMessage['role'])) bad(`${at}: "role" must be system, user or assistant`);
        if (typeof mo.content !== 'string') bad(`${at}: "content" must be a string`);
        return { role: mo.role as ChatMessage['role'], content: mo.content as string };
      }),
    };
  }
  const maxNewTokens = optNumber(o, 'maxNewTokens', where, (n) => Number.isSafeInteger(n) && n >= 1, 'an integer >= 1');
  const temperature = optNumber(o, 'temperature', where, (n) => n >= 0, 'a number >= 0');
  const topK = optNumber(o, 'topK', where, (n) => Number.isSafeInteger(n) && n >= 0, 'an integer >= 0');
  const topP = optNumber(o, 'topP', where, (n) => n > 0 && n <= 1, 'a number in (0, 1]');
  const seed = optNumber(o, 'seed', where, (n) => Number.isSafeInteger(n), 'an integer');
  const repetitionPenalty = optNumber(o, 'repetitionPenalty', where, (n) => n > 0, 'a number > 0');
  if (maxNewTokens !== undefined) request.maxNewTokens = maxNewTokens;
  if (temperature !== undefined) request.temperature = temperature;
  if (topK !== undefined) request.topK = topK;
  if (topP !== undefined) request.topP = topP;
  if (seed !== undefined) request.seed = seed;
  if (repetitionPenalty !== undefined) request.repetitionPenalty = repetitionPenalty;
  if (o.stop !== undefined) {
    if (!Array.isArray(o.stop) || !o.stop.every((s) => typeof s === 'string' && s.length > 0)) bad(`${where}: "stop" must be an array of non-empty strings`);
    request.stop = [...(o.stop as string[])];
  }
  return request;
}

/**
 * @example
 * const chunk = parseGenerateChunk({ text: 'Hel', tokenIds: [9, 4] });
 */
export function parseGenerateChunk(value: unknown, where = 'generate chunk'): GenerateChunk {
  const o = obj(value, where);
  if (typeof o.text !== 'string') bad(`${where}: "text" must be a string`);
  if (!Array.isArray(o.tokenIds) || !o.tokenIds.every((t) => Number.isSafeInteger(t) && (t as number) >= 0)) bad(`${where}: "tokenIds" must be an array of integers >= 0`);
  return { text: o.text as string, tokenIds: [...(o.tokenIds as number[])] };
}

/**
 * @example
 * const result = parseGenerateResult({ text: 'Hello', finishReason: 'stop', promptTokens: 3, completionTokens: 2 });
 */
export function parseGenerateResult(value: unknown, where = 'generate result'): GenerateResult {
  const o = obj(value, where);
  if (typeof o.text !== 'string') bad(`${where}: "text" must be a string`);
  if (!FINISH.has(o.finishReason as FinishReason)) bad(`${where}: "finishReason" must be stop, length or abort`);
  const count = (key: string): number => {
    const v = o[key];
    if (!Number.isSafeInteger(v) || (v as number) < 0) bad(`${where}: "${key}" must be an integer >= 0`);
    return v as number;
  };
  const result: GenerateResult = { text: o.text as string, finishReason: o.finishReason as FinishReason, promptTokens: count('promptTokens'), completionTokens: count('completionTokens') };
  const ttft = optNumber(o, 'timeToFirstTokenMs', where, (n) => n >= 0, 'a number >= 0');
  const total = optNumber(o, 'totalMs', where, (n) => n >= 0, 'a number >= 0');
  if (ttft !== undefined) result.timeToFirstTokenMs = ttft;
  if (total !== undefined) result.totalMs = total;
  return result;
}
