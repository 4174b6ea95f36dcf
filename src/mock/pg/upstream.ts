/**
 * One connection from the Postgres mock to the real server, for statements
 * the recordings cannot answer. Startup carries the client's own startup
 * parameters; authentication is trust, or the mock entry's password answered
 * as the server asks (cleartext, md5 or SCRAM-SHA-256; PostgreSQL docs,
 * "Start-up" and "SASL Authentication"). Requests go one at a time: each is
 * a batch of messages ending in Query or Sync, answered up to ReadyForQuery.
 */
import { connect, type Socket } from 'node:net';
import type { HostPort } from '../../core/address.js';
import type { TxStatus } from '../../core/exchange.js';
import { BackendDecoder, type BackendEvent } from '../../protocols/pg/backend-decoder.js';
import { AuthCode } from '../../protocols/pg/constants.js';
import { PeerFailureError } from '../../core/peer-failure.js';
import { passwordMessage, saslInitialResponse, saslResponse, startupMessage, terminateMessage } from '../../protocols/pg/frontend-encoder.js';
import { createScramClient, md5Response, type ScramClient } from './auth.js';

export interface PgUpstreamOptions {
  target: HostPort;
  /** the client's startup parameters (user, database, application_name, options, ...) */
  parameters: Readonly<Record<string, string>>;
  /** sent when the server asks for one */
  password: string | undefined;
  /** connect and authenticate within this time */
  connectTimeoutMs: number;
  /** a request not answered up to its last ReadyForQuery within this time fails (the server hangs) */
  requestTimeoutMs: number;
  maxMessageBytes: number;
}

interface Waiter {
  events: BackendEvent[];
  /** ReadyForQuery messages still to come */
  remaining: number;
  resolve: (events: BackendEvent[]) => void;
  reject: (err: Error) => void;
}

type Step = { k: 'auth'; scram: ScramClient | undefined } | { k: 'ready' } | { k: 'closed'; reason: string };

export class PgUpstream {
  readonly #sock: Socket;
  readonly #decoder: BackendDecoder;
  readonly #opts: PgUpstreamOptions;
  #step: Step = { k: 'auth', scram: undefined };
  #waiter: Waiter | undefined;
  /** transaction status of the server session, from its last ReadyForQuery */
  status: TxStatus = 'I';

  private constructor(sock: Socket, opts: PgUpstreamOptions) {
    this.#sock = sock;
    this.#opts = opts;
    this.#decoder = new BackendDecoder({ maxMessageBytes: opts.maxMessageBytes });
  }

  /** Connects, authenticates and waits for the first ReadyForQuery. */
  static open(opts: PgUpstreamOptions): Promise<PgUpstream> {
    const sock = connect({ host: opts.target.host, port: opts.target.port });
    sock.setNoDelay(true);
    const up = new PgUpstream(sock, opts);
    return new Promise<PgUpstream>((resolve, reject) => {
      const timer = setTimeout(() => up.#fail(new PeerFailureError('timeout', `no answer within ${opts.connectTimeoutMs} ms`)), opts.connectTimeoutMs);
      up.#waiter = {
        events: [],
        remaining: 1,
        resolve: () => {
          clearTimeout(timer);
          resolve(up);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      sock.on('connect', () => sock.write(startupMessage(opts.parameters)));
      sock.on('data', (chunk: Buffer) => up.#receive(chunk));
      sock.on('error', (err) => up.#fail(err));
      sock.on('close', () => up.#fail(new PeerFailureError('reset', 'the server closed the connection')));
    });
  }

  get isOpen(): boolean {
    return this.#step.k !== 'closed';
  }

  /**
   * Sends one batch of messages and resolves with every backend message up to
   * the `readyCount`-th ReadyForQuery. One batch at a time.
   */
  request(bytes: Buffer, readyCount: number): Promise<BackendEvent[]> {
    if (this.#step.k === 'closed') return Promise.reject(new Error(this.#step.reason));
    if (this.#waiter !== undefined) return Promise.reject(new Error('a request is already in flight'));
    return new Promise<BackendEvent[]>((resolve, reject) => {
      const ms = this.#opts.requestTimeoutMs;
      const timer = setTimeout(() => this.#fail(new PeerFailureError('timeout', `the server did not answer within ${ms} ms`)), ms);
      this.#waiter = {
        events: [],
        remaining: readyCount,
        resolve: (evs) => {
          clearTimeout(timer);
          resolve(evs);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.#sock.write(bytes);
    });
  }

  close(): void {
    if (this.#step.k === 'closed') return;
    this.#step = { k: 'closed', reason: 'closed by the mock' };
    this.#sock.end(terminateMessage());
  }

  #fail(err: Error): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    if (this.#step.k !== 'closed') this.#step = { k: 'closed', reason: err.message };
    this.#sock.destroy();
    w?.reject(err);
  }

  #receive(chunk: Buffer): void {
    this.#decoder.push(chunk);
    try {
      for (let ev = this.#decoder.next(); ev !== undefined; ev = this.#decoder.next()) {
        const step = this.#step;
        switch (step.k) {
          case 'auth':
            this.#onAuth(step, ev);
            break;
          case 'ready':
            this.#onReady(ev);
            break;
          case 'closed':
            return;
          default: {
            const never: never = step;
            return never;
          }
        }
      }
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  #onAuth(step: Extract<Step, { k: 'auth' }>, ev: BackendEvent): void {
    // ParameterStatus, BackendKeyData, NoticeResponse, NegotiateProtocolVersion: nothing to answer.
    if (ev.type === 'authentication') {
      this.#authenticate(step, ev);
    } else if (ev.type === 'error') {
      this.#fail(new Error(`${ev.fields.code} ${ev.fields.message}`));
    } else if (ev.type === 'readyForQuery') {
      this.status = ev.status;
      this.#step = { k: 'ready' };
      const w = this.#waiter;
      this.#waiter = undefined;
      w?.resolve([]);
    }
  }

  #authenticate(step: Extract<Step, { k: 'auth' }>, ev: Extract<BackendEvent, { type: 'authentication' }>): void {
    const password = this.#opts.password;
    const needPassword = () => this.#fail(new Error('the server asks for a password; set password in the mocks: entry'));
    switch (ev.code) {
      case AuthCode.Ok:
        return;
      case AuthCode.CleartextPassword:
        if (password === undefined) return needPassword();
        this.#sock.write(passwordMessage(password));
        return;
      case AuthCode.MD5Password:
        if (password === undefined) return needPassword();
        this.#sock.write(passwordMessage(md5Response(this.#opts.parameters.user ?? '', password, ev.data as Buffer)));
        return;
      case AuthCode.SASL: {
        if (password === undefined) return needPassword();
        if (!ev.mechanisms.includes('SCRAM-SHA-256')) {
          this.#fail(new Error(`the server offers SASL mechanisms ${ev.mechanisms.join(', ')}; only SCRAM-SHA-256 is supported`));
          return;
        }
        const scram = createScramClient(password);
        this.#step = { k: 'auth', scram };
        this.#sock.write(saslInitialResponse('SCRAM-SHA-256', scram.clientFirst));
        return;
      }
      case AuthCode.SASLContinue: {
        const r = step.scram?.next(String(ev.data ?? ''));
        if (r === undefined || !r.ok) {
          this.#fail(new Error(r?.reason ?? 'SCRAM continue before SCRAM start'));
          return;
        }
        this.#sock.write(saslResponse(r.clientFinal));
        return;
      }
      case AuthCode.SASLFinal:
        if (step.scram?.verify(String(ev.data ?? '')) !== true) this.#fail(new Error('the server did not prove it knows the password (SCRAM server signature)'));
        return;
      default:
        this.#fail(new Error(`authentication method ${ev.code} is not supported`));
        return;
    }
  }

  #onReady(ev: BackendEvent): void {
    const w = this.#waiter;
    if (ev.type === 'readyForQuery') this.status = ev.status;
    if (w === undefined) return;
    w.events.push(ev);
    if (ev.type === 'readyForQuery' && --w.remaining === 0) {
      this.#waiter = undefined;
      w.resolve(w.events);
    }
  }
}
