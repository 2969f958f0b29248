// A worker's drain: its server keeps listening and closes every new connection at once, until the connections
// it had are done; only then does it stop listening.
//
// Why not server.close() first, as one process does: with node:cluster's round-robin the primary accepts and
// hands connections to workers. When a worker's close reaches the primary while a connection is being handed to
// it, the worker sends it back, and if that worker was the last one listening the primary queues it in a handle
// it has already closed: the client is connected and never answered until the primary exits (Node 20's
// round_robin_handle.js). Listening on and closing new connections answers them at once (reset): a client
// retries elsewhere. The window stays only at the final close, when the workers are about to exit anyway.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** How often idle keep-alive connections are closed during a drain. */
const idleSweepMs = 100;

export class ListeningDrain {
  private readonly sockets = new Set<Socket>();
  private draining = false;
  private drained: (() => void) | undefined;

  constructor(private readonly server: Server) {
    server.on('connection', (socket: Socket) => {
      if (this.draining) return void socket.destroy();
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        if (this.draining && this.sockets.size === 0) this.drained?.();
      });
    });
  }

  /** Refuses new connections from now on; resolves once the open ones are done and the server stopped listening. */
  async drain(): Promise<void> {
    this.draining = true;
    this.server.closeIdleConnections();
    // A keep-alive connection whose response ends during the drain goes idle: closed then, not at its timeout
    // (a timer for the drain only, instead of a listener on every response).
    const idle = setInterval(() => this.server.closeIdleConnections(), idleSweepMs);
    try {
      if (this.sockets.size > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    } finally {
      clearInterval(idle);
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
