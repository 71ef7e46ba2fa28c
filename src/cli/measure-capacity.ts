/**
 * A session's declared capacity, measured rather than guessed: each served
 * model runs a small sample when the session starts, once untimed (it pays
 * ORT's one-time costs) and then three times, timed; the median counts. The coordinator takes the
 * result as the prior of its own rate estimate (src/coordinator/rate-estimator.ts),
 * which then follows measured completions; so a native session starts with
 * proportionally more work than a wasm one instead of the same guess for both.
 */
import { PNG } from 'pngjs';
import type { ModelOffer } from '../protocol/coordinator-messages.ts';
import { OCR_INPUT, ocrImageTensor } from '../protocol/ocr-tensors.ts';
import type { TensorData, TensorMap, TensorType } from '../protocol/tensor.ts';

export interface MeasuredCapacity {
  /** Requests per second of the slowest model, times the batches run at once. */
  requestsPerSecond: number;
  /** Timed warm run per model, ms. */
  perModelMs: Record<string, number>;
}

/**
 * @example
 * const { requestsPerSecond } = await measureCapacity(offers, (model, inputs) => host.run(model, inputs, signal), 1);
 */
export async function measureCapacity(
  offers: ModelOffer[],
  run: (model: string, inputs: TensorMap) => Promise<TensorMap>,
  maxInFlight: number,
  fallbackRequestsPerSecond = 10,
): Promise<MeasuredCapacity> {
  const perModelMs: Record<string, number> = {};
  for (const offer of offers) {
    const sample = sampleInputs(offer);
    if (!sample) continue;
    try {
      await run(offer.name, sample);
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await run(offer.name, sample);
        times.push(performance.now() - started);
      }
      perModelMs[offer.name] = Math.max(0.01, times.sort((a, b) => a - b)[1] as number);
    } catch {
      // A model that refuses the generic sample (a fixed shape we guessed wrong) keeps the default.
    }
  }
  const slowest = Math.max(0, ...Object.values(perModelMs));
  const requestsPerSecond = slowest > 0 ? (1000 / slowest) * maxInFlight : fallbackRequestsPerSecond;
  return { requestsPerSecond: Math.round(requestsPerSecond * 1000) / 1000, perModelMs };
}

/** One row of zeros (symbolic dims as 1), or for OCR a small image of dark bars on white. */
function sampleInputs(offer: ModelOffer): TensorMap | undefined {
  if (offer.pipeline === 'ocr') return { [OCR_INPUT]: ocrImageTensor(barsPng()) };
  if (!offer.inputs) return undefined;
  const out: TensorMap = {};
  for (const spec of offer.inputs) {
    const dims = spec.shape.map((d) => (d > 0 ? d : 1));
    out[spec.name] = zeros(spec.type, dims);
  }
  return out;
}

function zeros(type: TensorType, dims: number[]): TensorData {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = type === 'float32' ? new Float32Array(n)
    : type === 'int64' ? new BigInt64Array(n)
      : type === 'int32' ? new Int32Array(n)
        : type === 'uint8' || type === 'bool' ? new Uint8Array(n)
          : type === 'float64' ? new Float64Array(n)
            : new Uint8Array(n * 4);
  return { type, dims, data } as TensorData;
}

/** A 320x64 PNG with two rows of word-like dark bars: enough for the detector to find boxes and the recogniser to run. */
function barsPng(): Uint8Array {
  const png = new PNG({ width: 320, height: 64 });
  png.data.fill(255);
  for (let row = 0; row < 2; row++) {
    for (let word = 0; word < 5; word++) {
      const x0 = 12 + word * 60;
      for (let y = 10 + row * 28; y < 24 + row * 28; y++) {
        for (let x = x0; x < x0 + 44; x++) {
          // Vertical strokes, like glyphs, rather than one solid block.
          if ((x - x0) % 6 < 3) png.data.fill(0, (y * 320 + x) * 4, (y * 320 + x) * 4 + 3);
        }
      }
    }
  }
  return new Uint8Array(PNG.sync.write(png));
}
