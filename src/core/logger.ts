import pino, { type Logger, type DestinationStream, type LevelWithSilent } from 'pino';

export type { Logger };

/** Paths pino blanks in every log line: credentials never reach the logs. */
export const LOG_REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'headers["proxy-authorization"]',
  'headers["x-api-key"]',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["set-cookie"]',
  '*.headers["proxy-authorization"]',
  '*.headers["x-api-key"]',
];

export interface LoggerOptions {
  level: LevelWithSilent;
  /** where lines go; stderr by default so stdout stays for command output */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      name: 'doppel',
      level: opts.level,
      redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    opts.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}
