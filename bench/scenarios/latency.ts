// latency at a fixed rate: the all-in-one pipeline fed at 5,000 ticks/s by the product's feed;
// tick ingest_time -> a WebSocket client (another process) on ticks:BTC/USDT, and ingest_time ->
// visible in a ClickHouse query (probe ticks with known ids, polled every 20 ms). Absolute figures.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SyntheticFeed } from '../../ingest/synthetic-feed.ts';
import { SyntheticMarket } from '../../ingest/synthetic-market.ts';
import { startPipelineRetry, benchEnv, dropTopics, rssMiB, round, scenarioMain, sleep, summarize, type ScenarioResult } from '../lib.ts';
import { withClients } from './fanout.ts';

export async function run(quick: boolean): Promise<ScenarioResult> {
  const rate = 5000;
  const t = benchEnv('latency', { TICKFLOW_ROLES: 'processors,api', PROCESSOR_CHECKPOINT_MS: '500' });
  const p = await startPipelineRetry(t.config, t.log);
  const seconds = quick ? 15 : 60;
  const chLat: number[] = [];
  let rss = 0;
  const feed = new SyntheticFeed({ symbols: t.config.market.symbols, exchanges: ['binance', 'coinbase', 'kraken'], seed: 42 }, rate, p.publisher, t.log);
  const probes = new SyntheticMarket({ symbols: ['ETH/USDT'], exchanges: ['binance'], seed: 9 });
  const sub = JSON.stringify({ op: 'subscribe', channel: 'ticks', symbol: 'BTC/USDT' });
  let published = 0;
  // Event-loop delay of this (the all-in-one) process over the window: how long ready work,
  // a WS send among it, waited behind other work (batches, GC).
  const loop = monitorEventLoopDelay({ resolution: 10 });
  const ws = await withClients(`${p.apiUrl!.replace('http', 'ws')}/api/v1/ws`, 1, sub, async (reset) => {
    feed.start();
    await sleep(3000); // ramp
    reset();
    loop.enable();
    const p0 = feed.published;
    const pending = new Map<string, number>();
    const end = Date.now() + seconds * 1000;
    let i = 0;
    let lastProbe = 0;
    while (Date.now() < end || (pending.size > 0 && Date.now() < end + 10_000)) {
      const now = Date.now();
      if (now < end && now - lastProbe >= 200) {
        lastProbe = now;
        const [tick] = probes.next(now, 1, now);
        const id = `probe:${i++}:${now}`;
        pending.set(id, now);
        void p.publisher.publish('ticks', [{ key: `${tick!.exchange}:${tick!.symbol}`, value: { ...tick!, event_id: id } }]);
      }
      if (pending.size) {
        const rs = await p.store!.client.query({ query: 'SELECT event_id FROM ticks WHERE event_id IN {ids:Array(String)}', query_params: { ids: [...pending.keys()] }, format: 'JSONEachRow' });
        const seen = Date.now();
        for (const r of await rs.json<{ event_id: string }>()) { const t0 = pending.get(r.event_id); if (t0 !== undefined) { chLat.push(seen - t0); pending.delete(r.event_id); } }
      }
      rss = Math.max(rss, rssMiB().rss);
      await sleep(20);
    }
    loop.disable();
    published = (feed.published - p0) / seconds;
    await feed.stop();
  });
  // Reference, same run and services: the Kafka hop the WS path includes, alone. The product's
  // producer config (idempotent, acks=-1, one request in flight) sends the same encoded ticks in
  // the same shape (the feed's 100 ms bursts, 500 each at 5,000/s); a plain kafkajs consumer with
  // the fan-out's fetch settings (maxWaitTimeInMs 20) takes them; no processing. Measured twice:
  // with the pipeline still running (it also processes these ticks: the same load as above), and
  // after it stopped (the bare hop on this machine).
  const loaded = await rawHop(p, rate, quick ? 10 : 30);
  await p.stop();
  const bare = await rawHop(p, rate, quick ? 10 : 30);
  await dropTopics(p.kafka);
  t.cleanup();
  const w = summarize(ws.lags), c = summarize(chLat), r = summarize(loaded), b = summarize(bare);
  return {
    scenario: 'latency', quick,
    figures: [
      { figure: `tick -> WebSocket p99 @ ${rate}/s`, value: w.p99, unit: 'ms', baseline: null, ratio: null, target: '<= 50 ms', met: w.p99 <= 50, note: `p50 ${w.p50} ms, max ${w.max} ms, ${w.n} events` },
      { figure: `raw kafkajs produce -> consume p99 @ ${rate}/s, pipeline running (reference for the WS figure)`, value: r.p99, unit: 'ms', baseline: null, ratio: null, target: 'report', met: null, note: `p50 ${r.p50} ms, max ${r.max} ms, ${r.n} messages` },
      { figure: `raw kafkajs produce -> consume p99 @ ${rate}/s, pipeline stopped (reference)`, value: b.p99, unit: 'ms', baseline: null, ratio: null, target: 'report', met: null, note: `p50 ${b.p50} ms, max ${b.max} ms, ${b.n} messages` },
      { figure: `tick -> visible in ClickHouse p99 @ ${rate}/s`, value: c.p99, unit: 'ms', baseline: null, ratio: null, target: '<= 1000 ms', met: c.p99 <= 1000, note: `p50 ${c.p50} ms, max ${c.max} ms, ${c.n} probes (20 ms poll granularity)` },
    ],
    notes: [`Feed at ${rate} ticks/s (delivered ${Math.round(published)}/s) over 9 markets, ${seconds} s window after a 3 s ramp${quick ? ' (quick: short window)' : ''}; one WS client in a child process subscribed to BTC/USDT (a third of the ticks); a probe tick with a known id every 200 ms, polled in ClickHouse (no FINAL) every 20 ms from the pipeline process itself. Sink batching: SINK_BATCH_MAX_WAIT_MS=${t.config.sink.batchMaxWaitMs} (default). RSS during the run up to ${rss} MiB. No baseline: absolute figures for this machine.`, `Event-loop delay of the pipeline process during the window (monitorEventLoopDelay, 10 ms resolution): p50 ${round(loop.percentile(50) / 1e6, 1)} ms, p99 ${round(loop.percentile(99) / 1e6, 1)} ms, max ${round(loop.max / 1e6, 1)} ms.`],
    extra: { ws: w, clickhouse: c, event_loop_delay_ms: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 } },
  };
}


async function rawHop(p: Awaited<ReturnType<typeof startPipelineRetry>>, rate: number, seconds: number): Promise<number[]> {
  const topic = p.kafka.topic('ticks');
  const market = new SyntheticMarket({ symbols: ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'], exchanges: ['binance', 'coinbase', 'kraken'], seed: 5 });
  const producer = await p.kafka.producer();
  const consumer = p.kafka.consumer({ groupId: `${p.kafka.prefix}bench-raw-hop`, maxWaitTimeInMs: 20 });
  const lags: number[] = [];
  let measuring = false;
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: false });
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => { joined = true; });
  await consumer.run({ eachBatch: async ({ batch }) => { const now = Date.now(); if (measuring) for (const m of batch.messages) lags.push(now - Number(m.headers!.sent!.toString())); } });
  while (!joined) await sleep(50);
  const perBurst = rate / 10;
  const end = Date.now() + (seconds + 2) * 1000;
  const measureFrom = Date.now() + 2000;
  let next = Date.now();
  while (Date.now() < end) {
    measuring = Date.now() >= measureFrom;
    const now = Date.now();
    const ticks = market.next(now, perBurst, now);
    const headers = { sent: String(now) };
    await producer.send({ topic, messages: ticks.map((v) => ({ key: `${v.exchange}:${v.symbol}`, value: p.codec.encode('ticks', v), headers })) });
    next += 100;
    await sleep(Math.max(0, next - Date.now()));
  }
  await sleep(500);
  await consumer.disconnect();
  await producer.disconnect();
  return lags;
}

scenarioMain('latency', run);
