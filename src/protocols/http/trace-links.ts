/**
 * Links outbound exchanges to the inbound exchange that caused them through a
 * W3C Trace Context `traceparent` the service propagates
 * (https://www.w3.org/TR/trace-context/#traceparent-header):
 * `00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>`.
 */
import { LRUCache } from 'lru-cache';

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;

/** The trace id of a traceparent value, or undefined when malformed or all zero. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  if (traceparent === undefined) return undefined;
  const m = TRACEPARENT.exec(traceparent.trim().toLowerCase());
  if (!m) return undefined;
  const id = m[1] as string;
  return id === '00000000000000000000000000000000' ? undefined : id;
}

/** First traceparent in a raw header list. */
export function traceparentOf(raw: readonly string[]): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length === 11 && n.toLowerCase() === 'traceparent') return raw[i + 1];
  }
  return undefined;
}

export interface InboundLink {
  id: string;
  rawHeaders: readonly string[];
  connectionId: string;
}

export interface TraceLinks {
  /** remembers the inbound exchange of a trace */
  inbound(traceId: string, link: InboundLink): void;
  /** the inbound exchange of a trace, when seen recently */
  find(traceId: string): InboundLink | undefined;
}

/** Bounded: an outbound call arrives while its inbound request is still open, so recent traces suffice. */
export function createTraceLinks(maxTraces = 10_000): TraceLinks {
  const cache = new LRUCache<string, InboundLink>({ max: maxTraces });
  return {
    inbound: (traceId, link) => void cache.set(traceId, link),
    find: (traceId) => cache.get(traceId),
  };
}
