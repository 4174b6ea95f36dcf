/**
 * The outbound diff: per call key, how often the primary and the candidate
 * called each downstream for one request, and a bounded tally of the keys
 * whose counts differed, per endpoint, for the live view and the report.
 */
import type { OutboundCall, OutboundDiff, OutboundSummary } from './types.js';

const MAX_OUTBOUND_KEYS = 500;

/** Per call key, how many times each side called it; keys whose counts differ. */
export function diffOutbound(primary: readonly OutboundCall[], candidate: readonly OutboundCall[]): OutboundDiff[] {
  const counts = new Map<string, OutboundDiff>();
  const bump = (c: OutboundCall, side: 'primary' | 'candidate') => {
    const k = `${c.service}\u0000${c.key}`;
    let d = counts.get(k);
    if (d === undefined) {
      d = { service: c.service, key: c.key, primary: 0, candidate: 0 };
      counts.set(k, d);
    }
    d[side]++;
  };
  for (const c of primary) bump(c, 'primary');
  for (const c of candidate) bump(c, 'candidate');
  const out: OutboundDiff[] = [];
  for (const d of counts.values()) if (d.primary !== d.candidate) out.push(d);
  return out;
}

interface Tally {
  endpoint: string;
  service: string;
  key: string;
  requests: number;
  extra: number;
}

export interface OutboundTally {
  add(endpoint: string, diffs: readonly OutboundDiff[]): void;
  /** largest differences first */
  summaries(): OutboundSummary[];
}

export function createOutboundTally(): OutboundTally {
  const tally = new Map<string, Tally>();
  return {
    add(endpoint, diffs) {
      for (const d of diffs) {
        const k = `${endpoint}\u0000${d.service}\u0000${d.key}`;
        let t = tally.get(k);
        if (t === undefined) {
          if (tally.size >= MAX_OUTBOUND_KEYS) continue;
          t = { endpoint, service: d.service, key: d.key, requests: 0, extra: 0 };
          tally.set(k, t);
        }
        t.requests++;
        t.extra += d.candidate - d.primary;
      }
    },
    summaries() {
      return [...tally.values()]
        .map((t) => ({
          endpoint: t.endpoint,
          service: t.service,
          key: t.key,
          requests: t.requests,
          extraCalls: t.extra,
          message: describeOutbound(t),
        }))
        .sort((a, b) => Math.abs(b.extraCalls) - Math.abs(a.extraCalls) || a.endpoint.localeCompare(b.endpoint));
    },
  };
}

function describeOutbound(t: Tally): string {
  const per = t.requests === 0 ? 0 : t.extra / t.requests;
  const n = Math.round(Math.abs(per) * 10) / 10;
  if (t.extra === 0) return `candidate's ${t.service} calls ${t.key} on ${t.endpoint} differ from the primary's in ${t.requests} request(s)`;
  return `candidate issued ${n} ${per > 0 ? 'more' : 'fewer'} ${t.service} ${t.key} call(s) per request on ${t.endpoint} (${t.requests} request(s))`;
}
