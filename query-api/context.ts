// What the route plugins share, registered once as decorators on the one Fastify application.
import type { ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../runtime/config.ts';
import type { Store } from '../runtime/clickhouse.ts';
import type { Logger } from '../runtime/logger.ts';
import type { EventPublisher } from '../ingest/tick-publisher.ts';
import type { EventFanout } from './fanout.ts';

export interface ApiDeps {
  config: Config;
  log: Logger;
  clickhouse: ClickHouseClient;
  /** null when the API runs without Kafka (reads only). */
  publisher: EventPublisher | null;
  fanout: EventFanout | null;
  storeMode: 'embedded' | 'server';
  /** Analyst SQL, refused for writes. */
  readOnlyQuery: Store['readOnlyQuery'];
}

declare module 'fastify' {
  interface FastifyInstance {
    deps: ApiDeps;
  }
}

/** Thrown by handlers for a clear 4xx answer. */
export class HttpError extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}
