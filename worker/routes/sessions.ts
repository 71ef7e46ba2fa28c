/**
 * `GET /v1/sessions?model=<name>` with `Upgrade: websocket`: a client
 * session's socket to one model's pool, handed to that pool's Durable Object
 * (worker/coordinator-do.ts), which accepts it with the hibernation API. A
 * session serving several models opens one socket per model (the session
 * client does it: src/transport/session-client.ts). The join token is checked
 * there, on the `join` message of every socket (browsers cannot set headers
 * on a WebSocket); a socket that fails it is closed with code 4401.
 *
 * The pool learns its model from the `X-Tessera-Pool` header set here (a
 * client cannot set it: the Worker overwrites it).
 */
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { HttpError } from '../http-error.ts';
import { POOL_HEADER, poolOf } from '../lib/coordinator-client.ts';

/** @example app.route('/', sessionRoutes()); */
export function sessionRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/v1/sessions', async (c) => {
    if (c.req.header('Upgrade')?.toLowerCase() !== 'websocket') {
      throw new HttpError(426, 'bad-request', 'sessions connect with a WebSocket upgrade (Upgrade: websocket)', { headers: { Upgrade: 'websocket' } });
    }
    const model = c.req.query('model');
    if (model === undefined || model === '') {
      throw new HttpError(400, 'bad-request', 'name the model this socket serves: GET /v1/sessions?model=<name> (one socket per model; the session client opens them)');
    }
    // Any name a session may offer (OpenAI-style names have slashes), bounded so the pool's name stays small.
    if (model.length > 200) throw new HttpError(400, 'bad-request', `model name is ${model.length} characters; at most 200`);
    const forwarded = new Request(c.req.raw);
    forwarded.headers.set(POOL_HEADER, model);
    return poolOf(c.env, model).fetch(forwarded);
  });
  return routes;
}
