/**
 * `GET /v1/sessions` with `Upgrade: websocket`: a client session's socket,
 * handed to the coordinator Durable Object, which accepts it with the
 * hibernation API. The join token is checked there, on the `join` message
 * (browsers cannot set headers on a WebSocket); a socket that fails it is
 * closed with code 4401.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { HttpError } from '../http-error.ts';
import { coordinatorOf } from '../lib/coordinator-client.ts';

/** @example app.route('/', sessionRoutes()); */
export function sessionRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/v1/sessions', async (c) => {
    if (c.req.header('Upgrade')?.toLowerCase() !== 'websocket') {
      throw new HttpError(426, 'bad-request', 'sessions connect with a WebSocket upgrade (Upgrade: websocket)', { headers: { Upgrade: 'websocket' } });
    }
    return coordinatorOf(c.env).fetch(c.req.raw);
  });
  return routes;
}
