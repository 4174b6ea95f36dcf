/**
 * A tiny fake payment provider, used only while recording (under `doppel run`
 * the payments mock answers from the recordings instead). Deterministic on
 * purpose: payment ids count up per process, and amounts above the limit are
 * declined, so a re-recording gives the same traffic.
 *
 *   POST /payments                 {amount_cents, currency, reference} + Idempotency-Key -> 201 | 402
 *   POST /payments/:id/refunds     {amount_cents} + Idempotency-Key                     -> 201 | 404
 *   GET  /healthz
 *
 * Run alone: `npx tsx examples/orders/payment-api.ts` (PORT, default 9090; HOST, default 127.0.0.1).
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import Fastify, { LogController, type FastifyInstance } from 'fastify';

/** Charges above this many cents are declined. */
export const DECLINE_ABOVE_CENTS = 50_000;

interface StoredAnswer {
  status: number;
  body: Record<string, unknown>;
}

export interface PaymentApi {
  readonly app: FastifyInstance;
  /** payments captured or declined so far, by idempotency key */
  readonly answers: ReadonlyMap<string, StoredAnswer>;
}

const paymentBody = {
  type: 'object',
  required: ['amount_cents', 'currency', 'reference'],
  properties: {
    amount_cents: { type: 'integer', minimum: 1 },
    currency: { type: 'string', minLength: 3, maxLength: 3 },
    reference: { type: 'string', minLength: 1 },
  },
} as const;

const refundBody = {
  type: 'object',
  required: ['amount_cents'],
  properties: { amount_cents: { type: 'integer', minimum: 1 } },
} as const;

const idempotencyHeaders = {
  type: 'object',
  required: ['idempotency-key'],
  properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 255 } },
} as const;

export function createPaymentApi(opts: { logLevel?: string } = {}): PaymentApi {
  const app = Fastify({ logger: { level: opts.logLevel ?? 'warn' }, logController: new LogController({ disableRequestLogging: true }) });
  const answers = new Map<string, StoredAnswer>();
  const payments = new Map<string, { amount_cents: number; refunded: boolean }>();
  let nextPayment = 1;
  let nextRefund = 1;

  // Same key, same answer: the provider-side half of idempotent retries.
  const once = (key: string, make: () => StoredAnswer): StoredAnswer & { replayed: boolean } => {
    const seen = answers.get(key);
    if (seen) return { ...seen, replayed: true };
    const made = make();
    answers.set(key, made);
    return { ...made, replayed: false };
  };

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.post<{ Body: { amount_cents: number; currency: string; reference: string }; Headers: { 'idempotency-key': string } }>(
    '/payments',
    { schema: { body: paymentBody, headers: idempotencyHeaders } },
    async (req, reply) => {
      const { amount_cents, currency, reference } = req.body;
      const answer = once(`pay:${req.headers['idempotency-key']}`, () => {
        if (amount_cents > DECLINE_ABOVE_CENTS) return { status: 402, body: { status: 'declined', reason: 'amount_limit', reference } };
        const id = `pay_${String(nextPayment++).padStart(6, '0')}`;
        payments.set(id, { amount_cents, refunded: false });
        return { status: 201, body: { id, status: 'captured', amount_cents, currency, reference } };
      });
      return reply.code(answer.status).header('idempotent-replayed', String(answer.replayed)).send(answer.body);
    },
  );

  app.post<{ Params: { id: string }; Body: { amount_cents: number }; Headers: { 'idempotency-key': string } }>(
    '/payments/:id/refunds',
    { schema: { body: refundBody, headers: idempotencyHeaders } },
    async (req, reply) => {
      const payment = payments.get(req.params.id);
      if (payment === undefined) return reply.code(404).send({ error: 'payment_not_found' });
      const answer = once(`refund:${req.headers['idempotency-key']}`, () => {
        payment.refunded = true;
        const id = `re_${String(nextRefund++).padStart(6, '0')}`;
        return { status: 201, body: { id, payment: req.params.id, status: 'refunded', amount_cents: req.body.amount_cents } };
      });
      return reply.code(answer.status).header('idempotent-replayed', String(answer.replayed)).send(answer.body);
    },
  );

  return { app, answers };
}

function isEntry(): boolean {
  const entry = process.argv[1];
  return entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href;
}

if (isEntry()) {
  const { app } = createPaymentApi({ logLevel: process.env.LOG_LEVEL ?? 'info' });
  const stop = () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? '9090') });
}
