import { describe, expect, it } from 'vitest';
import { serialize } from 'pg-protocol';
import { FrontendDecoder, type FrontendEvent } from '../../../../src/protocols/pg/frontend-decoder.js';

function drain(d: FrontendDecoder): FrontendEvent[] {
  const out: FrontendEvent[] = [];
  for (let e = d.next(); e !== undefined; e = d.next()) out.push(e);
  return out;
}

const startup = serialize.startup({ user: 'app', database: 'orders' });
const stream = Buffer.concat([
  startup,
  serialize.query('SELECT 1; SELECT 2'),
  serialize.parse({ name: 'S_1', text: 'SELECT $1::int', types: [23] }),
  serialize.bind({ portal: '', statement: 'S_1', values: ['42'], binary: true }),
  serialize.describe({ type: 'P', name: '' }),
  serialize.execute({ portal: '', rows: 10 }),
  serialize.sync(),
  serialize.end(),
]);

describe('frontend decoder', () => {
  it('reads the same messages whether they come in one chunk or one byte at a time', () => {
    const whole = new FrontendDecoder({ maxMessageBytes: 1 << 20 });
    whole.push(stream);
    const a = drain(whole);
    const bytewise = new FrontendDecoder({ maxMessageBytes: 1 << 20 });
    const b: FrontendEvent[] = [];
    for (let i = 0; i < stream.length; i++) {
      bytewise.push(stream.subarray(i, i + 1));
      b.push(...drain(bytewise));
    }
    expect(b).toEqual(a);
    expect(a.map((e) => e.type)).toEqual(['startup', 'query', 'parse', 'bind', 'describe', 'execute', 'sync', 'terminate']);
    expect(a[0]).toMatchObject({ type: 'startup', major: 3, minor: 0, parameters: { user: 'app', database: 'orders' } });
    expect(a[2]).toEqual({ type: 'parse', name: 'S_1', sql: 'SELECT $1::int', paramTypes: [23] });
    expect(a[3]).toMatchObject({ type: 'bind', statement: 'S_1', params: [Buffer.from('42')], resultFormats: [1] });
    expect(a[5]).toEqual({ type: 'execute', portal: '', maxRows: 10 });
  });

  it('copies Bind parameters by default, and gives views into the chunk when asked not to copy', () => {
    const chunk = Buffer.from(stream);
    const bindOf = (d: FrontendDecoder) => {
      d.push(chunk);
      const bind = drain(d).find((e) => e.type === 'bind');
      return bind?.type === 'bind' ? (bind.params[0] as Buffer) : Buffer.alloc(0);
    };
    const copied = bindOf(new FrontendDecoder({ maxMessageBytes: 1 << 20 }));
    const viewed = bindOf(new FrontendDecoder({ maxMessageBytes: 1 << 20, copiesValues: false }));
    expect(copied).toEqual(Buffer.from('42'));
    expect(viewed).toEqual(Buffer.from('42'));
    // A view sees what becomes of the chunk; a copy keeps what was received.
    chunk.fill(0x21);
    expect(viewed.toString()).toBe('!!');
    expect(copied.toString()).toBe('42');
  });

  it('stops with the reason when a message is over the configured maximum', () => {
    const d = new FrontendDecoder({ maxMessageBytes: 64 });
    d.push(startup);
    d.push(serialize.query('x'.repeat(100)));
    const evs = drain(d);
    expect(evs[1]).toMatchObject({ type: 'decodeError', kind: 'messageTooLong' });
  });

  it('rejects an unknown message type at its type byte', () => {
    const d = new FrontendDecoder({ maxMessageBytes: 64 });
    d.push(startup);
    d.push(Buffer.from('j'));
    expect(drain(d)[1]).toMatchObject({ type: 'decodeError', kind: 'unknownType', code: 0x6a });
  });
});
