// Ordered start and shutdown: whatever starts registers how it stops; SIGTERM/SIGINT run those
// in reverse order (stop fetching, flush, commit, disconnect) and the process exits 0.
import type { Logger } from './logger.ts';

type Closer = { name: string; close: () => Promise<void> | void };

export class Lifecycle {
  private closers: Closer[] = [];
  private stopping: Promise<void> | null = null;

  constructor(private readonly log: Logger, private readonly timeoutMs = 30_000) {}

  /** Register a closer; closers run last-registered first. */
  onShutdown(name: string, close: Closer['close']): void {
    this.closers.push({ name, close });
  }

  shutdown(reason: string): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      this.log.info({ reason }, 'shutting down');
      for (const c of [...this.closers].reverse()) {
        const started = Date.now();
        try {
          await withTimeout(Promise.resolve(c.close()), this.timeoutMs, c.name);
          this.log.info({ component: c.name, ms: Date.now() - started }, 'stopped');
        } catch (err) {
          this.log.error({ component: c.name, err }, 'failed to stop cleanly');
        }
      }
    })();
    return this.stopping;
  }

  /** Exit 0 after a clean drain on SIGTERM or SIGINT. */
  installSignalHandlers(exit: (code: number) => void = (code) => process.exit(code)): void {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.once(sig, () => {
        void this.shutdown(sig).then(() => exit(0));
      });
    }
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not stop within ${ms} ms`)), ms); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
