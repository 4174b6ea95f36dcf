import type { FastifyInstance } from 'fastify';
import type { AdminProviders } from './types.js';

export function registerRecordRoutes(app: FastifyInstance, providers: AdminProviders): void {
  app.get('/api/record', async () => ({ recorders: providers.recorders.map((r) => r.status()) }));
  app.post('/api/record/pause', async () => {
    for (const r of providers.recorders) r.pause();
    return { paused: providers.recorders.length };
  });
  app.post('/api/record/resume', async () => {
    for (const r of providers.recorders) r.resume();
    return { resumed: providers.recorders.length };
  });
}
