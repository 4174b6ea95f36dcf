/**
 * Connection start: SSL/GSS requests, TLS, the StartupMessage, and trust,
 * md5 or SCRAM-SHA-256 authentication, ending in the ParameterStatus
 * messages and ReadyForQuery (PostgreSQL docs, "Start-up").
 */
import { randomBytes, randomInt } from 'node:crypto';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { PgStartupResponse } from '../../core/exchange.js';
import { AuthCode, PROTOCOL_MAJOR, PROTOCOL_MINOR, SqlState } from '../../protocols/pg/constants.js';
import type { FrontendMessage } from '../../protocols/pg/frontend-decoder.js';
import { createScramServer, isMd5PasswordValid } from './auth.js';
import { attachSocket, closeConnection, type ConnContext, type Step } from './context.js';
import { fatal } from './error-fields.js';

const DEFAULT_PARAMETER_STATUS: Array<[string, string]> = [
  ['application_name', ''],
  ['client_encoding', 'UTF8'],
  ['DateStyle', 'ISO, MDY'],
  ['default_transaction_read_only', 'off'],
  ['in_hot_standby', 'off'],
  ['integer_datetimes', 'on'],
  ['IntervalStyle', 'postgres'],
  ['is_superuser', 'on'],
  ['server_encoding', 'UTF8'],
  ['server_version', '15.0'],
  ['session_authorization', 'postgres'],
  ['standard_conforming_strings', 'on'],
  ['TimeZone', 'UTC'],
];

/** The ParameterStatus values to send: the recorded server's, with what strict drivers require. */
export function parameterStatusOf(recorded: PgStartupResponse | undefined): Map<string, string> {
  const status = new Map<string, string>(DEFAULT_PARAMETER_STATUS);
  for (const [k, v] of recorded?.parameterStatus ?? DEFAULT_PARAMETER_STATUS) status.set(k, v);
  // Strict drivers refuse anything else (postgres.js and pgjdbc check these).
  status.set('client_encoding', 'UTF8');
  if (!/^ISO/i.test(status.get('DateStyle') ?? '')) status.set('DateStyle', 'ISO, MDY');
  status.set('integer_datetimes', 'on');
  status.set('standard_conforming_strings', 'on');
  return status;
}

export function onStartup(c: ConnContext, m: FrontendMessage): void {
  switch (m.type) {
    case 'sslRequest':
      if (c.mock.secure && !c.isTls) {
        startTls(c, c.mock.secure);
        return;
      }
      if (c.isTls) {
        // A second SSLRequest after TLS: postmaster answers it as an unsupported protocol version.
        c.w.errorResponse(fatal(SqlState.protocolViolation, 'unsupported frontend protocol 1234.5679: server supports 3.0 to 3.0'));
        closeConnection(c, true);
        return;
      }
      c.w.raw('N');
      refuseUnencryptedData(c, 'SSL');
      return;
    case 'gssEncRequest':
      c.w.raw('N');
      refuseUnencryptedData(c, 'GSSAPI encryption');
      return;
    case 'cancelRequest':
      // The mock runs nothing long enough to cancel; Postgres closes a cancel connection silently.
      closeConnection(c, false);
      return;
    case 'startup':
      onStartupMessage(c, m);
      return;
    case 'bind':
    case 'close':
    case 'copyData':
    case 'copyDone':
    case 'copyFail':
    case 'describe':
    case 'execute':
    case 'flush':
    case 'functionCall':
    case 'parse':
    case 'password':
    case 'query':
    case 'sync':
    case 'terminate':
      // Cannot come from a decoder still in its startup phase.
      closeConnection(c, false);
      return;
    default: {
      const never: never = m;
      return never;
    }
  }
}

/**
 * Bytes already buffered behind an SSL/GSS request are refused, as
 * postmaster.c does since the CVE-2021-23214 fix: they could have been
 * injected by a man in the middle.
 */
function refuseUnencryptedData(c: ConnContext, what: string): void {
  if (c.decoder.pendingBytes === 0) return;
  c.w.errorResponse({
    ...fatal(SqlState.protocolViolation, `received unencrypted data after ${what} request`),
    detail: 'This could be either a client-software bug or evidence of an attempted man-in-the-middle attack.',
  });
  closeConnection(c, true);
}

function startTls(c: ConnContext, secure: SecureContext): void {
  const plain = c.sock;
  plain.off('data', c.onData);
  c.w.raw('S');
  refuseUnencryptedData(c, 'SSL');
  if (c.step.k === 'closed') return;
  plain.write(c.w.take());
  const tls = new TLSSocket(plain, { isServer: true, secureContext: secure });
  tls.on('error', (err) => {
    c.mock.log.debug({ err }, 'pg mock TLS error');
    tls.destroy();
  });
  c.isTls = true;
  attachSocket(c, tls);
}

function onStartupMessage(c: ConnContext, m: Extract<FrontendMessage, { type: 'startup' }>): void {
  if (m.major !== PROTOCOL_MAJOR) {
    c.w.errorResponse(fatal(SqlState.featureNotSupported, `unsupported frontend protocol ${m.major}.${m.minor}: server supports 3.0 to 3.0`));
    closeConnection(c, true);
    return;
  }
  const unrecognized = Object.keys(m.parameters).filter((k) => k.startsWith('_pq_.'));
  if (m.minor > PROTOCOL_MINOR || unrecognized.length > 0) {
    // Newer minor versions and protocol options are negotiated down, not refused.
    c.w.negotiateProtocolVersion(PROTOCOL_MINOR, unrecognized);
  }
  const user = m.parameters.user;
  if (user === undefined || user === '') {
    c.w.errorResponse(fatal(SqlState.invalidAuthorization, 'no PostgreSQL user name specified in startup packet'));
    closeConnection(c, true);
    return;
  }
  if (m.parameters.replication !== undefined && m.parameters.replication !== 'false' && m.parameters.replication !== 'off') {
    c.w.errorResponse(fatal(SqlState.featureNotSupported, 'doppel mock: replication connections are not supported in mock'));
    closeConnection(c, true);
    return;
  }
  c.user = user;
  for (const [k, v] of Object.entries(m.parameters)) if (!k.startsWith('_pq_.')) c.startupParams[k] = v;
  if (c.mock.user !== undefined && c.mock.user !== user) {
    authFailed(c);
    return;
  }
  c.appName = m.parameters.application_name;
  const auth = c.mock.auth;
  switch (auth) {
    case 'trust':
      startupDone(c);
      return;
    case 'md5': {
      const salt = randomBytes(4);
      c.w.authentication(AuthCode.MD5Password, salt);
      c.step = { k: 'md5', salt };
      return;
    }
    case 'scram-sha-256': {
      const mech = Buffer.from('SCRAM-SHA-256\0\0', 'utf8');
      c.w.authentication(AuthCode.SASL, mech);
      c.step = { k: 'scramFirst', scram: createScramServer(c.mock.password as string) };
      return;
    }
    default: {
      const never: never = auth;
      return never;
    }
  }
}

function authFailed(c: ConnContext): void {
  c.w.errorResponse(fatal(SqlState.invalidPassword, `password authentication failed for user "${c.user}"`));
  closeConnection(c, true);
}

export function onAuth(c: ConnContext, step: Extract<Step, { k: 'md5' | 'scramFirst' | 'scramFinal' }>, m: FrontendMessage): void {
  if (m.type !== 'password') {
    if (m.type === 'terminate') {
      closeConnection(c, false);
      return;
    }
    c.w.errorResponse(fatal(SqlState.protocolViolation, `expected password response, got message type ${m.type}`));
    closeConnection(c, true);
    return;
  }
  switch (step.k) {
    case 'md5': {
      const sent = m.data.toString('utf8').replace(/\0$/, '');
      if (!isMd5PasswordValid(sent, c.user, c.mock.password as string, step.salt)) {
        authFailed(c);
        return;
      }
      startupDone(c);
      return;
    }
    case 'scramFirst': {
      const r = step.scram.start(m.data);
      if (!r.ok) {
        c.w.errorResponse(fatal(SqlState.protocolViolation, r.reason));
        closeConnection(c, true);
        return;
      }
      c.w.authentication(AuthCode.SASLContinue, Buffer.from(r.serverFirst));
      c.step = { k: 'scramFinal', scram: step.scram };
      return;
    }
    case 'scramFinal': {
      const r = step.scram.finish(m.data);
      if (!r.ok) {
        authFailed(c);
        return;
      }
      c.w.authentication(AuthCode.SASLFinal, Buffer.from(r.serverFinal));
      startupDone(c);
      return;
    }
    default: {
      const never: never = step;
      return never;
    }
  }
}

function startupDone(c: ConnContext): void {
  c.w.authenticationOk();
  for (const [k, v] of c.mock.parameterStatus) {
    if (k === 'application_name') c.w.parameterStatus(k, c.appName ?? v);
    else if (k === 'session_authorization') c.w.parameterStatus(k, c.user);
    else c.w.parameterStatus(k, v);
  }
  c.w.backendKeyData(randomInt(1, 2 ** 31 - 1), randomInt(-(2 ** 31), 2 ** 31 - 1));
  c.w.readyForQuery('I');
  c.step = { k: 'ready' };
}
