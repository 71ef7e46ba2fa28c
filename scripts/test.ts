/**
 * `npm test`: the typecheck of every file (source, tests, benchmarks: vitest
 * strips types without checking them, so a test's type error would otherwise
 * pass), then every suite (unit in Node, browser in headless Chromium with
 * WebGPU, worker in workerd) in one `vitest run`, then one plain closing line
 * `N passed, N failed` that CI reads; the typecheck counts as one test. Extra
 * arguments go to vitest, and then the typecheck is skipped. On a machine
 * without Chromium it first installs it (scripts/lib/system-packages.ts).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureSystemPackages, systemCheck } from './lib/system-packages.ts';

// A fresh machine has no Chromium: install it (root + apt-get) or say how, before vitest's config looks for it.
const problem = ensureSystemPackages(systemCheck());
if (problem) {
  console.error(problem);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const outDir = '.test-results';
const outFile = join(outDir, 'vitest.json');
mkdirSync(outDir, { recursive: true });
rmSync(outFile, { force: true });

async function exitCode(command: string, commandArgs: string[]): Promise<number> {
  const child = spawn(command, commandArgs, { stdio: 'inherit' });
  return new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
}

const typecheck = process.argv.length > 2 ? undefined : (await exitCode('npm', ['run', '--silent', 'typecheck'])) === 0;
if (typecheck === false) console.error('typecheck failed (npm run typecheck): the errors are above');

const args = [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${outFile}`,
  ...process.argv.slice(2),
];
const code = await exitCode('npx', args);

interface JsonReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  success: boolean;
}

let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const report = JSON.parse(readFileSync(outFile, 'utf8')) as JsonReport;
  passed = report.numPassedTests;
  failed = report.numFailedTests;
  skipped = report.numPendingTests + report.numTodoTests;
} catch {
  // Vitest died before writing its report (a suite that failed to load, a crash):
  // count that as a failure so CI never reads a green line from a broken run.
  failed = Math.max(1, failed);
}
if (code !== 0 && failed === 0) failed = 1;
if (typecheck === true) passed += 1;
if (typecheck === false) failed += 1;
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
