/**
 * Process entry shared by server-v1.ts and server-v2.ts. Configured only by
 * the environment, the way a container or `doppel run` starts it:
 * PORT (8080), HOST (127.0.0.1), DATABASE_URL, PAYMENT_API_URL, LOG_LEVEL (info).
 * PORT=0 picks a free port; the "listening" log line names it.
 */
import pg from 'pg';
import { createOrdersApp, type Variant } from './app.js';

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (v === undefined || v === '') {
    console.error(`orders: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

export async function runOrdersServer(variant: Variant, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const port = Number(env.PORT ?? '8080');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`orders: PORT must be a port number, got ${JSON.stringify(env.PORT)}`);
    process.exit(2);
  }
  const host = env.HOST ?? '127.0.0.1';
  const pool = new pg.Pool({ connectionString: required(env, 'DATABASE_URL'), max: 5 });
  // A dropped idle connection (database restart, mock stopped) must not crash the process.
  pool.on('error', (err) => app.log.warn({ err }, 'idle database connection failed'));
  const app = createOrdersApp({
    variant,
    db: pool,
    paymentApiUrl: required(env, 'PAYMENT_API_URL'),
    logLevel: env.LOG_LEVEL ?? 'info',
  });
  app.log.info({ variant }, 'orders service starting');

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'stopping');
    app
      .close()
      .then(() => pool.end())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          app.log.error({ err }, 'unclean stop');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  await app.listen({ host, port });
}
