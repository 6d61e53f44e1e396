import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import { errorBody } from '../protocol/errors.ts';
import { newRequestId } from './request-id.ts';

// A request node:http cannot parse (headers too large, a broken request line, a bad
// Content-Length) never reaches a handler. It is answered here in the same OpenAI shape
// as every other error, with a request id, and the connection is closed, since what
// follows on it cannot be trusted to start a new request.

function classify(code: string | undefined): [status: number, errorCode: string, message: string] {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'request_timeout', 'The request was not received in time.'];
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'request_too_large', 'The request headers are larger than this server accepts.'];
  return [400, 'invalid_request', 'The request is not valid HTTP/1.1.'];
}

export function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // A pipelined request that fails to parse while an earlier one on the connection is
  // still being answered (a stream, a call waiting on its upstream): written now, this
  // answer landed inside that response's body, or was read as its answer. It waits for
  // that response to end, as HTTP's order of answers wants. (node:http keeps the
  // response in flight in `_httpMessage`; its own clientError default reads it too.)
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (inFlight && !inFlight.writableFinished) {
    inFlight.once('close', () => answer(err, socket));
    return;
  }
  answer(err, socket);
}

function answer(err: NodeJS.ErrnoException, socket: Socket): void {
  const [status, code, message] = classify(err.code);
  answerAndClose(socket, status, code, message);
}

/** CONNECT asks for a tunnel, which a gateway does not give (node:http dropped the
 *  connection without a word): an OpenAI-shaped 405, then the connection closes. */
export function onConnect(_req: unknown, socket: Duplex): void {
  socket.on('error', () => {});
  answerAndClose(socket, 405, 'method_not_allowed', 'CONNECT is not served: Tollgate is an API, not a forward proxy.');
}

/** Writes an OpenAI-shaped error straight to the socket, with a request id, and closes it. */
function answerAndClose(socket: Duplex, status: number, code: string, message: string): void {
  if (socket.destroyed) return;
  if (socket.writable) {
    const id = newRequestId();
    const body = errorBody(message, 'invalid_request_error', null, code, id);
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${id}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
