/**
 * A fixed, deterministic workload for the orders demo: 12 sessions (header
 * `x-session-id`), each creating orders and reading them back, listing its
 * customer's orders, and in some sessions cancelling, hitting the payment
 * decline limit or sending bad input. Sessions run one after another, so a
 * fresh database hands out the same order ids on every recording.
 *
 * Each session has its own customer: a list query never depends on another
 * session, so sessions may be replayed in parallel.
 *
 *   npx tsx examples/orders/traffic-generator.ts --target http://127.0.0.1:8080
 */
import { realpathSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { request } from 'undici';
import type { OrderItem } from './app.js';

export const SESSION_HEADER = 'x-session-id';
export const SESSION_COUNT = 12;

const CUSTOMERS = ['ada', 'grace', 'alan', 'edsger', 'barbara', 'donald', 'margaret', 'ken'] as const;
const SKUS = ['kb-ergo', 'mouse-3b', 'usb-c-hub', 'monitor-27', 'cable-2m', 'desk-lamp', 'headset', 'webcam'] as const;

export interface WorkloadExchange {
  session: string;
  method: string;
  path: string;
  requestBody: unknown;
  status: number;
  headers: Array<[string, string]>;
  /** the response body as sent */
  text: string;
  /** the body parsed as JSON, or the text when it is not JSON */
  body: unknown;
}

/** mulberry32: a small seeded PRNG, so the workload is the same on every run. */
function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rnd: () => number, list: readonly T[]): T {
  return list[Math.floor(rnd() * list.length)] as T;
}

function makeItems(rnd: () => number): OrderItem[] {
  const count = 1 + Math.floor(rnd() * 3);
  const items: OrderItem[] = [];
  for (let i = 0; i < count; i++) {
    items.push({ sku: pick(rnd, SKUS), qty: 1 + Math.floor(rnd() * 3), price_cents: 199 + Math.floor(rnd() * 48) * 100 });
  }
  return items;
}

function orderIdOf(body: unknown): number {
  const id = (body as { order?: { id?: unknown } } | null)?.order?.id;
  if (typeof id !== 'number') throw new Error(`expected an order in the response, got ${JSON.stringify(body)}`);
  return id;
}

type Send = (method: string, path: string, body?: unknown) => Promise<WorkloadExchange>;

async function runSession(index: number, send: Send): Promise<void> {
  const rnd = createRandom(0x0dde5 + index);
  const customer = `${CUSTOMERS[index % CUSTOMERS.length] ?? 'ada'}-${String(index + 1).padStart(2, '0')}`;

  const first = orderIdOf((await send('POST', '/orders', { customer, items: makeItems(rnd) })).body);
  await send('GET', `/orders/${first}`);
  const second = orderIdOf((await send('POST', '/orders', { customer, items: makeItems(rnd), currency: 'USD' })).body);
  await send('GET', `/orders/${second}`);
  await send('GET', `/orders?customer=${customer}`);

  if (index % 3 === 0) {
    await send('POST', `/orders/${first}/cancel`);
    await send('GET', `/orders/${first}`);
    await send('POST', `/orders/${first}/cancel`); // already cancelled: 409
  }
  if (index % 4 === 1) {
    const declined = await send('POST', '/orders', { customer, items: [{ sku: 'monitor-27', qty: 40, price_cents: 28_900 }] });
    await send('GET', `/orders/${orderIdOf(declined.body)}`);
  }
  if (index % 5 === 2) {
    await send('POST', '/orders', { customer: 'Not A Customer!', items: [] });
    await send('GET', '/orders/not-a-number');
    await send('GET', '/orders/999999');
    await send('GET', '/orders');
    await send('POST', '/orders/999999/cancel');
  }
}

/** Sends the whole workload to `target` and returns every request with its response. */
export async function runWorkload(target: string): Promise<WorkloadExchange[]> {
  const base = target.replace(/\/+$/, '');
  const out: WorkloadExchange[] = [];
  for (let i = 0; i < SESSION_COUNT; i++) {
    const session = `s-${String(i + 1).padStart(2, '0')}`;
    const send: Send = async (method, path, body) => {
      const res = await request(`${base}${path}`, {
        method,
        headers: { [SESSION_HEADER]: session, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.body.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      const headers: Array<[string, string]> = [];
      for (const [k, v] of Object.entries(res.headers)) {
        for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined) headers.push([k, one]);
      }
      const ex: WorkloadExchange = { session, method, path, requestBody: body, status: res.statusCode, headers, text, body: parsed };
      out.push(ex);
      return ex;
    };
    await runSession(i, send);
  }
  return out;
}

function isEntry(): boolean {
  const entry = process.argv[1];
  return entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href;
}

if (isEntry()) {
  const { values } = parseArgs({ options: { target: { type: 'string', default: 'http://127.0.0.1:8080' } } });
  try {
    const exchanges = await runWorkload(values.target);
    const byStatus: Record<string, number> = {};
    for (const ex of exchanges) byStatus[ex.status] = (byStatus[ex.status] ?? 0) + 1;
    console.log(JSON.stringify({ target: values.target, sessions: SESSION_COUNT, requests: exchanges.length, byStatus }));
    const errors = exchanges.filter((ex) => ex.status >= 500);
    if (errors.length > 0) {
      console.error(`traffic-generator: ${errors.length} responses were 5xx, first: ${JSON.stringify(errors[0])}`);
      process.exitCode = 1;
    }
  } catch (err) {
    console.error(`traffic-generator: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
