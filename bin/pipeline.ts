// The composition root: starts (or reuses) the services, then the roles this process runs —
// ingest, processors, api — wired to one Kafka context, one codec, one store, one lifecycle.
// With the embedded store every role runs here, because chDB binds its data to one process.
import type { FastifyInstance } from 'fastify';
import type { Producer } from 'kafkajs';
import type { Config } from '../runtime/config.ts';
import type { Logger } from '../runtime/logger.ts';
import { Lifecycle } from '../runtime/lifecycle.ts';
import { createKafka, ensureTopics, type KafkaContext } from '../runtime/kafka.ts';
import { EventCodec } from '../runtime/codec.ts';
import { openStore, migrate, type Store } from '../runtime/clickhouse.ts';
import { ensureKafka, ensureRegistry } from '../infra/launcher.ts';
import { EventPublisher } from '../ingest/tick-publisher.ts';
import { SyntheticFeed } from '../ingest/synthetic-feed.ts';
import { ConsumerRunner, type RunnerOptions } from '../processors/consumer-runner.ts';
import { createClickHouseWriter, SINK_TOPICS } from '../processors/clickhouse-sink.ts';
import { AnalyticsProcessor } from '../processors/analytics-processor.ts';
import { EventFanout } from '../query-api/fanout.ts';
import { buildApp } from '../query-api/app.ts';

export interface Pipeline {
  config: Config;
  lifecycle: Lifecycle;
  kafka: KafkaContext;
  codec: EventCodec;
  producer: Producer;
  publisher: EventPublisher;
  store: Store | null;
  sink: ConsumerRunner | null;
  analytics: AnalyticsProcessor | null;
  feed: SyntheticFeed | null;
  app: FastifyInstance | null;
  apiUrl: string | null;
  stop(): Promise<void>;
}

export interface PipelineHooks {
  /** Passed to the sink runner (tests use afterWrite to crash between write and commit). */
  sink?: Pick<RunnerOptions, 'afterWrite'> & { wrapWrite?: (write: RunnerOptions['write']) => RunnerOptions['write'] };
}

export async function startPipeline(config: Config, log: Logger, hooks: PipelineHooks = {}): Promise<Pipeline> {
  const lifecycle = new Lifecycle(log);
  const launchLog = { info: (m: string) => log.info({ component: 'services' }, m), warn: (m: string) => log.warn({ component: 'services' }, m) };

  let brokers = config.kafka.brokers;
  if (!brokers) {
    const k = await ensureKafka({ home: config.home, port: config.kafka.localPort, log: launchLog });
    if (k.started && process.env.TICKFLOW_KEEP_SERVICES !== '1') lifecycle.onShutdown('kafka broker', () => k.stop());
    brokers = [k.address];
  }
  let registryUrl = config.registry.url;
  if (!registryUrl) {
    const r = await ensureRegistry({ home: config.home, brokers: brokers.join(','), port: config.registry.localPort, log: launchLog });
    if (r.started && process.env.TICKFLOW_KEEP_SERVICES !== '1') lifecycle.onShutdown('schema registry', () => r.stop());
    registryUrl = r.address;
  }

  const kafka = createKafka(brokers, config.kafka, log, config.logLevel);
  await ensureTopics(kafka, config.kafka.replicationFactor, log);
  const codec = new EventCodec(registryUrl, kafka);
  await codec.registerAll();
  const producer = await kafka.producer();
  lifecycle.onShutdown('producer', () => producer.disconnect());
  const publisher = new EventPublisher(kafka, codec, producer, log);

  let store: Store | null = null;
  if (config.roles.includes('processors') || config.roles.includes('api')) {
    store = await openStore(config.clickhouse);
    lifecycle.onShutdown('clickhouse', () => store!.close());
    await migrate(store.client, log);
    log.info({ mode: store.mode, path: store.mode === 'embedded' ? config.clickhouse.embeddedPath : config.clickhouse.url }, 'clickhouse ready');
  }

  let sink: ConsumerRunner | null = null;
  if (config.roles.includes('processors')) {
    sink = new ConsumerRunner({
      name: 'clickhouse-sink',
      groupId: `${config.kafka.topicPrefix}tickflow-clickhouse-sink`,
      topics: SINK_TOPICS,
      ctx: kafka,
      codec,
      producer,
      log: log.child({ component: 'sink' }),
      write: (hooks.sink?.wrapWrite ?? ((w) => w))(createClickHouseWriter(store!.client)),
      maxWaitMs: config.sink.batchMaxWaitMs,
      retryMaxMs: config.sink.retryMaxMs,
      afterWrite: hooks.sink?.afterWrite,
    });
    await sink.start();
    lifecycle.onShutdown('clickhouse sink', () => sink!.stop());
  }

  let analytics: AnalyticsProcessor | null = null;
  if (config.roles.includes('processors')) {
    analytics = new AnalyticsProcessor({
      ctx: kafka, codec, producer, publisher, clickhouse: store!.client, log: log.child({ component: 'analytics' }),
      groupId: `${config.kafka.topicPrefix}tickflow-analytics`,
      checkpointMs: config.processors.checkpointMs,
      options: { candles: { allowedLatenessMs: config.processors.allowedLatenessMs } },
    });
    await analytics.start();
    lifecycle.onShutdown('analytics processor', () => analytics!.stop());
  }

  let app: FastifyInstance | null = null;
  let apiUrl: string | null = null;
  if (config.roles.includes('api')) {
    const fanout = new EventFanout(kafka, codec, log.child({ component: 'fanout' }));
    await fanout.start();
    lifecycle.onShutdown('websocket fan-out', () => fanout.stop());
    app = await buildApp({ config, log, clickhouse: store!.client, publisher, fanout, storeMode: store!.mode, readOnlyQuery: store!.readOnlyQuery });
    apiUrl = await app.listen({ host: config.api.host, port: config.api.port });
    lifecycle.onShutdown('http server', () => app!.close());
    log.info({ url: apiUrl }, 'api listening');
  }

  let feed: SyntheticFeed | null = null;
  if (config.roles.includes('ingest')) {
    if (config.market.source === 'synthetic') {
      feed = new SyntheticFeed(
        { symbols: config.market.symbols, exchanges: config.market.syntheticExchanges, seed: config.market.syntheticSeed },
        config.market.syntheticTicksPerSecond, publisher, log.child({ component: 'synthetic-feed' }),
      );
      feed.start();
      lifecycle.onShutdown('synthetic feed', () => feed!.stop());
    } else {
      log.warn('MARKET_SOURCE=exchanges: live exchange ingest is not wired yet in this build; use --offline');
    }
  }

  return { config, lifecycle, kafka, codec, producer, publisher, store, sink, analytics, feed, app, apiUrl, stop: () => lifecycle.shutdown('stop') };
}
