/**
 * Mock miss storms: a candidate that suddenly calls what was never recorded,
 * at saturation. Hits and misses against the same mock process (1,001
 * recordings loaded), side by side, with the miss log silent and at info (to
 * /dev/null, so the limiter is measured and not a terminal). Misses call an
 * endpoint that was never recorded, two ways: the same request over and over
 * (one miss key), and a new id in the path on every request (a new key each
 * time, so no cache can answer).
 */
import { benchPath } from './http-bench-data.js';
import { fmt, load, median, spawnServer, type Child, type LoadResult } from './http-bench-load.js';

const RECORDINGS = 1001;
const CONNECTIONS = 50;

interface Measure {
  load: LoadResult;
  cpuPerRequest: number;
}

type Kind = 'hit' | 'miss, one key' | 'miss, new key each';
const KINDS: readonly Kind[] = ['hit', 'miss, one key', 'miss, new key each'];

export async function missBench(o: { quick: boolean; log: (s: string) => void }): Promise<string> {
  const rounds = o.quick ? 1 : 3;
  const dur = o.quick ? 1 : 3;
  const hits = Array.from({ length: RECORDINGS }, (_, i) => benchPath(i));
  let n = 0;
  const loadOf: Record<Kind, { paths?: string[]; nextPath?: () => string }> = {
    hit: { paths: hits },
    'miss, one key': { paths: ['/refunds/ord_1?view=full'] },
    'miss, new key each': { nextPath: () => `/refunds/ord_${n++}?view=full` },
  };
  const servers: Record<string, Child> = {
    'log silent': await spawnServer('mock-miss', `${RECORDINGS}:silent`),
    'log info': await spawnServer('mock-miss', `${RECORDINGS}:info`),
  };
  const res: Record<string, Measure[]> = {};
  try {
    for (const s of Object.values(servers)) for (const k of KINDS) await load(s.url, { connections: CONNECTIONS, duration: 1, ...loadOf[k] });
    for (let r = 0; r < rounds; r++) {
      for (const [name, s] of Object.entries(servers)) {
        for (const k of r % 2 === 0 ? KINDS : [...KINDS].reverse()) {
          const before = await s.cpuMicros();
          const l = await load(s.url, { connections: CONNECTIONS, duration: dur, ...loadOf[k] });
          const after = await s.cpuMicros();
          const m = { load: l, cpuPerRequest: (after - before) / Math.max(1, l.total) };
          (res[`${name}|${k}`] ??= []).push(m);
          o.log(`miss round ${r + 1} ${name} ${k}: ${fmt(l.rps)} req/s, p99 ${l.p99} ms, ${fmt(m.cpuPerRequest, 1)} µs CPU/request`);
        }
      }
    }
  } finally {
    for (const s of Object.values(servers)) await s.stop();
  }
  let md = `### HTTP mock miss storm (${RECORDINGS} recordings, ${CONNECTIONS} connections, ${rounds} round(s) of ${dur}s per case)\n\n`;
  md += '| miss log | request | req/s | p99 ms | CPU µs/request | miss/hit CPU | miss/hit req/s | non-2xx | errors |\n|---|---|---|---|---|---|---|---|---|\n';
  for (const name of Object.keys(servers)) {
    const hit = res[`${name}|hit`] ?? [];
    for (const k of KINDS) {
      const m = res[`${name}|${k}`] ?? [];
      // ratios per round, against the hit measured in the same round
      const cpuRatio = median(m.map((x, i) => x.cpuPerRequest / Math.max(1e-9, (hit[i] as Measure).cpuPerRequest)));
      const rpsRatio = median(m.map((x, i) => x.load.rps / Math.max(1e-9, (hit[i] as Measure).load.rps)));
      md += `| ${name.replace('log ', '')} | ${k} | ${fmt(median(m.map((x) => x.load.rps)))} | ${fmt(median(m.map((x) => x.load.p99)), 1)} | ${fmt(median(m.map((x) => x.cpuPerRequest)), 1)} | ${k === 'hit' ? '—' : fmt(cpuRatio, 2) + 'x'} | ${k === 'hit' ? '—' : fmt(rpsRatio, 2) + 'x'} | ${m.reduce((s, x) => s + x.load.non2xx, 0)} | ${m.reduce((s, x) => s + x.load.errors, 0)} |\n`;
    }
  }
  md += '\nTarget: a miss costs <= 3x the CPU of a hit. CPU is the mock process only.\n';
  return md;
}
