import type { FastifyInstance } from 'fastify';
import type { AdminProviders } from './types.js';

export function registerMockRoutes(app: FastifyInstance, providers: AdminProviders): void {
  app.get('/api/unmatched', async () => ({ unmatched: providers.unmatched.flatMap((p) => p.unmatched()) }));
  app.post('/api/mocks/reset', async () => {
    for (const m of providers.mocks) m.reset();
    return { reset: providers.mocks.length };
  });
}
