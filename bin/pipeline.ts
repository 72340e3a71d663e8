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
import type { ExchangeFeed } from '../ingest/exchange-feed.ts';
import type { RunnerOptions } from '../processors/consumer-runner.ts';
import { ProjectionSink } from '../processors/projection-sink.ts';
import { ProcessorCommands } from '../processors/processor-commands.ts';
import { startJobSystem } from '../processors/jobs/job-runner.ts';
import { startPredictionsProcessor } from '../processors/predictions/predictions-processor.ts';
import { PredictionAlerts } from '../processors/prediction-alerts.ts';
import { startProxyIngest } from '../ingest/proxy/proxy-ingest.ts';
import { startProxyFixtures } from '../ingest/proxy/fixtures/proxy-fixture-servers.ts';
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
  sink: ProjectionSink | null;
  analytics: AnalyticsProcessor | null;
  feed: SyntheticFeed | null;
  exchanges: ExchangeFeed | null;
  app: FastifyInstance | null;
  apiUrl: string | null;
  stop(): Promise<void>;
}

export interface PipelineHooks {
  /** Passed to the sink runner (tests use afterWrite to crash between write and commit). */
  sink?: Pick<RunnerOptions, 'afterWrite'> & { wrapWrite?: (write: RunnerOptions['write']) => RunnerOptions['write'] };
}

/**
 * Pass a lifecycle whose signal handlers are already installed to make SIGTERM during start-up
 * drain what has started so far (the CLI does).
 */
export async function startPipeline(config: Config, log: Logger, hooks: PipelineHooks = {}, lifecycle = new Lifecycle(log)): Promise<Pipeline> {
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
  // The store opens and migrates while the schemas register.
  const storeReady = config.roles.includes('processors') || config.roles.includes('api')
    ? openStore(config.clickhouse).then(async (s) => { await migrate(s.client, log); return s; })
    : null;
  storeReady?.catch(() => undefined); // awaited below; a failure surfaces there, not as unhandled
  await codec.registerAll();
  const producer = await kafka.producer();
  lifecycle.onShutdown('producer', () => producer.disconnect());
  const publisher = new EventPublisher(kafka, codec, producer, log);

  let store: Store | null = null;
  if (config.roles.includes('processors') || config.roles.includes('api')) {
    store = await storeReady!;
    lifecycle.onShutdown('clickhouse', () => store!.close());
    log.info({ mode: store.mode, path: store.mode === 'embedded' ? config.clickhouse.embeddedPath : config.clickhouse.url }, 'clickhouse ready');
  }

  let sink: ProjectionSink | null = null;
  if (config.roles.includes('processors')) {
    sink = new ProjectionSink({
      ctx: kafka, codec, producer, clickhouse: store!.client, log: log.child({ component: 'sink' }),
      groupId: `${config.kafka.topicPrefix}tickflow-clickhouse-sink`,
      maxWaitMs: config.sink.batchMaxWaitMs, retryMaxMs: config.sink.retryMaxMs,
      afterWrite: hooks.sink?.afterWrite, wrapWrite: hooks.sink?.wrapWrite,
    });
    await sink.start();
    lifecycle.onShutdown('clickhouse sink', () => sink!.stop());
    const commands = new ProcessorCommands({ ctx: kafka, codec, producer, publisher, log: log.child({ component: 'processor-commands' }), groupId: `${config.kafka.topicPrefix}tickflow-processor-commands`, sink });
    await commands.start();
    lifecycle.onShutdown('processor commands', () => commands.stop());
  }

  let app: FastifyInstance | null = null;
  let apiUrl: string | null = null;
  if (config.roles.includes('api')) {
    const fanout = new EventFanout(kafka, codec, log.child({ component: 'fanout' }), config.api.wsMaxBufferedBytes);
    await fanout.start();
    lifecycle.onShutdown('websocket fan-out', () => fanout.stop());
    // The API reports on the services actually in use, started here or configured.
    const resolved: Config = { ...config, kafka: { ...config.kafka, brokers }, registry: { ...config.registry, url: registryUrl } };
    app = await buildApp({ config: resolved, log, clickhouse: store!.client, publisher, fanout, storeMode: store!.mode, readOnlyQuery: store!.readOnlyQuery });
    apiUrl = await app.listen({ host: config.api.host, port: config.api.port });
    lifecycle.onShutdown('http server', () => app!.close());
    log.info({ url: apiUrl }, 'api listening');
  }

  let feed: SyntheticFeed | null = null;
  let exchanges: ExchangeFeed | null = null;
  if (config.roles.includes('ingest')) {
    if (config.market.source === 'synthetic') {
      feed = new SyntheticFeed(
        { symbols: config.market.symbols, exchanges: config.market.syntheticExchanges, seed: config.market.syntheticSeed },
        config.market.syntheticTicksPerSecond, publisher, log.child({ component: 'synthetic-feed' }),
      );
      feed.start();
      lifecycle.onShutdown('synthetic feed', () => feed!.stop());
    } else {
      // Loaded only here: ccxt is large and offline runs never need it.
      const { startExchangeFeed } = await import('../ingest/exchange-feed.ts');
      exchanges = await startExchangeFeed({ config, ctx: kafka, codec, producer, publisher, log: log.child({ component: 'exchange-ingest' }) });
      lifecycle.onShutdown('exchange ingest', () => exchanges!.stop());
    }
  }

  // The rest of the processors join their groups (seconds each) while prices are already served.
  let analytics: AnalyticsProcessor | null = null;
  if (config.roles.includes('processors')) {
    // A producer of its own: the analytics outputs (one request per batch) do not queue behind
    // ingest's sends, which one idempotent producer must serialize (kafkajs#1005).
    const analyticsProducer = await kafka.producer();
    lifecycle.onShutdown('analytics producer', () => analyticsProducer.disconnect());
    analytics = new AnalyticsProcessor({
      ctx: kafka, codec, producer: analyticsProducer, publisher: new EventPublisher(kafka, codec, analyticsProducer, log), clickhouse: store!.client, log: log.child({ component: 'analytics' }),
      groupId: `${config.kafka.topicPrefix}tickflow-analytics`,
      checkpointMs: config.processors.checkpointMs,
      options: { candles: { allowedLatenessMs: config.processors.allowedLatenessMs } },
    });
    await analytics.start();
    lifecycle.onShutdown('analytics processor', () => analytics!.stop());
    const parts = { config, log, kafka, codec, producer, publisher, clickhouse: store!.client };
    const jobs = await startJobSystem({ ...parts, log: log.child({ component: 'jobs' }) });
    lifecycle.onShutdown('job runner', () => jobs.stop());
    const predictions = await startPredictionsProcessor({ ...parts, log: log.child({ component: 'predictions' }) });
    lifecycle.onShutdown('predictions processor', () => predictions.stop());
    const predictionAlerts = new PredictionAlerts({ ctx: kafka, codec, producer, publisher, clickhouse: store!.client, log: log.child({ component: 'prediction-alerts' }), groupId: `${config.kafka.topicPrefix}tickflow-prediction-alerts` });
    await predictionAlerts.start();
    lifecycle.onShutdown('prediction alerts', () => predictionAlerts.stop());
  }

  if (config.roles.includes('ingest') && config.proxy.enabled) {
    let env: Record<string, string | undefined> = process.env;
    if (config.market.source === 'synthetic') {
      // Offline: the proxy sources poll local servers that answer in the real APIs' formats.
      const fixtures = await startProxyFixtures();
      lifecycle.onShutdown('proxy fixture servers', () => fixtures.close());
      env = { ...fixtures.env(), ...process.env };
      log.info('offline: proxy sources read local fixture servers');
    }
    const proxy = await startProxyIngest({ publisher, log: log.child({ component: 'proxy' }), env });
    lifecycle.onShutdown('proxy ingest', () => proxy.stop());
  }

  return { config, lifecycle, kafka, codec, producer, publisher, store, sink, analytics, feed, exchanges, app, apiUrl, stop: () => lifecycle.shutdown('stop') };
}
