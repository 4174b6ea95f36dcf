/**
 * The least any undici-based sender spends: COUNT GET requests to URL over a
 * keep-alive Pool of CONNECTIONS, one request in flight per connection, each
 * answer read and dropped. Nothing is built, judged or counted. The replay
 * bench runs it beside autocannon, so doppel's CPU per request can be read
 * against the client the replay is built on as well as against autocannon.
 *
 *   node --import tsx bench/undici-load.ts URL COUNT CONNECTIONS
 */
import { Pool, type Dispatcher } from 'undici';

const [url = '', countArg = '1', connArg = '16'] = process.argv.slice(2);
const count = Number(countArg);
const connections = Number(connArg);
const target = new URL(url);
const pool = new Pool(target.origin, { connections, pipelining: 1 });
let sent = 0;
let done = 0;
let failed = 0;

await new Promise<void>((resolve) => {
  const next = (): void => {
    if (sent >= count) {
      if (done >= count) resolve();
      return;
    }
    sent++;
    const handler: Dispatcher.DispatchHandler = {
      onConnect() {},
      onHeaders: () => true,
      onData: () => true,
      onComplete() {
        done++;
        next();
      },
      onError() {
        failed++;
        done++;
        next();
      },
    };
    pool.dispatch({ origin: target.origin, path: target.pathname, method: 'GET', headers: { accept: 'application/json' } }, handler);
  };
  for (let i = 0; i < connections; i++) next();
});
await pool.close();
if (failed > 0) {
  process.stderr.write(`undici-load: ${failed} of ${count} requests failed\n`);
  process.exit(1);
}
