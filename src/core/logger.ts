import pino, { type Logger, type DestinationStream, type LevelWithSilent } from 'pino';
import { createRequire } from 'node:module';

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

/** `auto`: human-readable lines on a terminal, JSON lines otherwise (files, pipes, log shippers). */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** A log destination; `isTTY` (a Node stream's) lets `auto` tell a terminal from a pipe. */
export type LogDestination = DestinationStream & { isTTY?: boolean };

export interface LoggerOptions {
  level: LevelWithSilent;
  /** where lines go; stderr by default so stdout stays for command output */
  destination?: LogDestination;
  /** `auto` when absent */
  format?: LogFormat;
}

export function createLogger(opts: LoggerOptions): Logger {
  const isTty = opts.destination === undefined ? process.stderr.isTTY === true : opts.destination.isTTY === true;
  const isPretty = opts.format === 'pretty' || ((opts.format ?? 'auto') === 'auto' && isTty);
  const options = {
    name: 'doppel',
    level: opts.level,
    redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  if (!isPretty) return pino(options, opts.destination ?? pino.destination({ fd: 2, sync: false }));
  // A person reads these between the command's own output lines: formatted in the
  // writing call (not in a transport thread), so they keep their order with that output.
  const destination = opts.destination ?? pino.destination({ fd: 2, sync: true });
  return pino(options, prettyDestination(destination, isTty));
}

/**
 * One short line per record: local time, level, message, then the fields. On a
 * terminal it first erases the line the cursor is on (ECMA-48 CR + EL), where a
 * progress bar may be drawn; the bar redraws below on its next tick.
 */
function prettyDestination(destination: DestinationStream, isTty: boolean): DestinationStream {
  // Loaded only here: it costs ~100 ms of startup that JSON logging never needs.
  const { prettyFactory, isColorSupported } = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  const format = prettyFactory({ colorize: isTty && isColorSupported, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' });
  const prefix = isTty ? '\r\x1b[K' : '';
  return { write: (line: string) => destination.write(prefix + format(line)) };
}
