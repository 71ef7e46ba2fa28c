/**
 * `vite build`: the PWA (src/app/index.html), the dashboard
 * (src/dashboard/index.html -> dist/dashboard.html, served at /dashboard)
 * and the embed script (src/embed/index.ts -> dist/embed.js) in one build,
 * so they share chunks (onnxruntime-web, the loader). Model files are never precached: they live
 * in IndexedDB through Tessera's cache; the service worker keeps only the
 * app shell (HTML, JS, CSS, icons and ONNX Runtime's wasm).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

const root = resolve(import.meta.dirname, 'src/app');
// Vite names an HTML entry's output by its path under `root`, and refuses one
// outside it (`../dashboard/index.html`). The dashboard's page is therefore
// entered as `<root>/dashboard.html` and loaded from src/dashboard/index.html;
// its own references (`../dashboard/main.ts`) resolve to the same files from
// either place.
const dashboardEntry = resolve(root, 'dashboard.html');
const dashboardSource = resolve(import.meta.dirname, 'src/dashboard/index.html');

export default defineConfig({
  root,
  publicDir: resolve(import.meta.dirname, 'public'),
  // Relative URLs: the embed's chunks resolve against embed.js's own URL on
  // pages of other origins.
  base: './',
  worker: {
    // ES module workers: a page of another origin starts the engine's worker
    // from a blob: bootstrap that imports it from the host
    // (src/transport/cross-origin-worker.ts), and only a module keeps the
    // host's import.meta.url, against which ONNX Runtime finds its wasm there
    // (an IIFE worker would read its blob: location instead).
    format: 'es',
    // One file per worker, as the IIFE build was: a worker that fetched its
    // lazily imported chunks (the loader, the OCR pipeline) only when first
    // used needed the network at that moment, e.g. when a follower tab takes
    // over a closed leader's work (an e2e run under load failed there with
    // "Failed to fetch dynamically imported module").
    rolldownOptions: { output: { codeSplitting: false } },
  },
  build: {
    outDir: resolve(import.meta.dirname, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: { app: resolve(root, 'index.html'), dashboard: dashboardEntry, embed: resolve(import.meta.dirname, 'src/embed/index.ts') },
      // The embed entry keeps its exports and a stable name, `embed.js`.
      preserveEntrySignatures: 'allow-extension',
      output: {
        entryFileNames: (chunk) => (chunk.name === 'embed' ? 'embed.js' : 'assets/[name]-[hash].js'),
      },
    },
  },
  plugins: [
    {
      name: 'tessera-dashboard-page',
      resolveId: (id) => (id === dashboardEntry ? dashboardEntry : undefined),
      load: (id) => (id === dashboardEntry ? readFileSync(dashboardSource, 'utf8') : undefined),
    },
    {
      // onnxruntime-web imports its wasm glue (`.mjs`) at run time from beside
      // its own module; the bundler cannot see that import, so emit the file.
      name: 'tessera-ort-glue',
      generateBundle() {
        const dist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
        // The glue then fetches the wasm by its plain name, next to itself.
        // Both builds: the JSPI one (streamed weights) where the browser has JSPI, JSEP elsewhere.
        for (const fileName of ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm', 'ort-wasm-simd-threaded.jspi.mjs', 'ort-wasm-simd-threaded.jspi.wasm']) {
          this.emitFile({ type: 'asset', fileName: `assets/${fileName}`, source: readFileSync(resolve(dist, fileName)) });
        }
      },
    },
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: false,
      manifest: {
        name: 'Tessera OCR',
        short_name: 'Tessera',
        description: 'Read the text in images on your own device, online or offline.',
        start_url: './',
        scope: './',
        display: 'standalone',
        theme_color: '#2457d6',
        background_color: '#f3f5f9',
        icons: [
          { src: 'icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{html,js,mjs,css,png,svg,webmanifest,wasm}'],
        // ONNX Runtime's wasm is ~25 MB: part of the shell, or nothing runs offline.
        maximumFileSizeToCacheInBytes: 64 * 1024 * 1024,
        // The app's bundle fetches the hashed wasm; the plain-named glue and wasm
        // serve only pages of other origins (the embed), which this worker never controls.
        // The dashboard is an operator's page, not part of the app's offline shell.
        globIgnores: ['**/ort-wasm-simd-threaded.jsep.wasm', '**/ort-wasm-simd-threaded.jsep.mjs', '**/ort-wasm-simd-threaded.jspi.wasm', '**/ort-wasm-simd-threaded.jspi.mjs', 'dashboard.html', 'assets/dashboard-*'],
        navigateFallback: 'index.html',
        // API and model routes always go to the network (models are cached by Tessera).
        navigateFallbackDenylist: [/^\/models/, /^\/v1\//, /^\/v2\//, /^\/metrics/, /^\/admin/, /^\/dashboard/],
        cleanupOutdatedCaches: true,
        // Take over the open page at once: the first visit must already be offline-capable.
        clientsClaim: true,
        skipWaiting: true,
      },
    }),
  ],
});
