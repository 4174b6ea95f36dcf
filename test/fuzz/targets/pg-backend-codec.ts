/**
 * Server -> client messages: the writer the mock answers with, the decoder
 * the recorder and the passthrough read with, and the checks that hold for
 * any byte stream.
 */
import { expect } from 'vitest';
import fc from 'fast-check';
import { isDoppelError } from '../../../src/core/errors.js';
import type { PgErrorFields, PgField, TxStatus } from '../../../src/core/exchange.js';
import { BackendDecoder, type BackendEvent } from '../../../src/protocols/pg/backend-decoder.js';
import { BackendWriter } from '../../../src/protocols/pg/backend-encoder.js';
import type { FuzzTarget } from '../fuzz-run.js';

type Outcome = { events: BackendEvent[]; error?: string };

/** Every event of a stream fed in the given chunks; a thrown error ends the stream and must be a coded one. */
export function decodeBackend(chunks: readonly Buffer[]): Outcome {
  const d = new BackendDecoder({ maxMessageBytes: 64 * 1024 });
  const events: BackendEvent[] = [];
  try {
    for (const c of chunks) {
      d.push(c);
      for (let e = d.next(); e !== undefined; e = d.next()) events.push(copyEvent(e));
    }
  } catch (err) {
    if (!isDoppelError(err)) throw err;
    expect(err.code).toBe('DOPPEL_UPSTREAM_UNAVAILABLE');
    return { events, error: err.message };
  }
  return { events };
}

/** DataRow cells are views into the received chunk; the comparison needs their bytes. */
function copyEvent(e: BackendEvent): BackendEvent {
  return e.type === 'dataRow' ? { type: 'dataRow', cells: e.cells.map((c) => (c === null ? null : Buffer.from(c))) } : e;
}

function oneByteChunks(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
  return out;
}

/** For any bytes: only coded errors, and one chunk or any split reads the same events and fails at the same frame. */
export function checkBackendStream(input: Buffer, chunks: readonly Buffer[] = oneByteChunks(input)): void {
  const whole = decodeBackend([input]);
  const split = decodeBackend(chunks);
  expect(split).toEqual(whole);
}

export const pgBackendTarget: FuzzTarget = {
  name: 'pg-backend',
  ext: 'bin',
  check: (input) => checkBackendStream(input),
};

const text = fc.string({ maxLength: 16 }).map((s) => s.replaceAll('\0', ''));
const bytes = fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a));
const int16 = fc.integer({ min: -32768, max: 32767 });
const int32 = fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff });
const oid = fc.nat({ max: 0xffff_ffff });

const fieldArb: fc.Arbitrary<PgField> = fc.record({
  name: text,
  tableOid: oid,
  column: int16,
  typeOid: oid,
  typeSize: int16,
  typeMod: int32,
  format: fc.constantFrom(0, 1),
});

const errorFieldsArb: fc.Arbitrary<PgErrorFields> = fc
  .record({ code: text, message: text, severity: fc.option(text, { nil: undefined }), detail: fc.option(text, { nil: undefined }), hint: fc.option(text, { nil: undefined }) })
  .map((f) => Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as PgErrorFields);

/** One message: how the writer writes it and the event the decoder should read back. */
type Step = { write: (w: BackendWriter) => void; event: BackendEvent };

const step = (write: (w: BackendWriter) => void, event: BackendEvent): Step => ({ write, event });

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.array(fc.option(bytes, { nil: null }), { maxLength: 6 }).map((cells) => step((w) => w.dataRow(cells), { type: 'dataRow', cells })),
  fc.array(fieldArb, { maxLength: 4 }).map((fields) => step((w) => w.rowDescription(fields, (i) => fields[i]!.format), { type: 'rowDescription', fields })),
  fc.array(oid, { maxLength: 4 }).map((types) => step((w) => w.parameterDescription(types), { type: 'parameterDescription', types })),
  text.map((tag) => step((w) => w.commandComplete(tag), { type: 'commandComplete', tag })),
  fc.constantFrom<TxStatus>('I', 'T', 'E').map((status) => step((w) => w.readyForQuery(status), { type: 'readyForQuery', status })),
  errorFieldsArb.map((fields) => step((w) => w.errorResponse(fields), { type: 'error', fields })),
  errorFieldsArb.map((fields) => step((w) => w.noticeResponse(fields), { type: 'notice', fields })),
  fc.tuple(text, text).map(([name, value]) => step((w) => w.parameterStatus(name, value), { type: 'parameterStatus', name, value })),
  fc.tuple(int32, int32).map(([processId, secretKey]) => step((w) => w.backendKeyData(processId, secretKey), { type: 'backendKeyData', processId, secretKey })),
  fc.constantFrom(
    step((w) => w.authenticationOk(), { type: 'authentication', code: 0, mechanisms: [] }),
    step((w) => w.parseComplete(), { type: 'parseComplete' }),
    step((w) => w.bindComplete(), { type: 'bindComplete' }),
    step((w) => w.closeComplete(), { type: 'closeComplete' }),
    step((w) => w.noData(), { type: 'noData' }),
    step((w) => w.portalSuspended(), { type: 'portalSuspended' }),
    step((w) => w.emptyQueryResponse(), { type: 'emptyQuery' }),
  ),
);

/** A run of messages written into one batch, and the events they read back as. */
export const backendBatchArb = fc.array(stepArb, { maxLength: 10 }).map((steps) => {
  const w = new BackendWriter(16);
  for (const s of steps) s.write(w);
  return { bytes: w.take(), events: steps.map((s) => s.event) };
});

/** A valid batch, then perhaps damaged: bytes flipped, cut, or noise appended. */
export const backendStreamArb = fc
  .record({ batch: backendBatchArb, flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), cut: fc.option(fc.nat()), noise: bytes })
  .map(({ batch, flips, cut, noise }) => {
    const buf = Buffer.concat([batch.bytes, noise]);
    for (const [at, v] of flips) if (buf.length > 0) buf[at % buf.length] = v;
    return cut === null ? buf : buf.subarray(0, cut % (buf.length + 1));
  });
