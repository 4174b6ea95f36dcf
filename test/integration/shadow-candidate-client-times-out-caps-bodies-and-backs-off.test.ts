/**
 * The candidate client against real sockets: a held candidate fails each
 * call as candidate_timeout through the shared deadline sweep, an oversized
 * answer fails as body_too_large, a refusing candidate fails as
 * candidate_error and opens a back-off window, and a normal answer comes back
 * whole (status, headers, body).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createCandidateClient } from '../../src/shadow/candidate-client.js';
import { CandidateCallError, type CandidateClient, type CandidateRequest, type CandidateResponse } from '../../src/shadow/types.js';
import { refusingUrl } from '../helpers/ports.js';
import { startHeldPeer, startPeer } from '../helpers/shadow-peers.js';

const get = (url: string) => ({ method: 'GET', url, headers: ['accept', 'application/json', 'connection', 'keep-alive'], body: null });

async function failure(p: Promise<unknown>): Promise<CandidateCallError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CandidateCallError) return err;
    throw err;
  }
  throw new Error('call did not fail');
}

describe('candidate client', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  /** The client's callback as a promise: the answer, or the sorted failure as a rejection. */
  const sendVia = (c: CandidateClient, req: CandidateRequest) =>
    new Promise<CandidateResponse>((resolve, reject) => c.call(req, (err, res) => (err === undefined ? resolve(res as CandidateResponse) : reject(err))));
  const client = (url: string, extra: { timeoutMs?: number; maxBodyBytes?: number } = {}) => {
    const c = createCandidateClient({ url, timeoutMs: extra.timeoutMs ?? 10_000, maxBodyBytes: extra.maxBodyBytes ?? 1 << 20, connections: 4 });
    cleanup.push(() => c.close());
    return { ...c, send: (req: CandidateRequest) => sendVia(c, req) };
  };

  it('returns the whole answer and drops connection-level request fields', async () => {
    const peer = await startPeer((_req, _body, res) => {
      res.writeHead(201, { 'content-type': 'application/json', 'X-Trace': 'a' });
      res.write('{"id":');
      setTimeout(() => res.end('7}'), 5);
    });
    cleanup.push(() => peer.close());
    const res = await client(`${peer.url}/base`).send(get('/orders/7?x=1'));
    expect(res.status).toBe(201);
    expect(res.body.toString()).toBe('{"id":7}');
    expect(res.headers).toContainEqual(['x-trace', 'a']);
    expect(peer.seen[0]?.url).toBe('/base/orders/7?x=1');
    expect(peer.seen[0]?.headers.accept).toBe('application/json');
  });

  it('fails held calls as candidate_timeout at the deadline, without a timer per call', async () => {
    const peer = await startHeldPeer((_req, _body, res) => res.end('late'));
    cleanup.push(async () => {
      peer.release();
      await peer.close();
    });
    const c = client(peer.url, { timeoutMs: 150 });
    const errs = await Promise.all([1, 2, 3].map((i) => failure(c.send(get(`/held/${i}`)))));
    expect(errs.map((e) => e.reason)).toEqual(['candidate_timeout', 'candidate_timeout', 'candidate_timeout']);
    expect(errs[0]?.message).toContain('150 ms');
  });

  it('still times out a call that hangs at the front after more than a thousand later calls settled behind it', async () => {
    // The deadline FIFO drops settled calls from the middle once it holds over 1024: the hung call
    // must survive those passes, in order, and still meet its deadline.
    const peer = await startPeer((req, _body, res) => {
      if (req.url !== '/hang') res.end('ok');
    });
    cleanup.push(() => peer.close());
    const c = client(peer.url, { timeoutMs: 3000 });
    const t0 = performance.now();
    const hung = failure(c.send(get('/hang')));
    // In waves, so each wave is settled (and queued behind the hung call) before the next is sent.
    const quick: CandidateResponse[] = [];
    for (let wave = 0; wave < 15; wave++) quick.push(...(await Promise.all(Array.from({ length: 100 }, (_, i) => c.send(get(`/quick/${wave}/${i}`))))));
    expect(quick).toHaveLength(1500);
    expect(quick.every((r) => r.status === 200 && r.body.toString() === 'ok')).toBe(true);
    const err = await hung;
    expect(err.reason).toBe('candidate_timeout');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2900);
  });

  it('fails an answer over the byte cap as body_too_large', async () => {
    const peer = await startPeer((_req, _body, res) => res.end('x'.repeat(5000)));
    cleanup.push(() => peer.close());
    const err = await failure(client(peer.url, { maxBodyBytes: 1000 }).send(get('/big')));
    expect(err.reason).toBe('body_too_large');
  });

  it('fails refused calls as candidate_error and backs off after three in a row', async () => {
    const c = client(await refusingUrl());
    for (let i = 0; i < 3; i++) {
      const err = await failure(c.send(get('/x')));
      expect(err).toMatchObject({ reason: 'candidate_error', code: 'ECONNREFUSED' });
    }
    expect(c.isAvailable?.()).toBe(false);
  });
});
