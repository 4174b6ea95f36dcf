/**
 * The orders demo service, shared by both builds. v1 is the baseline; v2 is the
 * candidate and differs in exactly two places, both marked `VARIANT:` below:
 *
 * - a regression: `GET /orders/:id` recomputes `total` from the line items and
 *   forgets the quantity, so any order with a quantity above 1 shows a wrong total;
 * - a harmless change: the per-response `requestId` becomes a time-ordered
 *   UUIDv7 instead of a random UUIDv4. Both are UUIDs, so doppel's value classes
 *   treat the new values as noise without an ignore rule.
 *
 * Everything it needs comes from outside: a pg pool (DATABASE_URL) and the
 * payment provider's base URL (PAYMENT_API_URL).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Pool } from 'pg';
import { request } from 'undici';

export type Variant = 'v1' | 'v2';

export interface OrderItem {
  sku: string;
  qty: number;
  price_cents: number;
}

interface OrderRow {
  id: number;
  customer: string;
  items: OrderItem[];
  total_cents: number;
  currency: string;
  status: string;
  payment_id: string | null;
  created_at: Date;
}

export interface OrdersAppOptions {
  variant: Variant;
  db: Pick<Pool, 'query'>;
  paymentApiUrl: string;
  logLevel?: string;
}

// Explicit columns and ORDER BY everywhere: a recording replays only if the
// statements and their results are the same every time.
const COLUMNS = 'id, customer, items, total_cents, currency, status, payment_id, created_at';
const SQL = {
  insert: `INSERT INTO orders (customer, items, total_cents, currency) VALUES ($1, $2::jsonb, $3, $4) RETURNING ${COLUMNS}`,
  byId: `SELECT ${COLUMNS} FROM orders WHERE id = $1`,
  byCustomer: `SELECT ${COLUMNS} FROM orders WHERE customer = $1 ORDER BY id LIMIT $2`,
  settle: `UPDATE orders SET status = $2, payment_id = $3 WHERE id = $1 RETURNING ${COLUMNS}`,
  cancel: `UPDATE orders SET status = 'cancelled' WHERE id = $1 RETURNING ${COLUMNS}`,
} as const;

const LIST_LIMIT = 50;
const CANCELLABLE = new Set(['pending', 'paid']);

const itemSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sku', 'qty', 'price_cents'],
  properties: {
    sku: { type: 'string', minLength: 1, maxLength: 64 },
    qty: { type: 'integer', minimum: 1, maximum: 1000 },
    price_cents: { type: 'integer', minimum: 0, maximum: 10_000_000 },
  },
} as const;

const createOrderSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['customer', 'items'],
    properties: {
      customer: { type: 'string', pattern: '^[a-z0-9-]{1,64}$' },
      items: { type: 'array', minItems: 1, maxItems: 50, items: itemSchema },
      currency: { type: 'string', enum: ['EUR', 'USD', 'GBP'] },
    },
  },
} as const;

const idParamSchema = {
  params: {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,9}$' } },
  },
} as const;

const listSchema = {
  querystring: {
    type: 'object',
    required: ['customer'],
    properties: { customer: { type: 'string', pattern: '^[a-z0-9-]{1,64}$' } },
  },
} as const;

/** RFC 9562 §5.7: 48-bit Unix milliseconds, version 7, variant 10, random rest. */
export function uuidV7(now: number = Date.now()): string {
  const b = randomBytes(16);
  b.writeUIntBE(now, 0, 6);
  b[6] = 0x70 | ((b[6] ?? 0) & 0x0f);
  b[8] = 0x80 | ((b[8] ?? 0) & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function sumCents(items: readonly OrderItem[]): number {
  let total = 0;
  for (const it of items) total += it.qty * it.price_cents;
  return total;
}

function orderView(row: OrderRow, totalCents: number = row.total_cents) {
  return {
    id: row.id,
    customer: row.customer,
    items: row.items,
    total: totalCents / 100,
    currency: row.currency,
    status: row.status,
    paymentId: row.payment_id,
    createdAt: row.created_at.toISOString(),
  };
}

type PaymentOutcome =
  | { kind: 'captured'; paymentId: string }
  | { kind: 'declined'; reason: string }
  | { kind: 'unavailable'; detail: string };

export function createOrdersApp(opts: OrdersAppOptions): FastifyInstance {
  const { db, variant } = opts;
  const paymentBase = opts.paymentApiUrl.replace(/\/+$/, '');
  // VARIANT: harmless change — v2 switched request ids to time-ordered UUIDv7.
  const newRequestId = variant === 'v2' ? () => uuidV7() : () => randomUUID();

  const app = Fastify({
    logger: { level: opts.logLevel ?? 'info' },
    logController: new LogController({ disableRequestLogging: true }),
  });

  const send = (reply: FastifyReply, status: number, payload: Record<string, unknown>) =>
    reply.code(status).send({ ...payload, requestId: newRequestId() });

  app.setErrorHandler((err: { statusCode?: number; validation?: unknown; message: string }, req, reply) => {
    if (err.validation !== undefined) return send(reply, 400, { error: 'invalid_request', message: err.message });
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'request failed');
    return send(reply, status, { error: status === 500 ? 'internal' : 'bad_request', message: status === 500 ? 'internal error' : err.message });
  });
  app.setNotFoundHandler((_req, reply) => send(reply, 404, { error: 'not_found' }));

  async function callPayments(path: string, idempotencyKey: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> } | { error: string }> {
    try {
      const res = await request(`${paymentBase}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
        body: JSON.stringify(body),
        headersTimeout: 5000,
        bodyTimeout: 5000,
      });
      const parsed = (await res.body.json()) as Record<string, unknown>;
      return { status: res.statusCode, body: parsed };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }

  async function charge(row: OrderRow): Promise<PaymentOutcome> {
    // One key per order: a retried charge for the same order is never taken twice.
    const key = `order-${row.id}`;
    const res = await callPayments('/payments', key, { amount_cents: row.total_cents, currency: row.currency, reference: key });
    if ('error' in res) return { kind: 'unavailable', detail: res.error };
    if (res.status === 201 && typeof res.body.id === 'string') return { kind: 'captured', paymentId: res.body.id };
    if (res.status === 402) return { kind: 'declined', reason: typeof res.body.reason === 'string' ? res.body.reason : 'declined' };
    return { kind: 'unavailable', detail: `payment API answered ${res.status}` };
  }

  app.get('/healthz', async (_req, reply) => send(reply, 200, { status: 'ok' }));

  app.post<{ Body: { customer: string; items: OrderItem[]; currency?: string } }>('/orders', { schema: createOrderSchema }, async (req, reply) => {
    const { customer, items } = req.body;
    const currency = req.body.currency ?? 'EUR';
    const inserted = await db.query<OrderRow>(SQL.insert, [customer, JSON.stringify(items), sumCents(items), currency]);
    const row = inserted.rows[0];
    if (row === undefined) throw new Error('INSERT ... RETURNING returned no row');
    const outcome = await charge(row);
    switch (outcome.kind) {
      case 'captured': {
        const paid = await db.query<OrderRow>(SQL.settle, [row.id, 'paid', outcome.paymentId]);
        return send(reply, 201, { order: orderView(paid.rows[0] ?? row) });
      }
      case 'declined': {
        const failed = await db.query<OrderRow>(SQL.settle, [row.id, 'payment_failed', null]);
        return send(reply, 402, { error: 'payment_declined', reason: outcome.reason, order: orderView(failed.rows[0] ?? row) });
      }
      case 'unavailable':
        req.log.warn({ orderId: row.id, detail: outcome.detail }, 'payment API unavailable');
        return send(reply, 502, { error: 'payment_unavailable', order: orderView(row) });
      default: {
        const never: never = outcome;
        throw new Error(`unhandled payment outcome ${JSON.stringify(never)}`);
      }
    }
  });

  app.get<{ Params: { id: string } }>('/orders/:id', { schema: idParamSchema }, async (req, reply) => {
    const res = await db.query<OrderRow>(SQL.byId, [Number(req.params.id)]);
    const row = res.rows[0];
    if (row === undefined) return send(reply, 404, { error: 'order_not_found' });
    if (variant === 'v2') {
      // VARIANT: regression — v2 recomputes the total for the detail view and
      // drops the quantity from the sum.
      let cents = 0;
      for (const it of row.items) cents += it.price_cents;
      return send(reply, 200, { order: orderView(row, cents) });
    }
    return send(reply, 200, { order: orderView(row) });
  });

  app.get<{ Querystring: { customer: string } }>('/orders', { schema: listSchema }, async (req, reply) => {
    const res = await db.query<OrderRow>(SQL.byCustomer, [req.query.customer, LIST_LIMIT]);
    return send(reply, 200, { orders: res.rows.map((r) => orderView(r)) });
  });

  app.post<{ Params: { id: string } }>('/orders/:id/cancel', { schema: idParamSchema }, async (req, reply) => {
    const id = Number(req.params.id);
    const found = await db.query<OrderRow>(SQL.byId, [id]);
    const row = found.rows[0];
    if (row === undefined) return send(reply, 404, { error: 'order_not_found' });
    if (!CANCELLABLE.has(row.status)) return send(reply, 409, { error: 'not_cancellable', status: row.status });
    if (row.payment_id !== null) {
      const refund = await callPayments(`/payments/${encodeURIComponent(row.payment_id)}/refunds`, `refund-order-${row.id}`, {
        amount_cents: row.total_cents,
      });
      if ('error' in refund || refund.status !== 201) return send(reply, 502, { error: 'refund_failed' });
    }
    const cancelled = await db.query<OrderRow>(SQL.cancel, [id]);
    return send(reply, 200, { order: orderView(cancelled.rows[0] ?? row) });
  });

  return app;
}
