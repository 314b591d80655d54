/** Runtime-safe: the module Web Worker entry of the kernel workers (see worker.ts and web.ts). */
import { KernelWorker } from './worker.js';
import type { Request } from './protocol.js';

interface WorkerScope {
  onmessage: ((e: MessageEvent<Request>) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;
const worker = new KernelWorker();
scope.onmessage = (e) => {
  const { reply, transfer, after } = worker.handle(e.data);
  scope.postMessage(reply, transfer);
  after?.();
};
