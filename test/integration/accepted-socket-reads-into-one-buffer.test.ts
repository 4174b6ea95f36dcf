/**
 * capture/socket-reads.ts switches a socket a server accepted to reads into
 * one buffer (what net.connect's `onread` does for sockets it connects).
 * Proven on real sockets: every byte arrives once and in order, bytes Node
 * read before the switch first, each chunk is a copy that later reads do not
 * overwrite, reading stops when the callback says so and goes on at resume,
 * and the end of the stream still ends the socket.
 */
import { once } from 'node:events';
import { connect, createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { canReadAcceptedSocketsIntoBuffer, readIntoBuffer } from '../../src/capture/socket-reads.js';

/** 4 MB in which every 4-byte word is its own offset: a misplaced or overwritten byte shows. */
function pattern(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i + 4 <= bytes; i += 4) b.writeUInt32BE(i, i);
  return b;
}

describe('reads of an accepted socket into one buffer', () => {
  let server: Server | undefined;
  afterEach(async () => {
    if (server) await new Promise<void>((r) => server?.close(() => r()));
    server = undefined;
  });

  it('delivers every byte once and in order, as copies, through pauses, and ends the socket at the end of the stream', async () => {
    expect(canReadAcceptedSocketsIntoBuffer).toBe(true);
    const sent = pattern(4 * 1024 * 1024);
    const chunks: Buffer[] = [];
    let pauses = 0;
    let isPaused = false;
    let readWhilePaused = 0;
    let switched: boolean | undefined;
    const ended = new Promise<void>((resolve) => {
      server = createServer((sock) => {
        // Like the record relay: the first bytes come as a 'data' event, then the socket is paused and switched.
        sock.once('data', (first: Buffer) => {
          sock.pause();
          chunks.push(first);
          // Meanwhile the client goes on sending; Node may read some of it into the stream's own buffer.
          setTimeout(() => {
            let sinceResume = 0;
            switched = readIntoBuffer(sock, Buffer.allocUnsafeSlow(64 * 1024), (chunk) => {
              if (isPaused) readWhilePaused++;
              chunks.push(chunk);
              sinceResume += chunk.length;
              if (sinceResume < 512 * 1024) return true;
              sinceResume = 0;
              pauses++;
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
        sock.once('end', () => resolve());
      });
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    const client = connect({ host: '127.0.0.1', port: (server?.address() as AddressInfo).port });
    await once(client, 'connect');
    client.write(sent.subarray(0, 1000));
    await new Promise((r) => setTimeout(r, 20));
    for (let at = 1000; at < sent.length; at += 300_000) client.write(sent.subarray(at, Math.min(at + 300_000, sent.length)));
    client.end();
    await ended;
    client.destroy();
    expect(switched).toBe(true);
    expect(pauses).toBeGreaterThan(2);
    expect(readWhilePaused).toBe(0);
    expect(chunks.length).toBeGreaterThan(10);
    // Checked only now, after every read: a chunk that was a view into the reused buffer would have changed.
    expect(Buffer.concat(chunks).equals(sent)).toBe(true);
  });

  it('changes nothing and says so for a socket without a handle', () => {
    const unconnected = new Socket();
    expect(readIntoBuffer(unconnected, Buffer.alloc(16), () => true)).toBe(false);
    unconnected.destroy();
  });
});
