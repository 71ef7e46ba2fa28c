/**
 * Finds the system Chromium and the flags that give headless WebGPU on
 * SwiftShader. Playwright cannot download its own browsers here, so the
 * browser is always found at run time, never fetched.
 */
import { existsSync } from 'node:fs';

const CANDIDATES = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
];

export function findChromium(): string {
  for (const candidate of CANDIDATES) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  throw new Error(
    'No Chromium found. Install it (apt-get install -y chromium) or set CHROMIUM_PATH to its executable.',
  );
}

/**
 * WebGPU on the CPU through SwiftShader, and no background traffic (the
 * closed network here refuses it, many connections at a time).
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-dev-shm-usage',
];
