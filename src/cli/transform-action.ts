/** What `doppel transform` runs: a traffic directory read, rewritten by rules, written to another. */
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { DoppelError, ExitCode, usageError } from '../core/errors.js';
import { resolveRedactKey } from '../core/redact.js';
import { createFileStoreReader, createFileStoreWriter } from '../store/file-store.js';
import { describeReport, emptyReport, note } from '../formats/import-report.js';
import { createTransformer, parseTransformRules, type TransformRules } from '../formats/transform-rules.js';
import type { CommandContext } from './context.js';

export interface TransformFlags {
  in?: string;
  out?: string;
  rules?: string;
}

const NO_RULES: TransformRules = { drop: [], setHeaders: { request: [], response: [] }, removeHeaders: { request: [], response: [] }, redactJsonPaths: [] };

export async function transformAction(flags: TransformFlags, ctx: CommandContext): Promise<ExitCode> {
  if (flags.in === undefined || flags.out === undefined) throw usageError('transform needs --in DIR and --out DIR');
  const input = resolvePath(ctx.io.cwd, flags.in);
  const out = resolvePath(ctx.io.cwd, flags.out);
  if (input === out) throw usageError('transform: --out must differ from --in (the input is read while the output is written)');
  let rules = NO_RULES;
  if (flags.rules !== undefined) {
    let text: string;
    try {
      text = await readFile(resolvePath(ctx.io.cwd, flags.rules), 'utf8');
    } catch (cause) {
      throw new DoppelError('DOPPEL_CONFIG_NOT_FOUND', `${flags.rules}: cannot read transform rules (${(cause as Error).message})`, { cause });
    }
    rules = parseTransformRules(text, flags.rules);
  }
  const config = ctx.config;
  // Same key as capture, so a value redacted here gets the placeholder capture would give it.
  const key = await resolveRedactKey({ envKey: ctx.runtime.redactKey, keyFile: config.redact.key_file, trafficDirs: [input, out], cwd: ctx.io.cwd });
  if (rules.redactJsonPaths.length > 0 && key.source === 'generated') {
    ctx.io.stderr.write('transform: no DOPPEL_REDACT_KEY or redact.key_file; placeholders use a one-off key and will not match other recordings\n');
  }
  const report = emptyReport();
  const transformer = createTransformer(rules, key.key, {
    maxDecodedBytes: config.compare.max_body_bytes,
    onUndecoded: (u) => note(report, `compressed bodies left as they were, their JSON paths not redacted (${u.reason.replace('_', ' ')})`),
  });
  const reader = createFileStoreReader([input]);
  const writer = await createFileStoreWriter({ dir: out });
  try {
    for await (const ex of reader.read({ onCorrupt: (c) => report.skipped.push({ where: `${c.source}:${c.line}`, reason: c.reason }) })) {
      const next = transformer.apply(ex);
      if (next === undefined) {
        note(report, 'dropped by rules');
        continue;
      }
      await writer.append(next);
      report.written++;
    }
  } finally {
    await writer.close();
  }
  ctx.io.stderr.write(describeReport(report, 'wrote', 'exchanges'));
  return ExitCode.ok;
}
