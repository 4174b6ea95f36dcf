/**
 * One vocabulary for why a peer doppel forwards to failed (the record
 * upstream, HTTP dependency targets, the Postgres server behind the relay or
 * behind mock passthrough): the `reason` label of doppel_upstream_failures_total.
 * A small closed set, so the label stays bounded whatever the error.
 */
import { DoppelError } from './errors.js';

export const PeerFailureReason = {
  /** nothing listens: ECONNREFUSED */
  refused: 'refused',
  /** accepted, then too slow: connect, head or between-chunk deadline */
  timeout: 'timeout',
  /** the connection was reset or closed before the answer was whole */
  reset: 'reset',
  /** bytes that are not the protocol: a bad status line or header, a framing error */
  malformed: 'malformed',
  /** a message or head over its configured limit */
  too_large: 'too_large',
  other: 'other',
} as const;
export type PeerFailureReason = (typeof PeerFailureReason)[keyof typeof PeerFailureReason];

const BY_CODE: Record<string, PeerFailureReason> = {
  ECONNREFUSED: 'refused',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  ETIMEDOUT: 'timeout',
  DOPPEL_UPSTREAM_TIMEOUT: 'timeout',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  UND_ERR_SOCKET: 'reset',
  UND_ERR_CLOSED: 'reset',
  // Node's http2: the peer reset the stream (RST_STREAM with an error code) or the session failed
  ERR_HTTP2_STREAM_ERROR: 'reset',
  ERR_HTTP2_SESSION_ERROR: 'reset',
  ERR_HTTP2_GOAWAY_SESSION: 'reset',
  // undici: the body ended before its Content-Length (RFC 9112 §6.3: an incomplete message)
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'reset',
  HPE_HEADER_OVERFLOW: 'too_large',
  UND_ERR_HEADERS_OVERFLOW: 'too_large',
  UND_ERR_RES_EXCEEDED_MAX_SIZE: 'too_large',
  // undici's error for bytes that are not an HTTP/1.1 response; it often carries no code
  HTTPParserError: 'malformed',
};

/**
 * A failure doppel detects itself (a server that closed mid-session, a frame
 * over its limit, a deadline), carrying its reason; an upstream error
 * (DOPPEL_UPSTREAM_TIMEOUT for deadlines) like any other.
 */
export class PeerFailureError extends DoppelError {
  readonly reason: PeerFailureReason;
  constructor(reason: PeerFailureReason, message: string, options: { cause?: unknown } = {}) {
    super(reason === 'timeout' ? 'DOPPEL_UPSTREAM_TIMEOUT' : 'DOPPEL_UPSTREAM_UNAVAILABLE', message, options);
    this.reason = reason;
  }
}

/** The error's own code, or its cause's (undici wraps socket errors), or the name of undici's parser error. */
export function errorCodeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; name?: unknown; cause?: { code?: unknown } } | null | undefined;
  if (typeof e?.code === 'string') return e.code;
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  if (e?.name === 'HTTPParserError') return e.name;
  return undefined;
}

export function peerFailureReason(err: unknown): PeerFailureReason {
  if (err instanceof PeerFailureError) return err.reason;
  const code = errorCodeOf(err);
  if (code === undefined) return 'other';
  const known = BY_CODE[code];
  if (known !== undefined) return known;
  // llhttp's parse errors (HPE_INVALID_CONSTANT, HPE_INVALID_STATUS, ...) and undici's protocol errors.
  if (code.startsWith('HPE_') || code === 'UND_ERR_INFO') return 'malformed';
  return 'other';
}
