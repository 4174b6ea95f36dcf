/**
 * Ports for tests. A port that was bound and released is free, but only for a
 * moment: the kernel hands ports out of its ephemeral range to every
 * listen(0) in every test worker, so the next server anywhere may take it.
 * That is fine for a port a test is about to listen on, and wrong for a dead
 * peer — a refused connection that finds someone else's server answers 200.
 * So a dead peer's port comes from below the ephemeral range, which listen(0)
 * never picks.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The low end of the range listen(0) draws from (Linux's default when it cannot be read). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 2048) return low;
  } catch {
    // not Linux: the IANA range starts higher still
  }
  return 32768;
}

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const bound = (s.address() as { port: number }).port;
      s.close(() => resolve(bound));
    });
  });
}

/** A port free right now, from the kernel's pick: for a server the test starts there itself. */
export async function freePort(): Promise<number> {
  const port = await tryListen(0);
  if (port === undefined) throw new Error('no free port on 127.0.0.1');
  return port;
}

/** A port nothing listens on and no listen(0) will take: connections to it are refused for the whole test. */
export async function refusingPort(): Promise<number> {
  const high = ephemeralLow() - 1;
  const low = Math.max(1025, high - 10_000);
  for (let i = 0; i < 50; i++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if ((await tryListen(port)) !== undefined) return port;
  }
  throw new Error(`no unused port between ${low} and ${high} on 127.0.0.1`);
}

/** `http://127.0.0.1:<refusingPort>` */
export async function refusingUrl(): Promise<string> {
  return `http://127.0.0.1:${await refusingPort()}`;
}
