/**
 * One client connection as an explicit state machine (startup -> auth ->
 * ready -> closed) over the frontend decoder. Replies to everything decoded
 * from one TCP chunk go out in one write; while a passthrough is in flight
 * the socket pauses and later messages wait in the decoder, so answers keep
 * their order. Bad input gets what the real server gives: a silent close for
 * framing it cannot read, ErrorResponse then close for a message it refuses
 * (PostgreSQL docs, "Message Flow"; postmaster.c and postgres.c behaviour).
 */
import type { Socket } from 'node:net';
import { SqlState } from '../../protocols/pg/constants.js';
import type { FrontendEvent, FrontendMessage } from '../../protocols/pg/frontend-decoder.js';
import { ConnContext, attachSocket, closeConnection, flush, sendError, type MockContext } from './context.js';
import { MissError, error, fatal } from './error-fields.js';
import { extendedMessage, simpleQuery } from './query.js';
import { onAuth, onStartup } from './startup.js';

/** Starts serving a client connection; `dispose` when its socket closes. */
export function openConnection(mock: MockContext, id: string, sock: Socket): ConnContext {
  const c: ConnContext = new ConnContext(mock, id, sock, (chunk) => receive(c, chunk));
  attachSocket(c, sock);
  return c;
}

export function disposeConnection(c: ConnContext): void {
  c.isDisposed = true;
  c.up?.close();
  c.up = undefined;
}

function receive(c: ConnContext, chunk: Buffer): void {
  c.decoder.push(chunk);
  if (c.pending === undefined) pump(c);
}

function pump(c: ConnContext): void {
  try {
    for (let ev = c.decoder.next(); ev !== undefined; ev = c.decoder.next()) {
      handle(c, ev);
      if (c.step.k === 'closed') break;
      if (c.pending !== undefined) {
        flush(c);
        c.sock.pause();
        c.pending.then(
          () => resume(c),
          (err: unknown) => internalError(c, err),
        );
        return;
      }
    }
  } catch (err) {
    internalError(c, err);
    return;
  }
  flush(c);
}

function resume(c: ConnContext): void {
  c.pending = undefined;
  if (c.step.k === 'closed') return;
  c.sock.resume();
  pump(c);
}

function internalError(c: ConnContext, err: unknown): void {
  c.mock.log.error({ err }, 'pg mock connection failed');
  c.w.errorResponse(fatal('XX000', `doppel mock internal error: ${(err as Error).message}`));
  closeConnection(c, true);
}

function handle(c: ConnContext, ev: FrontendEvent): void {
  if (ev.type === 'decodeError') {
    switch (ev.kind) {
      case 'startupLength':
      case 'messageLength':
      case 'messageTooLong':
        // postmaster.c / pq_getmessage log these and close without a reply.
        c.mock.log.warn({ reason: ev.message }, 'pg mock closed a connection on bad framing');
        closeConnection(c, false);
        return;
      case 'unknownType':
        c.mock.log.warn({ reason: ev.message }, 'pg mock closed a connection on an unknown message type');
        c.w.errorResponse(fatal(SqlState.protocolViolation, ev.message));
        closeConnection(c, true);
        return;
      case 'malformed':
        c.w.errorResponse(fatal(SqlState.protocolViolation, ev.message));
        closeConnection(c, true);
        return;
      default: {
        const never: never = ev.kind;
        return never;
      }
    }
  }
  const step = c.step;
  switch (step.k) {
    case 'startup':
      onStartup(c, ev);
      return;
    case 'md5':
    case 'scramFirst':
    case 'scramFinal':
      onAuth(c, step, ev);
      return;
    case 'ready':
      onReady(c, ev);
      return;
    case 'closed':
      return;
    default: {
      const never: never = step;
      return never;
    }
  }
}

function onReady(c: ConnContext, m: FrontendMessage): void {
  switch (m.type) {
    case 'query':
      c.isSkipping = false;
      simpleQuery(c, m.sql);
      if (c.pending === undefined) c.w.readyForQuery(c.tx);
      else c.pending = c.pending.then(() => void c.w.readyForQuery(c.tx));
      return;
    case 'sync':
      c.isSkipping = false;
      c.w.readyForQuery(c.tx);
      return;
    case 'flush':
      return;
    case 'terminate':
      closeConnection(c, false);
      return;
    case 'parse':
    case 'bind':
    case 'describe':
    case 'execute':
    case 'close':
      if (c.isSkipping) return;
      try {
        extendedMessage(c, m);
      } catch (err) {
        if (!(err instanceof MissError)) throw err;
        sendError(c, err.fields);
        c.isSkipping = true;
      }
      return;
    case 'functionCall':
      sendError(c, error(SqlState.featureNotSupported, 'doppel mock: the function call protocol is not supported in mock'));
      c.isSkipping = true;
      return;
    case 'copyData':
    case 'copyDone':
    case 'copyFail':
      // Outside COPY the server ignores these (PostgreSQL docs, "COPY Operations").
      return;
    case 'password':
    case 'startup':
    case 'sslRequest':
    case 'gssEncRequest':
    case 'cancelRequest':
      c.w.errorResponse(fatal(SqlState.protocolViolation, `invalid frontend message type ${m.type === 'password' ? 112 : 0}`));
      closeConnection(c, true);
      return;
    default: {
      const never: never = m;
      return never;
    }
  }
}
