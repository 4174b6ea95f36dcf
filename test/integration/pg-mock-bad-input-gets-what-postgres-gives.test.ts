import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { mockOf, record, removeDir, PG } from '../helpers/pg-harness.js';
import type { PgMock } from '../../src/mock/pg/types.js';

function startupPacket(params: Record<string, string>): Buffer {
  const body = Buffer.concat([
    ...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)),
    Buffer.from([0]),
  ]);
  const head = Buffer.alloc(8);
  head.writeInt32BE(body.length + 8, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, body]);
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0, 0);
  return b;
}

const SSL_REQUEST = Buffer.concat([int32(8), int32(80877103)]);

interface Outcome {
  /** what came back after the bad bytes: nothing, or the type byte of the first message */
  reply: 'nothing' | 'error';
  severity?: string | undefined;
  code?: string | undefined;
  isClosed: boolean;
}

/**
 * Sends `bad` (after a completed startup when `isAfterStartup`), and reads
 * until the server closes the connection.
 */
function probe(port: number, bad: Buffer, isAfterStartup: boolean, prefix?: Buffer): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    let phase: 'startup' | 'bad' = isAfterStartup ? 'startup' : 'bad';
    let badAt = 0;
    s.on('connect', () => {
      if (prefix && prefix.length > 0) s.write(prefix);
      if (isAfterStartup) s.write(startupPacket({ user: PG.user, database: PG.database }));
      else s.write(bad);
    });
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (phase === 'startup') {
        // Wait for ReadyForQuery ('Z', len 5, status) before sending the bad bytes.
        const z = buf.indexOf(Buffer.from([0x5a, 0, 0, 0, 5]));
        if (z !== -1 && buf.length >= z + 6) {
          phase = 'bad';
          badAt = buf.length;
          s.write(bad);
        }
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      let rest = buf.subarray(badAt);
      if (prefix && rest[0] === 0x4e) rest = rest.subarray(1); // the 'N' answer to an SSLRequest
      if (rest.length === 0) return resolve({ reply: 'nothing', isClosed: true });
      if (rest[0] !== 0x45) return reject(new Error(`unexpected reply type ${rest[0]}`));
      const fields: Record<string, string> = {};
      let p = 5;
      while (p < rest.length && rest[p] !== 0) {
        const t = String.fromCharCode(rest[p] as number);
        const end = rest.indexOf(0, p + 1);
        fields[t] = rest.toString('utf8', p + 1, end);
        p = end + 1;
      }
      resolve({ reply: 'error', severity: fields.S, code: fields.C, isClosed: true });
    });
  });
}

const cases: Array<{ name: string; bad: Buffer; isAfterStartup: boolean; prefix?: Buffer }> = [
  { name: 'a startup packet shorter than 8 bytes', bad: Buffer.concat([int32(4), int32(0)]), isAfterStartup: false },
  { name: 'a startup packet over 10,000 bytes', bad: Buffer.concat([int32(20_000), int32(196608), Buffer.alloc(64)]), isAfterStartup: false },
  { name: 'a query before startup', bad: Buffer.from('Q\0\0\0\rSELECT 1\0', 'latin1'), isAfterStartup: false },
  // Sent in one write, so the plaintext is already buffered when the request is answered.
  { name: 'plaintext right behind an SSLRequest', bad: Buffer.concat([SSL_REQUEST, startupPacket({ user: 'postgres' })]), isAfterStartup: false, prefix: Buffer.alloc(0) },
  { name: 'an unknown message type', bad: Buffer.from('j\0\0\0\x04', 'latin1'), isAfterStartup: true },
  { name: 'a message length under 4', bad: Buffer.from('Q\0\0\0\x02', 'latin1'), isAfterStartup: true },
  { name: 'a message length over the maximum', bad: Buffer.concat([Buffer.from('Q'), int32(0x7fffffff), Buffer.from('SELECT')]), isAfterStartup: true },
];

describe('bad input to the pg mock', () => {
  let dir = '';
  let mock: PgMock;

  beforeAll(async () => {
    dir = (
      await record('db', async (port) => {
        const c = new pg.Client({ ...PG, host: '127.0.0.1', port });
        await c.connect();
        await c.query('SELECT 42 AS answer');
        await c.end();
      })
    ).dir;
    mock = (await mockOf('db', dir)).mock;
  });

  afterAll(async () => {
    await mock.close();
    await removeDir(dir);
  });

  it.each(cases)('$name gets the reply class real Postgres gives, and other connections keep working', async ({ bad, isAfterStartup, prefix }) => {
    const keeper = new pg.Client({ ...PG, host: '127.0.0.1', port: mock.address.port });
    await keeper.connect();
    try {
      const real = await probe(PG.port, bad, isAfterStartup, prefix);
      const ours = await probe(mock.address.port, bad, isAfterStartup, prefix);
      expect(ours).toEqual(real);
      const r = await keeper.query('SELECT 42 AS answer');
      expect(r.rows).toEqual([{ answer: 42 }]);
    } finally {
      await keeper.end();
    }
  });

  it('a client dropping mid-message leaves the mock serving everyone else', async () => {
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: mock.address.port }, () => {
        const p = startupPacket({ user: 'postgres', database: 'test' });
        s.write(p.subarray(0, 10), () => s.destroy());
      });
      s.on('close', () => resolve());
    });
    const c = new pg.Client({ ...PG, host: '127.0.0.1', port: mock.address.port });
    await c.connect();
    // A Parse cut in half, then the socket goes away.
    const half = new pg.Client({ ...PG, host: '127.0.0.1', port: mock.address.port });
    half.on('error', () => {});
    await half.connect();
    const stream = (half as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream;
    await new Promise<void>((resolve) => stream.write(Buffer.concat([Buffer.from('P'), int32(100), Buffer.from('\0SELECT')]), () => resolve()));
    stream.destroy();
    expect((await c.query('SELECT 42 AS answer')).rows).toEqual([{ answer: 42 }]);
    await c.end();
  });
});
