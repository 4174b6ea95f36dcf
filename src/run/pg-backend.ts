import { parseSizeBytes } from '../config/duration.js';
import { parseHostPort, formatHostPort } from '../core/address.js';
import { createPgMock } from '../mock/pg-mock.js';
import { createFileStoreReader } from '../store/file-store.js';
import type { MockFactory } from './backends.js';

export const startPgBackend: MockFactory = async (mock, ctx) => {
  const pg = await createPgMock({
    service: mock.service,
    listen: parseHostPort(mock.listen, `mocks[${mock.service}].listen`),
    reader: createFileStoreReader(ctx.traffic),
    log: ctx.log,
    metrics: ctx.metrics,
    auth: mock.auth,
    ...(mock.user === undefined ? {} : { user: mock.user }),
    ...(mock.password === undefined ? {} : { password: mock.password }),
    ...(parseSizeBytes(mock.max_message_bytes) === undefined ? {} : { maxMessageBytes: parseSizeBytes(mock.max_message_bytes) as number }),
  });
  return {
    service: mock.service,
    protocol: 'pg',
    address: formatHostPort({ host: pg.address.address, port: pg.address.port }),
    loaded: pg.stats().recordings,
    counts: () => {
      const s = pg.stats();
      return { matched: s.matched, unmatched: s.unmatched, passthrough: 0 };
    },
    reset: () => pg.reset(),
    unmatched: () => pg.unmatched(),
    close: () => pg.close(),
  };
};
