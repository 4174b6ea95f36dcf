/**
 * Server side of Postgres password authentication for the mock: md5
 * (PostgreSQL docs, "Password Authentication") and SCRAM-SHA-256
 * (RFC 5802 and RFC 7677; PostgreSQL docs, "SASL Authentication").
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

function md5hex(s: string | Buffer): string {
  return createHash('md5').update(s).digest('hex');
}

/** The PasswordMessage an md5 client sends: "md5" + md5(md5(password + user) + salt). */
export function md5Response(user: string, password: string, salt: Buffer): string {
  return 'md5' + md5hex(Buffer.concat([Buffer.from(md5hex(password + user)), salt]));
}

export function isMd5PasswordValid(sent: string, user: string, password: string, salt: Buffer): boolean {
  const want = Buffer.from(md5Response(user, password, salt));
  const got = Buffer.from(sent);
  return want.length === got.length && timingSafeEqual(want, got);
}

const SCRAM_ITERATIONS = 4096;

export interface ScramServer {
  /** Handles SASLInitialResponse; returns server-first-message or an error text. */
  start(initial: Buffer): { ok: true; serverFirst: string } | { ok: false; reason: string };
  /** Handles SASLResponse (client-final-message); returns server-final-message or an error text. */
  finish(response: Buffer): { ok: true; serverFinal: string } | { ok: false; reason: string };
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function createScramServer(password: string): ScramServer {
  const salt = randomBytes(16);
  let clientFirstBare = '';
  let serverFirst = '';
  let nonce = '';
  return {
    start(initial) {
      // SASLInitialResponse: mechanism name, int32 length, client-first-message.
      const nul = initial.indexOf(0);
      if (nul === -1) return { ok: false, reason: 'malformed SASLInitialResponse' };
      const mechanism = initial.toString('utf8', 0, nul);
      if (mechanism !== 'SCRAM-SHA-256') return { ok: false, reason: `selected SASL authentication mechanism ${mechanism} is not supported` };
      const len = initial.readInt32BE(nul + 1);
      const msg = initial.toString('utf8', nul + 5, nul + 5 + Math.max(len, 0));
      // gs2-header "n,," or "y,," (no channel binding); "p=" would ask for SCRAM-SHA-256-PLUS.
      const m = /^[ny],[^,]*,(.*)$/.exec(msg);
      if (!m) return { ok: false, reason: 'malformed SCRAM message' };
      clientFirstBare = m[1] ?? '';
      const r = /(?:^|,)r=([^,]+)/.exec(clientFirstBare);
      if (!r) return { ok: false, reason: 'malformed SCRAM message (no nonce)' };
      nonce = (r[1] ?? '') + randomBytes(18).toString('base64');
      serverFirst = `r=${nonce},s=${salt.toString('base64')},i=${SCRAM_ITERATIONS}`;
      return { ok: true, serverFirst };
    },
    finish(response) {
      const msg = response.toString('utf8');
      const p = msg.lastIndexOf(',p=');
      if (p === -1) return { ok: false, reason: 'malformed SCRAM message (no proof)' };
      const withoutProof = msg.slice(0, p);
      const proof = Buffer.from(msg.slice(p + 3), 'base64');
      const r = /(?:^|,)r=([^,]+)/.exec(withoutProof);
      if (!r || r[1] !== nonce) return { ok: false, reason: 'SCRAM nonce does not match' };
      const salted = pbkdf2Sync(password.normalize('NFKC'), salt, SCRAM_ITERATIONS, 32, 'sha256');
      const clientKey = hmac(salted, 'Client Key');
      const storedKey = createHash('sha256').update(clientKey).digest();
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
      const clientSignature = hmac(storedKey, authMessage);
      if (proof.length !== clientSignature.length) return { ok: false, reason: 'invalid SCRAM proof' };
      const recovered = Buffer.alloc(proof.length);
      for (let i = 0; i < proof.length; i++) recovered[i] = (proof[i] as number) ^ (clientSignature[i] as number);
      const check = createHash('sha256').update(recovered).digest();
      if (!timingSafeEqual(check, storedKey)) return { ok: false, reason: 'invalid SCRAM proof' };
      const serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
      return { ok: true, serverFinal: `v=${serverSignature.toString('base64')}` };
    },
  };
}

export interface ScramClient {
  /** SASLInitialResponse payload: the client-first-message. */
  readonly clientFirst: string;
  /** Answers server-first-message with client-final-message, or an error text. */
  next(serverFirst: string): { ok: true; clientFinal: string } | { ok: false; reason: string };
  /** Checks the server-final-message: the server proves it knows the password too. */
  verify(serverFinal: string): boolean;
}

/** Client side of SCRAM-SHA-256 (RFC 5802, RFC 7677), for the mock's connections to a real server. */
export function createScramClient(password: string): ScramClient {
  const nonce = randomBytes(18).toString('base64');
  // Postgres takes the user from the startup packet and ignores n= (PostgreSQL docs, "SCRAM-SHA-256 Authentication").
  const clientFirstBare = `n=*,r=${nonce}`;
  let serverSignature: Buffer | undefined;
  return {
    clientFirst: `n,,${clientFirstBare}`,
    next(serverFirst) {
      const attrs = new Map<string, string>();
      for (const part of serverFirst.split(',')) {
        const eq = part.indexOf('=');
        if (eq > 0) attrs.set(part.slice(0, eq), part.slice(eq + 1));
      }
      const r = attrs.get('r');
      const s = attrs.get('s');
      const i = Number(attrs.get('i'));
      if (r === undefined || !r.startsWith(nonce) || s === undefined || !Number.isInteger(i) || i < 1) {
        return { ok: false, reason: 'malformed SCRAM server-first-message' };
      }
      const salted = pbkdf2Sync(password.normalize('NFKC'), Buffer.from(s, 'base64'), i, 32, 'sha256');
      const clientKey = hmac(salted, 'Client Key');
      const storedKey = createHash('sha256').update(clientKey).digest();
      const withoutProof = `c=biws,r=${r}`;
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
      const signature = hmac(storedKey, authMessage);
      const proof = Buffer.alloc(clientKey.length);
      for (let k = 0; k < proof.length; k++) proof[k] = (clientKey[k] as number) ^ (signature[k] as number);
      serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
      return { ok: true, clientFinal: `${withoutProof},p=${proof.toString('base64')}` };
    },
    verify(serverFinal) {
      const m = /(?:^|,)v=([^,]+)/.exec(serverFinal);
      if (m === null || serverSignature === undefined) return false;
      const got = Buffer.from(m[1] ?? '', 'base64');
      return got.length === serverSignature.length && timingSafeEqual(got, serverSignature);
    },
  };
}
