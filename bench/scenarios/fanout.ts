// fan-out: N WebSocket clients (another process) on ticks:BTC/USDT at 20 msg/s through the product
// (Kafka -> EventFanout -> /api/v1/ws) vs a raw `ws` server broadcasting the same messages, fed from
// the same topic by a plain kafkajs consumer (same maxWaitTimeInMs). Lag = receive - ingest_time.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';

import { SyntheticMarket } from '../../ingest/synthetic-market.ts';
import { startPipelineRetry, benchEnv, ratioFigure, REPO, round, scenarioMain, sleep, summarize, type ScenarioResult, teardown } from '../lib.ts';

export interface ClientsResult { lags: number[]; received: number; closed: number; opened: number }

export async function withClients(url: string, n: number, sub: string | null, during: (reset: () => void) => Promise<void>): Promise<ClientsResult> {
  const child = fork(join(REPO, 'bench', 'ws-clients.ts'), [url, String(n), sub ?? ''], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    const to = setTimeout(() => reject(new Error(`${n} clients did not connect within 60 s`)), 60_000);
    child.once('message', () => { clearTimeout(to); resolve(); });
    child.once('exit', (c) => reject(new Error(`ws-clients exited ${c}`)));
  });
  await sleep(500);
  await during(() => child.send({ cmd: 'reset' }));
  const res = await new Promise<ClientsResult>((resolve) => { child.once('message', (m) => resolve(m as ClientsResult)); child.send({ cmd: 'stop' }); });
  return res;
}

export async function run(quick: boolean): Promise<ScenarioResult> {
  const t = benchEnv('fanout', { TICKFLOW_ROLES: 'api' });
  const p = await startPipelineRetry(t.config, t.log);
  const n = quick ? 500 : 1000;
  const seconds = quick ? 10 : 30;
  const market = new SyntheticMarket({ symbols: ['BTC/USDT'], exchanges: ['binance'], seed: 1 });
  async function drive(reset: () => void): Promise<void> {
    // 1 s warm-up, then `seconds` at 20 msg/s (one tick every 50 ms).
    const warm = Date.now() + 1000; let resetDone = false;
    const end = warm + seconds * 1000;
    let next = Date.now();
    while (Date.now() < end) {
      if (!resetDone && Date.now() >= warm) { reset(); resetDone = true; }
      const now = Date.now();
      const [tick] = market.next(now, 1, now);
      await p.publisher.publish('ticks', [{ key: `${tick!.exchange}:${tick!.symbol}`, value: tick! }]);
      next += 50;
      await sleep(Math.max(0, next - Date.now()));
    }
    await sleep(1000);
  }

  // Raw baseline: kafkajs consumer -> codec decode -> ws broadcast of the same frame shape.
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const consumer = p.kafka.consumer({ groupId: `${t.prefix}bench-raw-fanout`, maxWaitTimeInMs: 20 });
  await consumer.connect();
  await consumer.subscribe({ topics: [p.kafka.topic('ticks')], fromBeginning: false });
  await consumer.run({ eachBatch: async ({ batch }) => {
    for (const m of batch.messages) {
      const data = await p.codec.decodeFor(batch.topic, m.value);
      const frame = JSON.stringify({ op: 'event', channel: 'ticks:BTC/USDT', data });
      for (const c of wss.clients) c.send(frame);
    }
  } });
  await sleep(3000); // group join
  const addr = wss.address() as { port: number };
  const base = await withClients(`ws://127.0.0.1:${addr.port}`, n, null, drive);
  await consumer.disconnect();
  for (const c of wss.clients) c.terminate();
  wss.close();

  const sub = JSON.stringify({ op: 'subscribe', channel: 'ticks', symbol: 'BTC/USDT' });
  const prod = await withClients(`${p.apiUrl!.replace('http', 'ws')}/api/v1/ws`, n, sub, drive);
  await teardown(p, t);
  const b = summarize(base.lags), a = summarize(prod.lags);
  const expected = n * 20 * seconds;
  return {
    scenario: 'fanout', quick,
    figures: [
      ratioFigure({ figure: `fan-out p99 lag, ${n} clients @ 20 msg/s`, value: a.p99, unit: 'ms', baseline: b.p99, target: '<= 1.5x', maxRatio: 1.5, note: `p50 ${a.p50} vs ${b.p50} ms, max ${a.max} vs ${b.max} ms; delivered ${a.n} vs ${b.n} (expected about ${expected})` }),
    ],
    notes: [`${n} clients${quick ? ' (quick: fewer than the 1,000 of the target)' : ''} in a child process, ${seconds} s window after 1 s warm-up; lag measured from the tick's ingest_time (set at publish) to receipt, so both include the Kafka hop (produce, fetch with maxWaitTimeInMs=20, Avro decode). Clients dropped by the product: ${prod.closed}.`],
    extra: { product: a, baseline: b },
  };
}

scenarioMain('fanout', run);
