/**
 * Every error doppel raises on purpose: a stable code, a message, an HTTP
 * status and a Postgres SQLSTATE mapping, an exit code, and the cause.
 */

export const ExitCode = {
  ok: 0,
  gateFailed: 1,
  usage: 2,
  aborted: 3,
  internal: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

interface ErrorSpec {
  status: number;
  sqlState: string;
  exit: ExitCode;
}

const specs = {
  DOPPEL_USAGE: { status: 400, sqlState: '42601', exit: ExitCode.usage },
  DOPPEL_CONFIG_INVALID: { status: 400, sqlState: '22023', exit: ExitCode.usage },
  DOPPEL_CONFIG_NOT_FOUND: { status: 400, sqlState: '58P01', exit: ExitCode.usage },
  DOPPEL_INPUT_INVALID: { status: 400, sqlState: '22P02', exit: ExitCode.usage },
  DOPPEL_STORE_VERSION: { status: 400, sqlState: '22023', exit: ExitCode.usage },
  DOPPEL_STORE_NOT_FOUND: { status: 404, sqlState: '58P01', exit: ExitCode.usage },
  DOPPEL_STORE_IO: { status: 500, sqlState: '58030', exit: ExitCode.internal },
  // A store that cannot be reached at start is a setting to fix (wrong URL, Redis down), not a crash.
  DOPPEL_STORE_UNREACHABLE: { status: 503, sqlState: '08001', exit: ExitCode.usage },
  DOPPEL_REPORT_IO: { status: 500, sqlState: '58030', exit: ExitCode.usage },
  DOPPEL_ADMIN_TOKEN_REQUIRED: { status: 401, sqlState: '28000', exit: ExitCode.usage },
  DOPPEL_NOT_IMPLEMENTED: { status: 501, sqlState: '0A000', exit: ExitCode.usage },
  DOPPEL_BAD_REQUEST: { status: 400, sqlState: '08P01', exit: ExitCode.usage },
  DOPPEL_UPSTREAM_UNAVAILABLE: { status: 502, sqlState: '08006', exit: ExitCode.aborted },
  DOPPEL_UPSTREAM_TIMEOUT: { status: 504, sqlState: '57014', exit: ExitCode.aborted },
  DOPPEL_MOCK_UNMATCHED: { status: 404, sqlState: 'XX000', exit: ExitCode.usage },
  DOPPEL_OVERLOADED: { status: 503, sqlState: '53300', exit: ExitCode.aborted },
  DOPPEL_RUN_ABORTED: { status: 503, sqlState: '57P01', exit: ExitCode.aborted },
  DOPPEL_GATE_FAILED: { status: 200, sqlState: 'XX000', exit: ExitCode.gateFailed },
  DOPPEL_INTERNAL: { status: 500, sqlState: 'XX000', exit: ExitCode.internal },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof specs;

export class DoppelError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly sqlState: string;
  readonly exitCode: ExitCode;
  /** extra lines shown to a person (one per problem, e.g. config errors) */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: readonly string[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DoppelError';
    this.code = code;
    const spec: ErrorSpec = specs[code];
    this.status = spec.status;
    this.sqlState = spec.sqlState;
    this.exitCode = spec.exit;
    this.details = options.details ?? [];
  }
}

export function isDoppelError(err: unknown): err is DoppelError {
  return err instanceof DoppelError;
}

export function usageError(message: string, details?: readonly string[]): DoppelError {
  return new DoppelError('DOPPEL_USAGE', message, details ? { details } : {});
}

export function notImplemented(what: string): DoppelError {
  return new DoppelError('DOPPEL_NOT_IMPLEMENTED', `${what} is not built yet in this version`);
}

/** A short string for logs and one-line terminal messages. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
