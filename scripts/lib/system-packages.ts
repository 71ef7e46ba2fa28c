/**
 * What `npm test` needs from the machine besides node_modules: a Chromium for
 * the browser and end-to-end tests and two font packages for the OCR accuracy
 * tests. On a fresh Debian machine `npm test` installs them itself when it
 * can (root and apt-get, as .ci/run relies on, with apt's progress on the
 * terminal); otherwise it stops before any test with the exact command.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CHROMIUM_PACKAGES, INSTALL_COMMAND, locateChromium } from '../../test/helpers/chromium.ts';

export interface SystemCheck {
  env: NodeJS.ProcessEnv;
  exists(path: string): boolean;
  isRoot: boolean;
  hasAptGet: boolean;
  /** Runs a command with its output on the terminal; resolves with its exit status. */
  run(command: string, args: string[]): number;
  log(line: string): void;
}

/** The packages of CHROMIUM_PACKAGES this machine lacks. */
export function missingPackages(check: Pick<SystemCheck, 'env' | 'exists'>): string[] {
  const present: Record<(typeof CHROMIUM_PACKAGES)[number], boolean> = {
    chromium: locateChromium(check.env, check.exists) !== undefined,
    'fonts-dejavu-core': check.exists('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf'),
    'fonts-liberation': check.exists('/usr/share/fonts/truetype/liberation'),
  };
  return CHROMIUM_PACKAGES.filter((p) => !present[p]);
}

/**
 * Installs what is missing when it can; returns undefined when everything is
 * there, else the message that says what to run.
 *
 * @example
 * const problem = ensureSystemPackages(systemCheck());
 * if (problem) { console.error(problem); process.exit(1); }
 */
export function ensureSystemPackages(check: SystemCheck): string | undefined {
  const missing = missingPackages(check);
  if (missing.length === 0) return undefined;
  const command = `apt-get update && apt-get install -y ${missing.join(' ')}`;
  if (!check.isRoot || !check.hasAptGet) {
    const how = check.hasAptGet ? `as root: sudo sh -c '${command}'` : `with your system's package manager (on Debian/Ubuntu: ${INSTALL_COMMAND})`;
    return `npm test needs ${missing.join(', ')} (the browser tests drive a system Chromium; the OCR tests render with these fonts). Install them ${how}, or set CHROMIUM_PATH to a Chromium executable, then run npm test again.`;
  }
  check.log(`npm test: installing ${missing.join(', ')} with apt-get (needed once on this machine)...`);
  if (check.run('apt-get', ['update']) !== 0) return `apt-get update failed; run it yourself (${command}) and then npm test again.`;
  if (check.run('apt-get', ['install', '-y', ...missing]) !== 0) return `apt-get install failed; run it yourself (${command}) and then npm test again.`;
  const still = missingPackages(check);
  if (still.length > 0) {
    const hidden = check.env.TESSERA_HIDE_SYSTEM_CHROMIUM === '1' && still.includes('chromium') ? ' (TESSERA_HIDE_SYSTEM_CHROMIUM=1 hides the system Chromium from the lookup)' : '';
    return `apt-get installed ${missing.join(', ')}, but ${still.join(', ')} is still not found${hidden}; set CHROMIUM_PATH to a Chromium executable.`;
  }
  check.log(`npm test: installed ${missing.join(', ')}.`);
  return undefined;
}

/** The real machine. */
export function systemCheck(): SystemCheck {
  return {
    env: process.env,
    exists: existsSync,
    isRoot: process.getuid?.() === 0,
    hasAptGet: spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0,
    run: (command, args) => spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status ?? 1,
    log: (line) => console.log(line),
  };
}
