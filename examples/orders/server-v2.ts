/** The candidate build of the orders demo: one regression, one harmless change (see app.ts). */
import { runOrdersServer } from './server.js';

await runOrdersServer('v2');
