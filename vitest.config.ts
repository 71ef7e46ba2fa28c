import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { findChromium, CHROMIUM_ARGS } from './test/helpers/chromium.ts';

// Three places tests run, one `vitest run`: Node (unit), real headless Chromium
// with WebGPU (browser), and workerd (worker, added once the Worker exists).
export default defineConfig({
  test: {
    projects: [
      {
        // Pure logic, Node-only modules, in-process HTTP servers and onnxruntime-node.
        test: {
          name: 'unit',
          environment: 'node',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts', 'bench/**/*.test.ts', 'worker/lib/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        // End to end from Node: real Chromium pages (Playwright), child processes
        // (npm start, tessera serve) and real `wrangler dev`.
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        // Pre-bundle the browser deps up front: discovered mid-run, Vite
        // re-optimises and reloads the page, and a test file's iframe never
        // becomes ready (seen on a cold .vite cache).
        optimizeDeps: { include: ['onnxruntime-web', 'onnxruntime-web/jspi', 'protobufjs', 'idb-keyval', '@huggingface/transformers', '@huggingface/tokenizers', '@huggingface/jinja'] },
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          globalSetup: ['test/helpers/global-setup.ts'],
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({
              launchOptions: { executablePath: findChromium(), args: CHROMIUM_ARGS },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
      {
        // workerd with local R2 from wrangler.jsonc; storage is isolated per test file.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.jsonc' },
            // nodejs_compat only for the test runner (vitest imports node:inspector); the Worker needs none.
            miniflare: {
              compatibilityFlags: ['nodejs_compat'],
              bindings: { TESSERA_ADMIN_TOKEN: 'test-admin-token', TESSERA_MAX_UPLOAD_BYTES: '1048576', TESSERA_JOIN_TOKEN: 'test-join-token', TESSERA_API_KEYS: 'test-key-1,test-key-2', TESSERA_COORDINATOR_CONFIG: '{"queueLimit":4,"maxDelayMs":0}' },
            },
          }),
        ],
        test: {
          name: 'worker',
          include: ['test/worker/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
    ],
  },
});
