/**
 * One decoder per origin, shared by its tabs: the leading tab loads it, and
 * a follower's generate() streams its tokens from the leader's session over
 * the BroadcastChannel as they are decoded. Cancelling in the follower stops
 * the leader's loop within one step (the result then says `abort`); a leader
 * that closes mid-stream fails that stream with `unavailable` (never a silent
 * truncation), and requests not yet answered move to the next leader.
 */
import type { TextGenerator } from '../engine/generate/text-generator.ts';
import { generationStream } from '../engine/generate/generation-stream.ts';
import type { CountInput, GenerateCallOptions, GenerationStream } from '../engine/generate/text-generator.ts';
import type { ChatMessage, GenerateChunk, GenerateRequest, GenerateResult } from '../protocol/generation.ts';
import { shareAcrossTabs, type TabRole, type TabShareOptions } from './tab-share.ts';

type TabGenerateRequest = { kind: 'generate'; request: GenerateRequest } | { kind: 'count'; input: string | ChatMessage[] };

export interface SharedGenerator {
  readonly tabId: string;
  readonly role: TabRole;
  /** Generates in the leading tab (this one or another), streaming back. */
  generate(request: GenerateRequest, options?: GenerateCallOptions): GenerationStream & { readonly servedBy: Promise<string> };
  countTokens(input: CountInput): Promise<number>;
  /** Leaves the share (a leader disposes its generator; the next tab takes over). */
  close(): void;
}

export interface ShareGeneratorOptions extends Pick<TabShareOptions<unknown, unknown>, 'onRoleChange' | 'locks' | 'BroadcastChannel' | 'tabId'> {
  /** Names the share, e.g. `tessera:gen:my-llm`. */
  name: string;
  /** Called once, when this tab becomes the leader. */
  load: () => Promise<TextGenerator>;
}

/**
 * @example
 * const llm = shareGeneratorAcrossTabs({ name: 'tessera:gen:llama', load: () => engine.loadGenerator(url) });
 * for await (const { text } of llm.generate({ prompt: 'Hi', maxNewTokens: 32 })) out.append(text);
 */
export function shareGeneratorAcrossTabs(options: ShareGeneratorOptions): SharedGenerator {
  let loaded: TextGenerator | undefined;
  const share = shareAcrossTabs<TabGenerateRequest, GenerateResult | number, GenerateChunk>({
    name: options.name,
    ...(options.onRoleChange ? { onRoleChange: options.onRoleChange } : {}),
    ...(options.locks ? { locks: options.locks } : {}),
    ...(options.BroadcastChannel ? { BroadcastChannel: options.BroadcastChannel } : {}),
    ...(options.tabId ? { tabId: options.tabId } : {}),
    async lead() {
      const generator = await options.load();
      loaded = generator;
      return async (request, signal, emit) => {
        switch (request.kind) {
          case 'generate':
            return generator.generate(request.request, { signal, onToken: emit }).result;
          case 'count':
            return generator.countTokens(request.input);
          default: {
            const unknown: never = request;
            throw new TypeError(`unknown request ${JSON.stringify(unknown)}`);
          }
        }
      };
    },
  });

  return {
    tabId: share.tabId,
    get role() {
      return share.role;
    },
    generate(request, call = {}) {
      let servedBy!: (id: string) => void;
      const served = new Promise<string>((resolve) => (servedBy = resolve));
      const stream = generationStream(async (emit, signal) => {
        const { result, servedBy: by } = await share.request({ kind: 'generate', request }, { signal, onChunk: emit, waitOnAbort: true });
        servedBy(by);
        return result as GenerateResult;
      }, call);
      return Object.assign(stream, { servedBy: served });
    },
    async countTokens(input) {
      const { result } = await share.request({ kind: 'count', input: typeof input === 'string' ? input : [...input] });
      return result as number;
    },
    close() {
      share.close();
      void loaded?.dispose();
    },
  };
}
