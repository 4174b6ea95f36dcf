import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cutsArb, fuzz, splitAt } from './fuzz-run.js';
import { checkFrontendStream, decodeFrontend, encodeFrontend, frontendMessageArb, frontendStreamArb, startupArb } from './targets/pg-frontend-codec.js';

describe('pg frontend decoder under fuzzing', () => {
  it('reads back every message it is given, however the stream is split', async () => {
    const arb = fc.record({ startup: startupArb, messages: fc.array(frontendMessageArb, { maxLength: 10 }), cuts: cutsArb });
    await fuzz(
      'pg-frontend',
      arb,
      ({ startup, messages, cuts }) => {
        const stream = Buffer.concat([startup, ...messages.map((m) => encodeFrontend(m) as Buffer)]);
        const { events, pending } = decodeFrontend(splitAt(stream, cuts));
        expect(pending).toBe(0);
        expect(events[0]?.type).toBe('startup');
        expect(events.slice(1)).toEqual(messages);
      },
      300,
    );
  });

  it('never throws on damaged streams and splits never change what is read', async () => {
    await fuzz('pg-frontend', fc.tuple(frontendStreamArb, cutsArb), ([input, cuts]) => checkFrontendStream(input, splitAt(input, cuts)), 1500);
  });

  it('never throws on raw bytes', async () => {
    const raw = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a));
    await fuzz('pg-frontend', fc.tuple(raw, cutsArb), ([input, cuts]) => checkFrontendStream(input, splitAt(input, cuts)), 500);
  });
});
