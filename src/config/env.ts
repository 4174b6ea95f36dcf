/**
 * The only reader of the process environment besides `${VAR}` expansion:
 * secrets and switches that must never live in a config file.
 */
export interface RuntimeEnv {
  /** bearer token for the admin API (required off loopback) */
  adminToken: string | undefined;
  /** key for redaction placeholders (else a key file is used) */
  redactKey: string | undefined;
  isCI: boolean;
  /** raw environment for `${VAR}` expansion and `{{env.NAME}}` replay variables */
  vars: Readonly<Record<string, string | undefined>>;
}

export function readRuntimeEnv(env: Readonly<Record<string, string | undefined>>): RuntimeEnv {
  const token = env.DOPPEL_ADMIN_TOKEN;
  const key = env.DOPPEL_REDACT_KEY;
  return {
    adminToken: token === undefined || token === '' ? undefined : token,
    redactKey: key === undefined || key === '' ? undefined : key,
    isCI: env.CI === 'true' || env.CI === '1',
    vars: env,
  };
}
