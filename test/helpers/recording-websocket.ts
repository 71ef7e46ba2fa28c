/**
 * Node's WebSocket, keeping every socket a session client opens, so a test
 * can drop one (simulate a dead link) or inspect what it sent.
 */
import type { WebSocketConstructor } from '../../src/transport/session-client.ts';

/** @example const { Ctor, sockets } = recordingWebSocket(); connectSession({ ..., WebSocket: Ctor }); sockets[0]!.close(); */
export function recordingWebSocket(): { Ctor: WebSocketConstructor; sockets: WebSocket[] } {
  const sockets: WebSocket[] = [];
  const Ctor = function (url: string) {
    const ws = new WebSocket(url);
    sockets.push(ws);
    return ws;
  } as unknown as WebSocketConstructor;
  return { Ctor, sockets };
}
