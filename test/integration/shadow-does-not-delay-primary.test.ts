/**
 * The primary path never waits for the candidate: with a held, a refusing
 * and a resetting candidate, every primary response reaches its client with
 * the primary's exact status, headers and body, as it does without doppel.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { startShadowService, type ShadowService } from '../../src/shadow/shadow-service.js';
import { CompareSchema, CutoffsSchema, ShadowSchema, type ShadowConfig, type CompareConfig } from '../../src/config/schema.js';
import { resolveCompare, resolveShadow } from '../../src/config/resolve.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createLogger } from '../../src/core/logger.js';
import { refusingUrl } from '../helpers/ports.js';
import { primaryHandler, requestRaw, startHeldPeer, startPeer, startResettingPeer, type Peer } from '../helpers/shadow-peers.js';
import { until } from '../helpers/until.js';

const timeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, upstreamMs: 10_000 };

async function startShadow(primary: string, candidate: string, extra: Partial<ShadowConfig> = {}): Promise<ShadowService> {
  const shadow = resolveShadow(Value.Default(ShadowSchema, { listen: '127.0.0.1:0', primary, candidate, timeout: '30s', drain_timeout: '200ms', ...extra }) as ShadowConfig);
  return startShadowService({
    shadow,
    compare: resolveCompare(Value.Default(CompareSchema, {}) as CompareConfig),
    gates: {},
    cutoffs: Value.Default(CutoffsSchema, {}) as never,
    log: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    timeouts,
  });
}

const PATHS = ['/orders/1', '/orders/2?x=1', '/created/3', '/health', '/orders/4'];

describe('shadow never delays or changes the primary', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('with a held candidate, every primary response completes unchanged while the candidate still holds the copies', async () => {
    const primary = await startPeer(primaryHandler);
    const candidate = await startHeldPeer(primaryHandler);
    cleanup.push(() => primary.close(), async () => {
      candidate.release();
      await candidate.close();
    });
    // Room for every copy in flight at once: the candidate holds all of them while the primary answers.
    const shadow = await startShadow(primary.url, candidate.url, { max_in_flight: PATHS.length * 4 });
    cleanup.push(() => shadow.close());
    for (let round = 0; round < 4; round++) {
      for (const path of PATHS) {
        const direct = await requestRaw(primary.url, path);
        const via = await requestRaw(shadow.url, path);
        expect(via).toEqual(direct);
      }
    }
    // Every answer above arrived while the candidate had answered nothing.
    while (candidate.held < PATHS.length * 4) await new Promise((r) => setTimeout(r, 5));
    expect(candidate.held).toBe(PATHS.length * 4);
    expect(shadow.run.view()).toMatchObject({ judged: 0 });
    candidate.release();
    await shadow.close();
    expect(shadow.run.view()).toMatchObject({ judged: PATHS.length * 4 });
  });

  it('with a candidate that refuses connections, responses are unchanged and the copies count as candidate_error', async () => {
    const primary = await startPeer(primaryHandler);
    cleanup.push(() => primary.close());
    const shadow = await startShadow(primary.url, await refusingUrl());
    cleanup.push(() => shadow.close());
    for (const path of PATHS) expect(await requestRaw(shadow.url, path)).toEqual(await requestRaw(primary.url, path));
    await shadow.tee.drain(10_000);
    expect(shadow.run.drops().candidate_error).toBe(PATHS.length);
  });

  it('with a candidate that resets mid-response, responses are unchanged and the copies count as candidate_error', async () => {
    const primary = await startPeer(primaryHandler);
    const candidate = await startResettingPeer();
    cleanup.push(() => primary.close(), () => candidate.close());
    const shadow = await startShadow(primary.url, candidate.url);
    cleanup.push(() => shadow.close());
    for (const path of PATHS) expect(await requestRaw(shadow.url, path)).toEqual(await requestRaw(primary.url, path));
    await shadow.tee.drain(10_000);
    expect(shadow.run.drops().candidate_error).toBe(PATHS.length);
    expect(candidate.seen.length).toBe(PATHS.length);
  });

  it('a primary 5xx reaches the client exactly as without doppel, and a primary reset cuts the client off as it does directly', async () => {
    const primary: Peer = await startPeer((req, _body, res) => {
      if (req.url === '/reset') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
        res.write('partial');
        setImmediate(() => res.socket?.resetAndDestroy());
        return;
      }
      res.writeHead(503, ['Content-Type', 'application/problem+json', 'Retry-After', '7', 'X-Dup', 'a', 'X-Dup', 'b']);
      res.end('{"title":"overloaded"}');
    });
    const candidate = await startHeldPeer(primaryHandler);
    cleanup.push(() => primary.close(), async () => {
      candidate.release();
      await candidate.close();
    });
    const shadow = await startShadow(primary.url, candidate.url);
    cleanup.push(() => shadow.close());
    const direct = await requestRaw(primary.url, '/fail');
    expect(direct.status).toBe(503);
    expect(await requestRaw(shadow.url, '/fail')).toEqual(direct);
    await expect(requestRaw(primary.url, '/reset')).rejects.toThrow();
    await expect(requestRaw(shadow.url, '/reset')).rejects.toThrow();
    // the reset exchange has no primary response to judge against: counted, never sent to the candidate
    await until('the reset exchange counted as primary_error', () => (shadow.run.drops().primary_error ?? 0) >= 1);
    expect(shadow.run.drops().primary_error).toBe(1);
    expect(candidate.seen.map((r) => r.url)).not.toContain('/reset');
  });

  it('shadows only safe methods by default: a POST reaches the primary and is never copied', async () => {
    const primary = await startPeer(primaryHandler);
    const candidate = await startPeer(primaryHandler);
    cleanup.push(() => primary.close(), () => candidate.close());
    const shadow = await startShadow(primary.url, candidate.url);
    cleanup.push(() => shadow.close());
    const via = await requestRaw(shadow.url, '/orders', { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    expect(via.status).toBe(200);
    expect(JSON.parse(via.body)).toEqual({ method: 'POST', url: '/orders', body: '{"a":1}' });
    await requestRaw(shadow.url, '/orders/9');
    await shadow.tee.drain(10_000);
    expect(candidate.seen.map((s) => `${s.method} ${s.url}`)).toEqual(['GET /orders/9']);
    expect(shadow.run.drops().filtered).toBe(1);
  });
});
