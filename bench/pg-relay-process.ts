/**
 * One Postgres relay in a process of its own, for profiling: `record`
 * (doppel's record relay writing to a file store in OUT_DIR) or `plain`
 * (two net sockets piped both ways, the bench's baseline). Prints
 * `port <n>` once listening; on SIGTERM or SIGINT it closes (the record
 * relay drains into the store) and exits, which is when `node --cpu-prof`
 * writes its profile. Started by bench/profile-pg-relay.ts.
 */
import pino from 'pino';
import { startPgRecorder } from '../src/capture/pg-recorder.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { createFileStoreWriter } from '../src/store/file-store.js';
import { startPlainRelay } from './plain-tcp-relay.js';

const HOST = '127.0.0.1';
const PG_PORT = 5432;


const kind = process.argv[2];
if (kind !== 'record' && kind !== 'plain') {
  process.stderr.write('usage: pg-relay-process.ts record|plain (record writes to $OUT_DIR)\n');
  process.exit(2);
}
let close: () => Promise<void>;
let counts = async (): Promise<Record<string, number>> => ({});
if (kind === 'plain') {
  const relay = await startPlainRelay(PG_PORT);
  close = () => relay.close();
  process.stdout.write(`port ${relay.port}\n`);
} else {
  const dir = process.env.OUT_DIR;
  if (dir === undefined || dir === '') {
    process.stderr.write('pg-relay-process.ts record: OUT_DIR names the traffic directory to write\n');
    process.exit(2);
  }
  const metrics = createMetrics();
  const writer = await createFileStoreWriter({ dir });
  const rec = await startPgRecorder({ service: 'db', listen: { host: HOST, port: 0 }, target: { host: HOST, port: PG_PORT }, writer, log: pino({ level: 'silent' }), metrics });
  close = async () => {
    await rec.close();
    await writer.close();
  };
  counts = async () => {
    const sum = async (c: typeof metrics.recordDropped | typeof metrics.exchangesRecorded) => (await c.get()).values.reduce((a, v) => a + v.value, 0);
    return { recorded: await sum(metrics.exchangesRecorded), dropped: await sum(metrics.recordDropped) };
  };
  process.stdout.write(`port ${rec.address.port}\n`);
}
const cpu0 = process.cpuUsage();
const stop = () => {
  void close().then(async () => {
    const cpu = process.cpuUsage(cpu0);
    process.stdout.write(`${JSON.stringify({ cpuUs: cpu.user + cpu.system, ...(await counts()) })}\n`);
    process.exit(0);
  });
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
