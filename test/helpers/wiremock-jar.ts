import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { ROOT } from './cli.js';
import { findExecutable } from './services.js';

/** The standalone jar the npm `wiremock` package (a devDependency) ships, if installed. */
export function wireMockJar(): string | undefined {
  const dir = join(ROOT, 'node_modules', 'wiremock', 'build');
  try {
    const name = readdirSync(dir).find((n) => /^wiremock-standalone-.*\.jar$/.test(n));
    return name === undefined ? undefined : join(dir, name);
  } catch {
    return undefined;
  }
}

export const javaPath = findExecutable('java', ['/usr/bin/java']);

export interface RunningWireMock {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the real WireMock standalone server on a port it picks (`--port 0`),
 * reads the port from its startup banner and waits until `/__admin/health`
 * answers 200.
 */
export async function startWireMock(java: string, jar: string, args: readonly string[]): Promise<RunningWireMock> {
  // C1 only and the serial collector: a JVM that starts fast on a small, shared machine
  const child: ChildProcess = spawn(java, ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-jar', jar, '--port', '0', '--bind-address', '127.0.0.1', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /^port:\s+(\d+)\s*$/m.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    void exited.then((code) => reject(new Error(`WireMock exited ${String(code)} before listening:\n${out}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      const r = await request(`${url}/__admin/health`);
      await r.body.dump();
      if (r.statusCode === 200) break;
    } catch {
      // the banner comes out before Jetty accepts connections
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`WireMock at ${url} never became healthy:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, output: () => out, stop };
}
