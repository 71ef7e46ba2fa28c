import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { imageSize } from './image-size.ts';

const rgba = (w: number, h: number) => ({ width: w, height: h, data: Buffer.alloc(w * h * 4, 128) });

describe('imageSize', () => {
  it('reads PNG and JPEG sizes from real encoders output', () => {
    const png = PNG.sync.write(Object.assign(new PNG({ width: 37, height: 11 }), { data: rgba(37, 11).data }));
    expect(imageSize(new Uint8Array(png))).toEqual({ width: 37, height: 11 });
    const jpg = jpeg.encode(rgba(1921, 17), 80).data;
    expect(imageSize(new Uint8Array(jpg))).toEqual({ width: 1921, height: 17 });
  });

  it('says undefined for other bytes or a header cut short', () => {
    expect(imageSize(new Uint8Array([1, 2, 3, 4, 5]))).toBeUndefined();
    const jpg = new Uint8Array(jpeg.encode(rgba(8, 8), 80).data);
    expect(imageSize(jpg.subarray(0, 6))).toBeUndefined();
  });
});
