/**
 * Real gRPC peers for the tests: a @grpc/grpc-js server of the
 * shop.v1.Orders fixture service (unary, server streaming, a call that
 * never answers, an error status with details) and its client.
 */
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { encodeStatusDetails } from '../../src/protocols/grpc/status.js';
import { startCli } from './cli.js';

export const GRPC_PROTO_DIR = fileURLToPath(new URL('../fixtures/grpc', import.meta.url));
export const ORDERS_PROTO = 'shop/v1/orders.proto';

export function loadOrdersDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(ORDERS_PROTO, { includeDirs: [GRPC_PROTO_DIR], longs: String, enums: String, defaults: false });
}

interface OrdersPackage {
  shop: { v1: { Orders: grpc.ServiceClientConstructor } };
}

export interface OrderReply {
  order?: { id: string; total?: { currency: string; units: string }; items: string[]; createdAtMs: string };
}

export interface OrdersServer {
  url: string;
  /** host:port, as grpc-js clients take it */
  target: string;
  /** calls of Hang whose client cancelled them */
  cancelled: number;
  calls: number;
  /** calls of GetOrder and ListOrders held (with `hold`) and not yet answered */
  held: number;
  /** answers every held call, and every later one at once */
  release(): void;
  /** every call as it arrived: method, Date.now(), its metadata */
  received: ReceivedCall[];
  close(): Promise<void>;
}

export interface ReceivedCall {
  method: string;
  at: number;
  metadata: Record<string, unknown>;
}

export const REJECT_DETAILS = {
  code: 9,
  message: 'order is closed',
  details: [{ typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: Buffer.from('closed-order').toString('base64') }],
};

/**
 * `units` is what GetOrder answers as the order total: a planted change in a candidate sets another;
 * `randomUnits` answers a fresh one per call, a field that disagrees with itself (noise).
 * `hold` keeps GetOrder and ListOrders unanswered until release(): a hung candidate.
 * `noisy` adds a random item to every order: a field a build disagrees with itself on.
 */
export async function startOrdersServer(opts: { units?: number | ((id: string) => number); randomUnits?: boolean; reflection?: boolean; hold?: boolean; noisy?: boolean } = {}): Promise<OrdersServer> {
  const def = loadOrdersDefinition();
  const pkg = grpc.loadPackageDefinition(def) as unknown as OrdersPackage;
  const server = new grpc.Server();
  const state = { cancelled: 0, calls: 0 };
  let isHeld = opts.hold === true;
  const held: Array<() => void> = [];
  let closed: Promise<void> | undefined;
  const answerWhenReleased = (answer: () => void) => (isHeld ? held.push(answer) : answer());
  const received: ReceivedCall[] = [];
  const arrived = (method: string, call: { metadata: grpc.Metadata }) => {
    state.calls++;
    received.push({ method, at: Date.now(), metadata: call.metadata.getMap() });
  };
  const unitsOf = (id: string) => (opts.randomUnits === true ? Math.floor(Math.random() * 1e9) : typeof opts.units === 'function' ? opts.units(id) : (opts.units ?? 42));
  const order = (id: string) => ({
    id,
    total: { currency: 'EUR', units: String(unitsOf(id)) },
    items: opts.noisy === true ? ['book', 'pen', `n-${randomInt(1_000_000_000)}`] : ['book', 'pen'],
    createdAtMs: '1700000000000',
  });
  server.addService(pkg.shop.v1.Orders.service, {
    GetOrder: (call: grpc.ServerUnaryCall<{ id: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      arrived('GetOrder', call);
      answerWhenReleased(() => {
        const md = new grpc.Metadata();
        md.set('x-served-by', 'orders-grpc');
        call.sendMetadata(md);
        cb(null, { order: order(call.request.id) });
      });
    },
    ListOrders: (call: grpc.ServerWritableStream<{ limit: number }, unknown>) => {
      arrived('ListOrders', call);
      answerWhenReleased(() => {
        for (let i = 1; i <= call.request.limit; i++) call.write(order(`o-${i}`));
        call.end();
      });
    },
    Hang: (call: grpc.ServerUnaryCall<unknown, unknown>) => {
      arrived('Hang', call);
      call.on('cancelled', () => state.cancelled++);
    },
    Reject: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      arrived('Reject', call);
      const md = new grpc.Metadata();
      md.set('grpc-status-details-bin', Buffer.from(encodeStatusDetails(REJECT_DETAILS), 'base64'));
      cb({ code: grpc.status.FAILED_PRECONDITION, details: REJECT_DETAILS.message, metadata: md });
    },
  });
  if (opts.reflection === true) new ReflectionService(def).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    target: `127.0.0.1:${port}`,
    get cancelled() {
      return state.cancelled;
    },
    get calls() {
      return state.calls;
    },
    get held() {
      return held.length;
    },
    release() {
      isHeld = false;
      for (const answer of held.splice(0)) answer();
    },
    received,
    // Once: a second tryShutdown of a stopped server never calls back.
    close: () => (closed ??= new Promise<void>((resolve) => server.tryShutdown(() => resolve())).then(() => server.forceShutdown())),
  };
}

export type OrdersClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function ordersClient(target: string): OrdersClient {
  const pkg = grpc.loadPackageDefinition(loadOrdersDefinition()) as unknown as OrdersPackage;
  return new pkg.shop.v1.Orders(target, grpc.credentials.createInsecure()) as unknown as OrdersClient;
}

export function getOrder(client: OrdersClient, id: string, deadlineMs?: number, method = 'GetOrder'): Promise<{ reply: OrderReply; metadata: grpc.Metadata }> {
  return new Promise((resolve, reject) => {
    let metadata = new grpc.Metadata();
    const options = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
    const call = (client[method] as (...a: unknown[]) => grpc.ClientUnaryCall)({ id }, new grpc.Metadata(), options, (err: grpc.ServiceError | null, reply: OrderReply) =>
      err ? reject(err) : resolve({ reply, metadata }),
    );
    call.on('metadata', (md: grpc.Metadata) => {
      metadata = md;
    });
  });
}

export function listOrders(client: OrdersClient, limit: number): Promise<OrderReply['order'][]> {
  return new Promise((resolve, reject) => {
    const out: OrderReply['order'][] = [];
    const call = (client.ListOrders as (...a: unknown[]) => grpc.ClientReadableStream<OrderReply['order']>)({ limit });
    call.on('data', (o: OrderReply['order']) => out.push(o));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  });
}

/**
 * Records calls of a real Orders server through `doppel record --grpc-dep`
 * into `out` (service `orders`): `calls` runs against the record port.
 */
export async function recordOrdersCalls(serverUrl: string, out: string, calls: (client: OrdersClient) => Promise<unknown>): Promise<void> {
  await recordThrough(['record', '--out', out, '--grpc-dep', `orders=127.0.0.1:0,${serverUrl}`], calls);
}

/**
 * Records calls to a real Orders server as the service's own inbound traffic
 * (`doppel record --protocol grpc --upstream`) into `out`.
 */
export async function recordInboundOrdersCalls(serverUrl: string, out: string, calls: (client: OrdersClient) => Promise<unknown>): Promise<void> {
  await recordThrough(['record', '--out', out, '--listen', '127.0.0.1:0', '--upstream', serverUrl, '--protocol', 'grpc'], calls);
}

async function recordThrough(args: string[], calls: (client: OrdersClient) => Promise<unknown>): Promise<void> {
  const rec = startCli(args, { DOPPEL_REDACT_KEY: 'k' });
  try {
    const line = await rec.waitFor('grpc record listener listening');
    const client = ordersClient(line.address as string);
    try {
      await calls(client);
    } finally {
      client.close();
    }
  } catch (err) {
    await rec.stop();
    throw err;
  }
  const code = await rec.stop();
  if (code !== 0) throw new Error(`doppel record exited ${code}`);
}

export { grpc };
