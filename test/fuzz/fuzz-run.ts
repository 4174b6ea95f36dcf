/**
 * Runs a fast-check property with the run count and seed taken from the
 * environment: FUZZ_RUNS (runs per property; `npm run fuzz` raises it) and
 * FUZZ_SEED (replays a failure printed by an earlier run; fixed inside
 * `npm test`). A failure prints
 * the seed, the shrunk input and where to save it as a corpus file.
 */
import fc from 'fast-check';

export interface FuzzTarget {
  /** folder under test/corpus/ */
  readonly name: string;
  /** file extension of its corpus inputs */
  readonly ext: string;
  /** Checks every property that holds for one input; throws on a violation. */
  check(input: Buffer): void | Promise<void>;
}

function envNumber(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** Runs per property: FUZZ_RUNS when set, else the target's default (sized for `npm test`). */
export function fuzzRuns(defaultRuns: number): number {
  return envNumber('FUZZ_RUNS') ?? defaultRuns;
}

function describeInput(value: unknown): string {
  const bytes = Buffer.isBuffer(value) ? value : Array.isArray(value) ? value.find((v) => Buffer.isBuffer(v)) : undefined;
  if (Buffer.isBuffer(bytes)) return `input (base64): ${bytes.toString('base64')}`;
  return `input: ${fc.stringify(value)}`;
}

/**
 * The seed of the brief run inside `npm test`, which must pass or fail the same
 * way on every machine; `npm run fuzz` (FUZZ_RUNS set) draws a fresh seed each
 * run to search further.
 */
const TEST_SEED = 20_261_204;

/** Asserts a property; a failure names the seed to replay and the input to save under test/corpus/<target>/. */
export async function fuzz<T>(target: string, arb: fc.Arbitrary<T>, property: (value: T) => void | Promise<void>, defaultRuns: number): Promise<void> {
  const seed = envNumber('FUZZ_SEED') ?? (process.env.FUZZ_RUNS === undefined ? TEST_SEED : undefined);
  const details = await fc.check(
    fc.asyncProperty(arb, async (v) => {
      await property(v);
    }),
    { numRuns: fuzzRuns(defaultRuns), ...(seed === undefined ? {} : { seed }) },
  );
  if (!details.failed) return;
  const counterexample = details.counterexample?.[0];
  throw new Error(
    [
      `fuzz target ${target} failed (replay with FUZZ_SEED=${details.seed})`,
      describeInput(counterexample),
      `save the input as test/corpus/${target}/<name> so every run replays it`,
      fc.defaultReportMessage(details) ?? '',
    ].join('\n'),
    { cause: details.errorInstance },
  );
}

/** Cut points splitting a buffer into chunks, as a socket may deliver it. */
export function splitAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

/** Where a stream is cut into chunks. */
export const cutsArb = fc.array(fc.nat(), { maxLength: 12 });
