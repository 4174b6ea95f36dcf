/** The baseline build of the orders demo. */
import { runOrdersServer } from './server.js';

await runOrdersServer('v1');
