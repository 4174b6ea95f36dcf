/**
 * What recording costs the Postgres record relay per transaction, without
 * its sockets: pgbench-shaped messages (-S, one row per answer) decoded both
 * ways, run through the record session, made exchanges and store lines, and
 * the lines written as bytes, in a tight loop. Prints the best time per
 * transaction of several passes and the heap allocated per transaction
 * (V8's own count, from a child process run with --trace-gc-nvp), which do
 * not move with the machine's load the way the relay's figures do.
 *
 *   npx tsx bench/pg-record-loop.ts [simple|extended] [TRANSACTIONS_PER_PASS]
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { PgExchange, PgField } from '../src/core/exchange.js';
import { BackendDecoder } from '../src/protocols/pg/backend-decoder.js';
import { BackendWriter } from '../src/protocols/pg/backend-encoder.js';
import { FrontendDecoder } from '../src/protocols/pg/frontend-decoder.js';
import { bindMessage, describeMessage, executeMessage, parseMessage, queryMessage, startupMessage, syncMessage } from '../src/protocols/pg/frontend-encoder.js';
import { pgExchangeLine } from '../src/protocols/pg/pg-exchange-json.js';
import { PgRecordSession, toPgExchange, type RecordedPg } from '../src/protocols/pg/record-session.js';

const WARM_UP = 50_000;
const PASSES = 8;
/** exchanges per hand-over, as the relay hands them to the store */
const BATCH = 64;
const FIELDS: PgField[] = [{ name: 'abalance', tableOid: 16400, column: 3, typeOid: 23, typeSize: 4, typeMod: -1, format: 0 }];

const [mode = 'extended', perPassArg = '100000', role] = process.argv.slice(2);
const perPass = Number(perPassArg);
if ((mode !== 'simple' && mode !== 'extended') || !(perPass > 0)) {
  process.stderr.write('usage: pg-record-loop.ts [simple|extended] [TRANSACTIONS_PER_PASS]\n');
  process.exit(2);
}

/** One transaction's bytes each way, as pgbench -S -M <mode> and Postgres send them. */
function transaction(aid: number): [Buffer, Buffer] {
  const frontend =
    mode === 'extended'
      ? Buffer.concat([
          parseMessage('', 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;', []),
          bindMessage('', '', [], [Buffer.from(String(aid))], []),
          describeMessage('P', ''),
          executeMessage('', 0),
          syncMessage(),
        ])
      : queryMessage(`SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`);
  const w = new BackendWriter();
  if (mode === 'extended') w.parseComplete().bindComplete();
  w.rowDescription(FIELDS, () => 0)
    .dataRow([String(aid % 5000)])
    .commandComplete('SELECT 1')
    .readyForQuery('I');
  return [frontend, w.take()];
}

function loop(): void {
  const txs = Array.from({ length: 1000 }, (_, i) => transaction(i * 37 + 1));
  const out = Buffer.allocUnsafe(1024 * 1024);
  let exchanges: PgExchange[] = [];
  let lines: string[] = [];
  let written = 0;
  const emit = (rec: RecordedPg) => {
    const ex = toPgExchange(rec, 'db');
    exchanges.push(ex);
    lines.push(pgExchangeLine(ex));
    if (exchanges.length < BATCH) return;
    // What the file store does with a batch: measure each line, copy it in as bytes.
    for (const l of lines) written += out.write(l, 0, Buffer.byteLength(l));
    exchanges = [];
    lines = [];
  };
  const frontend = new FrontendDecoder({ maxMessageBytes: 1 << 30, copiesValues: false });
  const backend = new BackendDecoder({ maxMessageBytes: 1 << 30 });
  const session = new PgRecordSession({ connection: 'c-loop-1', emit });
  frontend.push(startupMessage({ user: 'postgres', database: 'bench' }));
  for (let m = frontend.next(); m !== undefined; m = frontend.next()) if (m.type !== 'decodeError') session.onFrontend(m, 0);
  backend.push(new BackendWriter().authenticationOk().readyForQuery('I').take());
  for (let m = backend.next(); m !== undefined; m = backend.next()) session.onBackend(m, 0);
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const [fe, be] = txs[i % txs.length] as [Buffer, Buffer];
      const at = 1.7e12 + i * 0.1;
      frontend.push(fe);
      for (let m = frontend.next(); m !== undefined; m = frontend.next()) {
        if (m.type === 'decodeError') throw new Error(m.message);
        session.onFrontend(m, at);
      }
      backend.push(be);
      for (let m = backend.next(); m !== undefined; m = backend.next()) session.onBackend(m, at + 0.05);
    }
  };
  run(WARM_UP);
  let best = Infinity;
  for (let p = 0; p < PASSES; p++) {
    const t0 = process.hrtime.bigint();
    run(perPass);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / perPass);
  }
  process.stdout.write(`${JSON.stringify({ bestNsPerTx: best, transactions: WARM_UP + PASSES * perPass, bytesWritten: written })}\n`);
}

if (role === 'child') loop();
else {
  const child = async (flags: string[]) => {
    const { stdout } = await promisify(execFile)(process.execPath, [...flags, '--import', 'tsx', fileURLToPath(import.meta.url), mode, String(perPass), 'child'], {
      maxBuffer: 256 * 1024 * 1024,
    });
    // GC traces may follow the result line.
    const result = JSON.parse(stdout.split('\n').find((l) => l.startsWith('{')) ?? '{}') as { bestNsPerTx: number; transactions: number };
    return { stdout, ...result };
  };
  // Timed without the GC trace, whose printing would be timed too; allocation counted in a second run.
  const timed = await child([]);
  const traced = await child(['--trace-gc-nvp']);
  let allocated = 0;
  for (const m of traced.stdout.matchAll(/allocated=(\d+)/g)) allocated += Number(m[1]);
  process.stdout.write(
    `pg record loop, -M ${mode}: ${(timed.bestNsPerTx / 1000).toFixed(2)} us per transaction (best of ${PASSES} passes of ${perPass}), ` +
      `${(allocated / traced.transactions / 1000).toFixed(2)} KB of heap allocated per transaction\n`,
  );
}
