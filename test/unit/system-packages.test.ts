/** `npm test` on a fresh machine, with a fake machine: what it installs, and what it says when it cannot. */
import { describe, expect, it } from 'vitest';
import { ensureSystemPackages, missingPackages, type SystemCheck } from '../../scripts/lib/system-packages.ts';
import { locateChromium } from '../helpers/chromium.ts';

const FONTS = ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/liberation'];

function machine(files: string[], opts: { isRoot?: boolean; hasAptGet?: boolean; env?: NodeJS.ProcessEnv; installs?: string[]; fails?: string } = {}) {
  const present = new Set(files);
  const ran: string[] = [];
  const logs: string[] = [];
  const check: SystemCheck = {
    env: opts.env ?? {},
    exists: (p) => present.has(p),
    isRoot: opts.isRoot ?? true,
    hasAptGet: opts.hasAptGet ?? true,
    run(command, args) {
      const line = [command, ...args].join(' ');
      ran.push(line);
      if (opts.fails && line.startsWith(opts.fails)) return 100;
      if (args[0] === 'install') for (const f of opts.installs ?? []) present.add(f);
      return 0;
    },
    log: (l) => logs.push(l),
  };
  return { check, ran, logs };
}

describe('locateChromium', () => {
  it('takes CHROMIUM_PATH first, then the system Chromium, which TESSERA_HIDE_SYSTEM_CHROMIUM hides', () => {
    const exists = (p: string) => p === '/usr/bin/chromium' || p === '/opt/c/chrome';
    expect(locateChromium({}, exists)).toBe('/usr/bin/chromium');
    expect(locateChromium({ CHROMIUM_PATH: '/opt/c/chrome' }, exists)).toBe('/opt/c/chrome');
    expect(locateChromium({ TESSERA_HIDE_SYSTEM_CHROMIUM: '1' }, exists)).toBeUndefined();
    expect(locateChromium({ TESSERA_HIDE_SYSTEM_CHROMIUM: '1', CHROMIUM_PATH: '/opt/c/chrome' }, exists)).toBe('/opt/c/chrome');
  });
});

describe('ensureSystemPackages', () => {
  it('does nothing on a machine that has everything', () => {
    const { check, ran } = machine(['/usr/bin/chromium', ...FONTS]);
    expect(ensureSystemPackages(check)).toBeUndefined();
    expect(ran).toEqual([]);
  });

  it('as root with apt-get, installs exactly what is missing, in view', () => {
    const { check, ran, logs } = machine([], { installs: ['/usr/bin/chromium', ...FONTS] });
    expect(missingPackages(check)).toEqual(['chromium', 'fonts-dejavu-core', 'fonts-liberation']);
    expect(ensureSystemPackages(check)).toBeUndefined();
    expect(ran).toEqual(['apt-get update', 'apt-get install -y chromium fonts-dejavu-core fonts-liberation']);
    expect(logs[0]).toMatch(/installing chromium, fonts-dejavu-core, fonts-liberation with apt-get/);
    const onlyChromium = machine(FONTS, { installs: ['/usr/bin/chromium'] });
    expect(ensureSystemPackages(onlyChromium.check)).toBeUndefined();
    expect(onlyChromium.ran).toEqual(['apt-get update', 'apt-get install -y chromium']);
  });

  it('without root, installs nothing and gives the exact command', () => {
    const { check, ran } = machine(FONTS, { isRoot: false });
    expect(ensureSystemPackages(check)).toBe(
      "npm test needs chromium (the browser tests drive a system Chromium; the OCR tests render with these fonts). Install them as root: sudo sh -c 'apt-get update && apt-get install -y chromium', or set CHROMIUM_PATH to a Chromium executable, then run npm test again.",
    );
    expect(ran).toEqual([]);
    const noApt = machine([], { hasAptGet: false });
    expect(ensureSystemPackages(noApt.check)).toMatch(/with your system's package manager \(on Debian\/Ubuntu: apt-get update && apt-get install -y chromium fonts-dejavu-core fonts-liberation\)/);
    expect(noApt.ran).toEqual([]);
  });

  it('says what to run when apt-get fails, and when the install still leaves it missing', () => {
    expect(ensureSystemPackages(machine(FONTS, { fails: 'apt-get install' }).check)).toBe('apt-get install failed; run it yourself (apt-get update && apt-get install -y chromium) and then npm test again.');
    expect(ensureSystemPackages(machine(FONTS, { fails: 'apt-get update' }).check)).toMatch(/^apt-get update failed/);
    const hidden = machine([...FONTS], { env: { TESSERA_HIDE_SYSTEM_CHROMIUM: '1' }, installs: ['/usr/bin/chromium'] });
    expect(ensureSystemPackages(hidden.check)).toMatch(/chromium is still not found \(TESSERA_HIDE_SYSTEM_CHROMIUM=1 hides the system Chromium/);
  });
});
