import type { FastifyInstance } from 'fastify';
import type { AdminProviders } from './types.js';

export function registerMockRoutes(app: FastifyInstance, providers: AdminProviders): void {
  app.get('/api/unmatched', async () => ({
    unmatched: providers.unmatched.flatMap((p) => p.unmatched()),
    overflow: providers.unmatched.reduce((n, p) => n + (p.overflow?.() ?? 0), 0),
  }));
  app.post('/api/mocks/reset', async () => {
    for (const m of providers.mocks) m.reset();
    return { reset: providers.mocks.length };
  });
}
