import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { apiKeyAuth, apiKeysOf } from '../auth.ts';
import type { AppEnv, Env } from '../env.ts';
import { HttpError } from '../http-error.ts';
import { dashboardAuth, dashboardTokenMatches } from '../middleware/dashboard-auth.ts';
import { parseApiKeys } from './api-keys.ts';

describe('parseApiKeys', () => {
  it('reads bare keys as inference keys (as before scopes existed) and scope words after a space', () => {
    const { keys, problems } = parseApiKeys([' k1 , k2 dashboard,k3 inference  dashboard,, ', 'k4']);
    expect(keys.map((k) => [k.key, [...k.scopes].sort()])).toEqual([
      ['k1', ['inference']],
      ['k2', ['dashboard']],
      ['k3', ['dashboard', 'inference']],
      ['k4', ['inference']],
    ]);
    expect(problems).toEqual([]);
  });

  it('ignores an entry with an unknown scope (fail closed) and names it by position, never by its key', () => {
    const { keys, problems } = parseApiKeys(['good, secret-key admin']);
    expect(keys.map((k) => k.key)).toEqual(['good']);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('entry 2');
    expect(problems[0]).toContain('"admin"');
    expect(problems[0]).not.toContain('secret-key');
  });
});

describe('apiKeysOf', () => {
  it('gives each scope its keys; a dashboard-only key is no inference key', () => {
    const env = { TESSERA_API_KEYS: 'a, b dashboard, c inference dashboard' } as Env;
    expect(apiKeysOf(env)).toEqual(['a', 'c']);
    expect(apiKeysOf(env, 'dashboard')).toEqual(['b', 'c']);
  });

  it('with no key configured, the generated key is an inference key only', () => {
    expect(apiKeysOf({} as Env)).toHaveLength(1);
    expect(apiKeysOf({} as Env, 'dashboard')).toEqual([]);
  });
});

function app(env: Partial<Env>) {
  const routes = new Hono<AppEnv>();
  routes.use('/dashboard/*', dashboardAuth());
  routes.get('/dashboard/events', (c) => c.text('feed'));
  routes.use('/v1/*', apiKeyAuth());
  routes.get('/v1/models', (c) => c.text('models'));
  routes.onError((error) => (error instanceof HttpError ? error.getResponse() : new Response('bug', { status: 500 })));
  return (path: string, token?: string) => routes.request(path, token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } }, env);
}

describe('dashboard auth', () => {
  const env = { TESSERA_ADMIN_TOKEN: 'admin-secret', TESSERA_API_KEYS: 'infer-key, ops-key dashboard' };

  it('opens to the admin token and to a dashboard-scoped key, and to nothing else, with one 401 body for every failure', async () => {
    const request = app(env);
    expect(await (await request('/dashboard/events', 'admin-secret')).text()).toBe('feed');
    expect(await (await request('/dashboard/events', 'ops-key')).text()).toBe('feed');
    const failures = await Promise.all([undefined, '', 'infer-key', 'admin-secre', 'admin-secret2', 'ops-key dashboard', 'x'.repeat(5000)].map((t) => request('/dashboard/events', t)));
    const bodies = await Promise.all(failures.map(async (res) => [res.status, res.headers.get('WWW-Authenticate'), await res.text()]));
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect(bodies[0]![0]).toBe(401);
    expect(String(bodies[0]![2])).not.toMatch(/admin-secret|ops-key|infer-key/);
  });

  it('a dashboard key does not open the inference routes; inference keys work as before', async () => {
    const request = app(env);
    expect((await request('/v1/models', 'ops-key')).status).toBe(401);
    expect((await request('/v1/models', 'admin-secret')).status).toBe(401);
    expect(await (await request('/v1/models', 'infer-key')).text()).toBe('models');
  });

  it('an unset or empty admin token never matches an empty bearer', async () => {
    expect(await dashboardTokenMatches({ TESSERA_ADMIN_TOKEN: '' }, '')).toBe(false);
    expect(await dashboardTokenMatches({}, '')).toBe(false);
    expect((await app({})('/dashboard/events', '')).status).toBe(401);
  });
});
