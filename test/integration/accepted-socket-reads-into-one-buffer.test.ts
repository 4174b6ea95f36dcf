/**
 * capture/socket-reads.ts switches sockets a server accepted to reads into
 * one shared buffer (what net.connect's `onread` does for sockets it
 * connects).
 * Proven on real sockets: every byte arrives once and in order, bytes Node
 * read before the switch first, each chunk is a copy that later reads do not
 * overwrite, reading stops when the callback says so and goes on at resume,
 * and the end of the stream still ends the socket.
 */
import { once } from 'node:events';
import { connect, createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { canReadAcceptedSocketsIntoBuffer, readIntoBuffer } from '../../src/capture/socket-reads.js';

/** Bytes in which every 4-byte word is its offset plus `seed`: a misplaced, overwritten or foreign byte shows. */
function pattern(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i + 4 <= bytes; i += 4) b.writeUInt32BE((i + seed) >>> 0, i);
  return b;
}

interface Received {
  chunks: Buffer[];
  pauses: number;
  readWhilePaused: number;
  switched: boolean | undefined;
}

/** Like the record relay: the first bytes come as a 'data' event, then the socket is paused and switched. */
function switchAfterFirstBytes(sock: Socket, got: Received): void {
  sock.once('data', (first: Buffer) => {
    sock.pause();
    got.chunks.push(first);
    // Meanwhile the client goes on sending; Node may read some of it into the stream's own buffer.
    setTimeout(() => {
      let sinceResume = 0;
      let isPaused = false;
      got.switched = readIntoBuffer(sock, (chunk) => {
        if (isPaused) got.readWhilePaused++;
        got.chunks.push(chunk);
        sinceResume += chunk.length;
        if (sinceResume < 512 * 1024) return true;
        sinceResume = 0;
        got.pauses++;
        isPaused = true;
        setTimeout(() => {
          isPaused = false;
          sock.resume();
        }, 5);
        return false;
      });
      sock.resume();
    }, 50);
  });
}

async function send(port: number, bytes: Buffer): Promise<void> {
  const client = connect({ host: '127.0.0.1', port });
  await once(client, 'connect');
  client.write(bytes.subarray(0, 1000));
  await new Promise((r) => setTimeout(r, 20));
  for (let at = 1000; at < bytes.length; at += 300_000) client.write(bytes.subarray(at, Math.min(at + 300_000, bytes.length)));
  client.end();
  await once(client, 'close');
}

describe('reads of accepted sockets into one shared buffer', () => {
  let server: Server | undefined;
  afterEach(async () => {
    if (server) await new Promise<void>((r) => server?.close(() => r()));
    server = undefined;
  });

  it('deliver every byte of three sockets at once, in order, as copies, through pauses, and end each socket at the end of its stream', async () => {
    expect(canReadAcceptedSocketsIntoBuffer).toBe(true);
    const received: Received[] = [];
    const ends: Array<Promise<unknown>> = [];
    server = createServer((sock) => {
      const got: Received = { chunks: [], pauses: 0, readWhilePaused: 0, switched: undefined };
      received.push(got);
      ends.push(once(sock, 'end'));
      switchAfterFirstBytes(sock, got);
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    // Each 4 MB, each its own pattern, sent at the same time: reads of the three interleave in the one buffer.
    const sent = [0, 1, 2].map((k) => pattern(4 * 1024 * 1024, k * 0x10000000));
    await Promise.all(sent.map((bytes) => send(port, bytes)));
    await Promise.all(ends);
    expect(received).toHaveLength(3);
    // Checked only now, after every read: a chunk that was a view into the shared buffer would have changed.
    const joined = received.map((g) => Buffer.concat(g.chunks));
    for (const bytes of sent) expect(joined.filter((j) => j.equals(bytes))).toHaveLength(1);
    for (const g of received) {
      expect(g.switched).toBe(true);
      expect(g.pauses).toBeGreaterThan(2);
      expect(g.readWhilePaused).toBe(0);
      expect(g.chunks.length).toBeGreaterThan(10);
    }
  });

  it('changes nothing and says so for a socket without a handle', () => {
    const unconnected = new Socket();
    expect(readIntoBuffer(unconnected, () => true)).toBe(false);
    unconnected.destroy();
  });
});
