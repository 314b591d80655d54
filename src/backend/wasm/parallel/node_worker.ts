/** Node-only: the worker_threads entry of the kernel workers (see worker.ts). */
import { parentPort } from 'node:worker_threads';
import { KernelWorker } from './worker.js';
import type { Request } from './protocol.js';

if (!parentPort) throw new Error('node_worker.js must run in a worker thread');
const port = parentPort;
const worker = new KernelWorker();
port.on('message', (req: Request) => {
  const { reply, transfer, after } = worker.handle(req);
  port.postMessage(reply, transfer);
  after?.();
});
