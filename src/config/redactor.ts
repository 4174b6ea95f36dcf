/**
 * The redactor a config's `redact:` section describes. Recording and the
 * HTTP mock's passthrough recording build it alike, so both write the same
 * placeholders for the same secrets under one key.
 */
import { createRedactor, type RedactionKind, type Redactor } from '../core/redact.js';
import type { ResolvedConfig } from './resolve.js';

export function redactorFromConfig(redact: Readonly<ResolvedConfig['redact']>, key: Buffer, onRedact: (kind: RedactionKind) => void): Redactor {
  return createRedactor({
    key,
    enabled: redact.enabled,
    headers: redact.headers,
    queryParams: redact.query_params,
    jsonPaths: redact.json_paths,
    onRedact,
  });
}
