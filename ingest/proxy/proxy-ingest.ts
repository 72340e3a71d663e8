// Entry point of the proxy ingestors for the ingest role: one poller per catalogued source, each
// independent (one failing or disabled source never stops another).
import type { Logger } from '../../runtime/logger.ts';
import { loadProxyConfig } from './proxy-config.ts';
import { SourcePoller, type FetchFn, type ProxyPublisher, type SourceStatus } from './proxy-poller.ts';
import type { ProxySource } from './proxy-source.ts';
import { PROXY_SOURCES } from './sources/index.ts';

export type { SourceStatus } from './proxy-poller.ts';

export interface ProxyIngestOptions {
  publisher: ProxyPublisher;
  log: Logger;
  /** Defaults to process.env. A bad value throws ConfigError before anything starts. */
  env?: Record<string, string | undefined>;
  /** Defaults to global fetch. */
  fetch?: FetchFn;
  /** Clock for event times and status; defaults to Date.now. */
  now?: () => number;
  /** Jitter source; defaults to Math.random. */
  random?: () => number;
  /** Defaults to the full catalogue (ingest/proxy/sources). */
  sources?: readonly ProxySource[];
}

export interface ProxyIngest {
  stop(): Promise<void>;
  status(): SourceStatus[];
}

export async function startProxyIngest(opts: ProxyIngestOptions): Promise<ProxyIngest> {
  const cfg = loadProxyConfig(opts.env ?? process.env, opts.sources ?? PROXY_SOURCES);
  const deps = {
    publisher: opts.publisher,
    log: opts.log,
    fetch: opts.fetch ?? ((input: string, init: RequestInit) => fetch(input, init)),
    now: opts.now ?? Date.now,
    random: opts.random ?? Math.random,
  };
  const pollers = cfg.sources.map((s) => new SourcePoller(s, cfg, deps));
  await Promise.all(pollers.map((p) => p.start()));
  return {
    async stop() {
      await Promise.all(pollers.map((p) => p.stop()));
    },
    status: () => pollers.map((p) => p.status()),
  };
}
