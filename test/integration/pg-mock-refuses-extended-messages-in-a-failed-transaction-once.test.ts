import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { BackendDecoder, type BackendEvent } from '../../src/protocols/pg/backend-decoder.js';
import { bindMessage, describeMessage, executeMessage, parseMessage, queryMessage, startupMessage, syncMessage, terminateMessage } from '../../src/protocols/pg/frontend-encoder.js';
import type { PgMock } from '../../src/mock/pg/types.js';
import { mockOf, record, removeDir, PG } from '../helpers/pg-harness.js';

/** A wire-level client: each batch is answered up to its ReadyForQuery, summarised one message per string. */
class RawSession {
  readonly #sock: Socket;
  readonly #decoder = new BackendDecoder();
  #events: BackendEvent[] = [];
  #wake: (() => void) | undefined;

  private constructor(sock: Socket) {
    this.#sock = sock;
    sock.on('data', (chunk: Buffer) => {
      this.#decoder.push(chunk);
      for (let ev = this.#decoder.next(); ev !== undefined; ev = this.#decoder.next()) this.#events.push(ev);
      this.#wake?.();
    });
  }

  static async open(port: number): Promise<RawSession> {
    const sock = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const s = new RawSession(sock);
    await s.batch(startupMessage({ user: PG.user, database: PG.database }));
    return s;
  }

  async batch(bytes: Buffer): Promise<string[]> {
    this.#events = [];
    this.#sock.write(bytes);
    const isDone = () => this.#events.some((e) => e.type === 'readyForQuery');
    while (!isDone()) await new Promise<void>((resolve) => (this.#wake = resolve));
    return this.#events.filter((e) => e.type !== 'parameterStatus' && e.type !== 'backendKeyData' && e.type !== 'authentication').map(summary);
  }

  close(): void {
    this.#sock.end(terminateMessage());
  }
}

function summary(e: BackendEvent): string {
  if (e.type === 'error') return `error ${e.fields.code}`;
  if (e.type === 'readyForQuery') return `ready ${e.status}`;
  if (e.type === 'commandComplete') return `complete ${e.tag}`;
  return e.type;
}

const ONE = 'SELECT 1 AS one_before_failure';

/** Parse and Bind (of a new statement, and of one prepared before the failure) inside a failed block, then ROLLBACK. */
async function failedBlockWorkload(port: number): Promise<string[][]> {
  const s = await RawSession.open(port);
  try {
    return [
      await s.batch(Buffer.concat([parseMessage('s_before', ONE, []), syncMessage()])),
      await s.batch(queryMessage('BEGIN')),
      await s.batch(queryMessage('SELECT 1/0 AS fails')),
      await s.batch(
        Buffer.concat([parseMessage('', 'SELECT 2 AS parsed_in_failed_block', []), bindMessage('', '', [], [], []), describeMessage('P', ''), executeMessage('', 0), syncMessage()]),
      ),
      await s.batch(Buffer.concat([bindMessage('', 's_before', [], [], []), describeMessage('P', ''), executeMessage('', 0), syncMessage()])),
      await s.batch(queryMessage('ROLLBACK')),
    ];
  } finally {
    s.close();
  }
}

/** What node-postgres reports for each query of the same failed block. */
async function clientOutcomes(port: number): Promise<unknown[]> {
  const c = new pg.Client({ ...PG, host: '127.0.0.1', port });
  await c.connect();
  const out: unknown[] = [];
  // An error arriving when no query waits for it (a second ErrorResponse) is a client error event.
  c.on('error', (err) => out.push({ clientError: err.message }));
  const note = (p: Promise<pg.QueryResult>) =>
    p.then(
      (r) => out.push({ command: r.command, rows: r.rows }),
      (err: { code?: string }) => out.push({ error: err.code }),
    );
  try {
    await note(c.query('BEGIN'));
    await note(c.query('SELECT 1/0 AS fails'));
    // With values node-postgres sends Parse, Bind, Describe, Execute, Sync.
    await note(c.query('SELECT $1::int AS parsed_in_failed_block', [2]));
    await note(c.query('ROLLBACK'));
    await note(c.query('SELECT $1::int AS parsed_in_failed_block', [2]));
  } finally {
    await c.end();
  }
  return out;
}

describe('extended query in a failed transaction block', () => {
  let dir = '';
  let mock: PgMock;

  beforeAll(async () => {
    dir = (
      await record('db', async (port) => {
        await failedBlockWorkload(port);
        await clientOutcomes(port);
      })
    ).dir;
    mock = (await mockOf('db', dir)).mock;
  });

  afterAll(async () => {
    await mock.close();
    await removeDir(dir);
  });

  it('Parse and Bind get one 25P02 each, as from real Postgres', async () => {
    const real = await failedBlockWorkload(PG.port);
    const ours = await failedBlockWorkload(mock.address.port);
    expect(real[3]).toEqual(['error 25P02', 'ready E']);
    expect(real[4]).toEqual(['error 25P02', 'ready E']);
    expect(ours).toEqual(real);
  });

  it('node-postgres gets the refusal on its own extended query and ROLLBACK after it, as from real Postgres', async () => {
    const real = await clientOutcomes(PG.port);
    expect(real.slice(1, 4)).toEqual([{ error: '22012' }, { error: '25P02' }, { command: 'ROLLBACK', rows: [] }]);
    expect(await clientOutcomes(mock.address.port)).toEqual(real);
  });
});
