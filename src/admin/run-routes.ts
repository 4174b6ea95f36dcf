import type { FastifyInstance } from 'fastify';
import type { AdminProviders } from './types.js';

export function registerRunRoutes(app: FastifyInstance, providers: AdminProviders): void {
  app.get('/api/runs', async () => ({ runs: providers.runs.flatMap((p) => p.list()) }));
  app.get<{ Params: { id: string } }>('/api/runs/:id', async (req, reply) => {
    for (const p of providers.runs) {
      const run = p.get(req.params.id);
      if (run) return run;
    }
    return reply.code(404).send({ error: 'not_found', message: `no run ${req.params.id}` });
  });
  app.post<{ Params: { id: string } }>('/api/runs/:id/report', async (req, reply) => {
    for (const p of providers.runs) {
      if (p.get(req.params.id) && p.writeReport) return { report: await p.writeReport(req.params.id) };
    }
    return reply.code(404).send({ error: 'not_found', message: `no run ${req.params.id} that can write a report` });
  });
}
