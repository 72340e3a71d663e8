// The ingest role's exchange side: one ExchangeIngestor over the configured exchanges and
// symbols, its ticks, klines, rejections and status published to Kafka (in small batches, with
// the send awaited so a slow broker slows the reader), and its commands (reconnect, failover
// on/off, retry config) taken from control.commands.v1.
import ccxt from 'ccxt';
import http from 'node:http';
import type { Producer } from 'kafkajs';
import type { Config } from '../runtime/config.ts';
import { ConfigError } from '../runtime/config.ts';
import type { KafkaContext } from '../runtime/kafka.ts';
import type { EventCodec } from '../runtime/codec.ts';
import type { Logger } from '../runtime/logger.ts';
import { rejectedTotal, dlqTotal } from '../runtime/metrics.ts';
import type { Command, Tick, Kline } from '../schemas/generated/events.ts';
import type { TopicId, TopicValue } from '../schemas/topics.ts';
import { ExchangeIngestor, type ExchangeIngestorConfig } from './exchange/exchange-ingestor.ts';
import type { ExchangeConnectionConfig } from './exchange/exchange-connection.ts';
import { toControlEvent, toDeadLetter } from './exchange/status-events.ts';
import { ConsumerRunner } from '../processors/consumer-runner.ts';
import type { EventPublisher } from './tick-publisher.ts';

/** Collects events for a few milliseconds and sends them as one request. */
class MicroBatcher<K extends TopicId> {
  private queue: Array<{ key: string; value: TopicValue[K] }> = [];
  private flushing: Promise<void> | null = null;
  constructor(private readonly publisher: EventPublisher, private readonly topicId: K, private readonly lingerMs = 10, private readonly max = 2000) {}
  add(key: string, value: TopicValue[K]): Promise<void> {
    this.queue.push({ key, value });
    if (this.queue.length >= this.max) return this.flush();
    this.flushing ??= new Promise<void>((r) => setTimeout(r, this.lingerMs)).then(() => this.flush());
    return this.flushing;
  }
  async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    this.flushing = null;
    if (batch.length) await this.publisher.publish(this.topicId, batch);
  }
}

export function exchangeIngestorConfig(config: Config): ExchangeIngestorConfig {
  const known = new Set(ccxt.exchanges as string[]);
  const exchanges: ExchangeConnectionConfig[] = config.exchanges.ids.map((exchangeId) => {
    if (!known.has(exchangeId)) throw new ConfigError('EXCHANGES', config.exchanges.ids.join(','), `"${exchangeId}" is not an exchange ccxt ${ccxt.version} supports`);
    const o = { ...(config.exchanges.overrides[exchangeId] ?? {}) } as Partial<ExchangeConnectionConfig>;
    // ccxt in Node refuses plain ws:// (and local http://) endpoints without an http agent; a
    // config file cannot carry one, so it is added here when such a URL is configured.
    if (o.ccxtOptions && /"(ws|http):\/\//.test(JSON.stringify(o.ccxtOptions))) o.ccxtOptions = { ...o.ccxtOptions, httpAgent: new http.Agent({ keepAlive: true }) };
    return { exchangeId, symbols: config.market.symbols, klines: { intervals: config.exchanges.klineIntervals }, ...o } as ExchangeConnectionConfig;
  });
  return { exchanges, failover: config.exchanges.failover as ExchangeIngestorConfig['failover'] };
}

export interface ExchangeFeed { ingestor: ExchangeIngestor; stop(): Promise<void> }

export async function startExchangeFeed(d: { config: Config; ctx: KafkaContext; codec: EventCodec; producer: Producer; publisher: EventPublisher; log: Logger }): Promise<ExchangeFeed> {
  const ticks = new MicroBatcher(d.publisher, 'ticks');
  const klines = new MicroBatcher(d.publisher, 'klines');
  const status = new MicroBatcher(d.publisher, 'controlEvents', 20, 500);
  const ingestor = new ExchangeIngestor(exchangeIngestorConfig(d.config), {
    onTick: (t: Tick) => ticks.add(`${t.exchange}:${t.symbol}`, t),
    onKline: (k: Kline) => klines.add(`${k.exchange}:${k.symbol}:${k.interval}`, k),
    onReject: async (r) => {
      rejectedTotal.inc({ exchange: r.exchange, reason: r.code });
      const dl = { ...toDeadLetter(r), original_topic: d.ctx.topic(r.topicId) };
      await d.producer.send({ topic: d.ctx.dlq(r.topicId), messages: [{ key: r.key, value: d.codec.encodeDeadLetter(r.topicId, dl) }] });
      dlqTotal.inc({ topic: d.ctx.topic(r.topicId), stage: 'ingest' });
    },
    onStatus: (s) => status.add(s.source, toControlEvent(s)),
  });
  const commands = new ConsumerRunner({
    name: 'ingest-commands', groupId: `${d.config.kafka.topicPrefix}tickflow-ingest-commands`, topics: ['commands'],
    ctx: d.ctx, codec: d.codec, producer: d.producer, log: d.log, fromBeginning: false, maxWaitMs: 100,
    write: async (records) => {
      for (const r of records) {
        const cmd = r.value as Command;
        if (!ingestor.ownsCommand(cmd)) continue;
        const result = await ingestor.handleCommand(cmd);
        d.log.info({ command: cmd.command, target: cmd.target, ...result }, 'ingest command handled');
      }
    },
  });
  await commands.start();
  await ingestor.start();
  d.log.info({ exchanges: d.config.exchanges.ids, symbols: d.config.market.symbols }, 'exchange ingest started');
  return {
    ingestor,
    async stop() {
      await commands.stop();
      await ingestor.stop();
      await Promise.all([ticks.flush(), klines.flush(), status.flush()]);
    },
  };
}
