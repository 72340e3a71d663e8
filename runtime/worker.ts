// Worker threads for jobs that must not block the caller's event loop (training, backtests):
// startWorker boots a worker from a .ts or .js file; runWorker also turns its messages into one
// settled promise and terminates the worker once that promise settles.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** How a message handler ends the run; only the first call of either counts. */
export interface WorkerSettle<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

export interface WorkerRun<T> {
  worker: Worker;
  /** Settles once: as the message handler says, or rejects on a worker error or an early exit. */
  promise: Promise<T>;
}

/**
 * Starts the worker with workerData and hands every message it posts to onMessage, which settles
 * the run with settle.resolve or settle.reject. A worker error rejects with that error; an exit
 * before the run settled rejects with "<name> exited with code <code> before reporting a result".
 * The worker is terminated as soon as the run settles.
 */
export function runWorker<T, M>(
  file: URL,
  workerData: unknown,
  onMessage: (message: M, settle: WorkerSettle<T>) => void,
  name: string,
): WorkerRun<T> {
  const worker = startWorker(file, { workerData });
  const promise = new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (action: () => void): void => {
      if (settled) return;
      settled = true;
      action();
      void worker.terminate();
    };
    const settle: WorkerSettle<T> = {
      resolve: (value) => finish(() => resolve(value)),
      reject: (error) => finish(() => reject(error)),
    };
    worker.on('message', (message: M) => onMessage(message, settle));
    worker.on('error', (error) => settle.reject(error));
    worker.on('exit', (code) => settle.reject(new Error(`${name} exited with code ${code} before reporting a result`)));
  });
  return { worker, promise };
}

/**
 * Starts a worker from a .ts file. On Node 20, `execArgv: ['--import', 'tsx']` does not reach
 * worker threads (nodejs/node#47747: the worker fails with ERR_UNKNOWN_FILE_EXTENSION), so the
 * worker boots from a tiny inline ESM script that loads the file through tsx's tsImport API.
 * Compiled .js workers start directly.
 */
export function startWorker(file: URL, options: WorkerOptions = {}): Worker {
  if (!file.pathname.endsWith('.ts')) return new Worker(file, options);
  const code = `import(${JSON.stringify(tsxApiUrl())}).then((tsx) => tsx.tsImport(${JSON.stringify(file.href)}, ${JSON.stringify(file.href)}));`;
  return new Worker(code, { ...options, eval: true });
}

function tsxApiUrl(): string {
  // require.resolve picks the CommonJS build, whose register() breaks in workers; use the ESM twin.
  const cjs = createRequire(import.meta.url).resolve('tsx/esm/api');
  const esm = cjs.replace(/\.cjs$/, '.mjs');
  return pathToFileURL(existsSync(esm) ? esm : cjs).href;
}
