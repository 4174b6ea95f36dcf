/** A file written piece by piece, waiting for the stream to drain so exports stay streaming. */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { once } from 'node:events';
import { DoppelError } from '../core/errors.js';

export interface TextSink {
  write(text: string): Promise<void>;
  close(): Promise<void>;
}

export async function createTextSink(file: string): Promise<TextSink> {
  await mkdir(dirname(file), { recursive: true });
  const stream = createWriteStream(file);
  let failure: Error | undefined;
  stream.on('error', (err) => (failure = err));
  const check = () => {
    if (failure) throw new DoppelError('DOPPEL_INPUT_INVALID', `${file}: cannot write it (${failure.message})`, { cause: failure });
  };
  return {
    async write(text) {
      check();
      // once() also settles on 'error' (a second once(stream, 'error') per wait left a listener
      // behind each time); the error itself is reported by check(), from the listener above.
      if (!stream.write(text)) await once(stream, 'drain').catch(() => undefined);
      check();
    },
    async close() {
      await new Promise<void>((resolve) => stream.end(resolve));
      check();
    },
  };
}
