// Answers a request Node's parser refuses only after every request received before it on that connection.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';

/** The answers Node itself gives to parser errors (same statuses), ending the connection. */
const answers: Record<string, string> = {
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n',
  ERR_HTTP_REQUEST_TIMEOUT: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
};
const badRequest = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
/** How long a connection is kept after its error answer for the client to close it. */
const lingerMs = 2_000;

interface Connection {
  /** Responses to requests on this connection that have not finished yet. */
  pending: number;
  /** The request Node emitted last on this connection, and how to stop counting it. */
  last?: { readonly req: IncomingMessage; readonly res: ServerResponse; readonly forget: () => void } | undefined;
  /** Set once a malformed request came: written when `pending` reaches 0. */
  answer?: () => void;
}

/**
 * Node's default for a parser error writes its 400 and destroys the socket at once, even while the
 * connection still owes answers to requests pipelined before the bad one: those clients get nothing,
 * or the 400 in place of their own answer (HTTP/1.1 answers in order, RFC 9112 §9.3.2). Here the
 * connection stops reading, lets those responses finish, then writes the same error and closes.
 */
export function answerMalformedRequests(server: Server, log: Logger): void {
  const connections = new WeakMap<Socket, Connection>();
  const of = (socket: Socket): Connection => {
    let connection = connections.get(socket);
    if (!connection) {
      connection = { pending: 0 };
      connections.set(socket, connection);
    }
    return connection;
  };

  server.on('request', (req, res) => {
    const connection = of(req.socket);
    connection.pending += 1;
    let done = false;
    const finished = (): void => {
      if (done) return;
      done = true;
      connection.pending -= 1;
      // An idle keep-alive connection keeps no request or response alive.
      if (connection.last?.res === res) connection.last = undefined;
      if (connection.pending === 0) connection.answer?.();
    };
    // `on`, not `once`: `finished` runs its body once anyway, and once's wrapper is a bind per request.
    res.on('finish', finished);
    res.on('close', finished);
    connection.last = { req, res, forget: finished };
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const connection = of(socket);
    // Bytes after the bad request reach the same failed parser again: the first answer stands.
    if (connection.answer) return;
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const { last } = connection;
    // The error may lie in the body framing of the request Node emitted last (its headers were fine):
    // that request is the malformed one, and it gets the error, not an answer.
    if (last && !last.req.complete) {
      last.forget();
      if (connection.pending === 0) {
        log.info({ code: err.code, remote: socket.remoteAddress }, 'malformed request');
        if (!last.res.headersSent) socket.write(answers[err.code ?? ''] ?? badRequest);
        socket.destroy();
        return;
      }
      // Earlier answers are still owed: they go out, then the connection closes with this response
      // unsent (Node hands the socket to it next; destroyed, it closes the socket on that handover).
      last.res.destroy();
    }
    log.info({ code: err.code, remote: socket.remoteAddress, answeredFirst: connection.pending }, 'malformed request');
    connection.answer = () => {
      if (!socket.writable) return void socket.destroy();
      socket.end(answers[err.code ?? ''] ?? badRequest);
      // A lingering close: what the client still sends is read and dropped (the failed parser takes it)
      // until it closes, for a short while; closing over unread bytes would reset the connection, and
      // a reset can take the answers just written with it.
      socket.resume();
      setTimeout(() => socket.destroy(), lingerMs).unref();
    };
    // Nothing more is read: whatever follows the malformed request is not answered.
    socket.pause();
    if (connection.pending === 0) connection.answer();
  });
}
