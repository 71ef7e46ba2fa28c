/**
 * Finds the system Chromium and the flags that give headless WebGPU on
 * SwiftShader. Playwright cannot download its own browsers here, so the
 * browser is always found at run time, never fetched.
 */
import { existsSync } from 'node:fs';

/** What puts a Chromium (and the OCR tests' fonts) on a Debian machine; scripts/test.ts runs it when it can. */
export const CHROMIUM_PACKAGES = ['chromium', 'fonts-dejavu-core', 'fonts-liberation'] as const;
export const INSTALL_COMMAND = `apt-get update && apt-get install -y ${CHROMIUM_PACKAGES.join(' ')}`;

const SYSTEM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/**
 * The Chromium to drive, or undefined: `CHROMIUM_PATH`, then the system's.
 * `TESSERA_HIDE_SYSTEM_CHROMIUM=1` skips the system's, which is how a machine
 * without one is tried out on a machine that has one.
 *
 * @example
 * const path = locateChromium(); // '/usr/bin/chromium'
 */
export function locateChromium(env: NodeJS.ProcessEnv = process.env, exists: (path: string) => boolean = existsSync): string | undefined {
  const candidates = [env.CHROMIUM_PATH, ...(env.TESSERA_HIDE_SYSTEM_CHROMIUM === '1' ? [] : SYSTEM_PATHS)];
  return candidates.find((c): c is string => c !== undefined && c !== '' && exists(c));
}

/** @example launch({ executablePath: findChromium() }) */
export function findChromium(): string {
  const found = locateChromium();
  if (found) return found;
  throw new Error(`No Chromium found. Install it as root (${INSTALL_COMMAND}; \`npm test\` does it when run as root) or set CHROMIUM_PATH to its executable.`);
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
  // gc() in pages and workers: tests prove buffers are released (WeakRef + forced collection).
  '--js-flags=--expose-gc',
];
