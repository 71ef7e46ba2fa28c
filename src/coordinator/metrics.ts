/**
 * What the coordinator counts, as plain data: the coordinator keeps a
 * {@link MetricsRecorder}, `/metrics` renders a {@link MetricsSnapshot} with
 * renderPrometheus.
 */

/** Upper bounds (seconds) of the latency histogram buckets; +Inf is implicit. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface LatencyHistogram {
  model: string;
  /** Cumulative counts, one per LATENCY_BUCKETS_S bound (le), +Inf = count. */
  buckets: { le: number; count: number }[];
  sumSeconds: number;
  count: number;
}

export interface MetricsSnapshot {
  sessions: number;
  /** Sessions per warm model. */
  sessionsByModel: { model: string; count: number }[];
  /** Responses by model and status ('ok' or an error code). */
  requests: { model: string; status: string; count: number }[];
  queueDepth: { model: string; depth: number }[];
  inFlight: { model: string; count: number }[];
  /** Requests sent to a second session after their first one failed. */
  redispatched: number;
  latency: LatencyHistogram[];
  /**
   * The sessions' own time per batch, as they reported it: beside `latency`
   * it tells the coordinator's share (queueing, hops) from the model's.
   */
  compute: LatencyHistogram[];
  /** Text generation: submit to the first streamed chunk, per model (queueing, dispatch, prefill). */
  timeToFirstToken: LatencyHistogram[];
  /** Text generation: tokens generated, as the sessions counted them. */
  generatedTokens: { model: string; count: number }[];
}

/** Per-model histograms over LATENCY_BUCKETS_S. */
class Histograms {
  readonly #byModel = new Map<string, { bucketCounts: number[]; sum: number; count: number }>();

  observe(model: string, seconds: number): void {
    const h = this.#byModel.get(model) ?? { bucketCounts: LATENCY_BUCKETS_S.map(() => 0), sum: 0, count: 0 };
    const i = LATENCY_BUCKETS_S.findIndex((le) => seconds <= le);
    if (i >= 0) h.bucketCounts[i] = (h.bucketCounts[i] as number) + 1;
    h.sum += seconds;
    h.count += 1;
    this.#byModel.set(model, h);
  }

  snapshot(): LatencyHistogram[] {
    return [...this.#byModel].map(([model, h]) => {
      let running = 0;
      const buckets = LATENCY_BUCKETS_S.map((le, i) => ({ le, count: (running += h.bucketCounts[i] as number) }));
      return { model, buckets, sumSeconds: h.sum, count: h.count };
    });
  }
}

/**
 * Counters and histograms; mutated by the coordinator, copied out by snapshot().
 *
 * @example
 * const m = new MetricsRecorder(); m.response('ocr', 'ok', 0.012);
 */
export class MetricsRecorder {
  readonly #requests = new Map<string, Map<string, number>>();
  readonly #latency = new Histograms();
  readonly #compute = new Histograms();
  readonly #ttft = new Histograms();
  readonly #tokens = new Map<string, number>();
  redispatched = 0;

  response(model: string, status: string, seconds: number | undefined): void {
    const byStatus = this.#requests.get(model) ?? new Map<string, number>();
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    this.#requests.set(model, byStatus);
    if (seconds !== undefined) this.#latency.observe(model, seconds);
  }

  /** One batch's compute time, as its session reported it. */
  batchCompute(model: string, seconds: number): void {
    this.#compute.observe(model, seconds);
  }

  /** A generation's first chunk reached the coordinator this long after submit. */
  timeToFirstToken(model: string, seconds: number): void {
    this.#ttft.observe(model, seconds);
  }

  generatedTokens(model: string, count: number): void {
    this.#tokens.set(model, (this.#tokens.get(model) ?? 0) + count);
  }

  ttft(): LatencyHistogram[] {
    return this.#ttft.snapshot();
  }

  tokens(): MetricsSnapshot['generatedTokens'] {
    return [...this.#tokens].map(([model, count]) => ({ model, count }));
  }

  requests(): MetricsSnapshot['requests'] {
    return [...this.#requests].flatMap(([model, m]) => [...m].map(([status, count]) => ({ model, status, count })));
  }

  latency(): LatencyHistogram[] {
    return this.#latency.snapshot();
  }

  compute(): LatencyHistogram[] {
    return this.#compute.snapshot();
  }
}
