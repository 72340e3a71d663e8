// end-to-end: the all-in-one pipeline (processors + api in this process, ingest = the product's
// SyntheticFeed + EventPublisher in this process too) at increasing tick rates; a rate is sustained
// when the feed delivered it and the analytics and sink lag did not grow over the window.
// Baseline: kafkajs consume-and-produce of the same messages (raw bytes, no processing).

import { SyntheticFeed } from '../../ingest/synthetic-feed.ts';
import { startPipelineRetry, benchEnv, groupTop, profileTop, ratioFigure, round, rssMiB, scenarioMain, sleep, type ScenarioResult, teardown } from '../lib.ts';

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length; const mx = xs.reduce((a, b) => a + b, 0) / n; const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) { num += (xs[i]! - mx) * (ys[i]! - my); den += (xs[i]! - mx) ** 2; }
  return den ? num / den : 0;
}
import type { KafkaContext } from '../../runtime/kafka.ts';

async function groupLag(ctx: KafkaContext, groupId: string, topic: string): Promise<number> {
  const admin = ctx.admin();
  await admin.connect();
  try {
    const high = await admin.fetchTopicOffsets(topic);
    const [c] = await admin.fetchOffsets({ groupId, topics: [topic] });
    let lag = 0;
    for (const p of high) {
      const off = Number(c?.partitions.find((x) => x.partition === p.partition)?.offset ?? -1);
      lag += Number(p.high) - (off < 0 ? Number(p.low) : off);
    }
    return lag;
  } finally { await admin.disconnect(); }
}

export async function run(quick: boolean): Promise<ScenarioResult> {
  const t = benchEnv('e2e', { TICKFLOW_ROLES: 'processors,api', PROCESSOR_CHECKPOINT_MS: '500', MARKET_SYMBOLS: 'BTC/USDT,ETH/USDT,SOL/USDT' });
  const p = await startPipelineRetry(t.config, t.log);
  const rates = quick ? [2000, 5000, 7500, 10_000, 15_000] : [5000, 7500, 10_000, 12_500, 15_000, 20_000, 35_000, 50_000];
  const windowS = quick ? 10 : 60;
  const analyticsGroup = `${t.prefix}tickflow-analytics`;
  const ticksTopic = p.kafka.topic('ticks');
  const lags = async () => ({ analytics: await groupLag(p.kafka, analyticsGroup, ticksTopic), sink: await p.sink!.lag() });
  const steps: Array<Record<string, unknown>> = [];
  let best = 0; let peakRss = 0; let steadyRss = 0;
  let lastProfile: { rate: number; modules: Array<{ fn: string; self_pct: number }>; top: Array<{ fn: string; self_pct: number }> } | null = null;
  const rssTimer = setInterval(() => { const r = rssMiB(); peakRss = Math.max(peakRss, r.rss); }, 500);
  for (const rate of rates) {
    const feed = new SyntheticFeed({ symbols: t.config.market.symbols, exchanges: ['binance', 'coinbase', 'kraken'], seed: 42 }, rate, p.publisher, t.log);
    feed.start();
    await sleep(3000); // ramp
    const l0 = await lags(); const pub0 = feed.published; const skip0 = feed.skipped; const t0 = Date.now();
    const xs: number[] = [0]; const mid: number[] = [l0.analytics + l0.sink];
    const prof = await profileTop(async () => {
      while (Date.now() - t0 < windowS * 1000) { await sleep(2000); const l = await lags(); xs.push((Date.now() - t0) / 1000); mid.push(l.analytics + l.sink); }
    });
    lastProfile = { rate, modules: prof.modules, top: prof.top };
    const l1 = await lags(); const elapsed = (Date.now() - t0) / 1000;
    const published = (feed.published - pub0) / elapsed; const skipped = feed.skipped - skip0;
    const growthPerS = slope(xs, mid);
    const rss = rssMiB().rss;
    await feed.stop();
    // A rate holds when the feed delivered >= 95% of it, the lag trend (least squares over samples
    // every 2 s) grows by less than 5% of the input rate, and the lag ends below 5 s of ticks.
    const growth = round(growthPerS, 0);
    const ok = published >= 0.95 * rate && growthPerS <= 0.05 * rate && (l1.analytics + l1.sink) <= rate * 5;
    steps.push({ rate, published_per_s: round(published, 0), skipped, lag_start: l0, lag_end: l1, lag_samples: mid, lag_growth: growth, rss_mib: rss, sustained: ok });
    console.error(`[e2e] ${rate}/s: published ${round(published, 0)}/s, lag ${JSON.stringify(l0)} -> ${JSON.stringify(l1)}, rss ${rss} MiB: ${ok ? 'sustained' : 'NOT sustained'}`);
    if (ok) { best = rate; steadyRss = Math.max(steadyRss, rss); }
    // drain (bounded) before the next step
    const until = Date.now() + 60_000;
    while (Date.now() < until) { const l = await lags(); if (l.analytics + l.sink < 100) break; await sleep(1000); }
    if (!ok) break;
  }
  clearInterval(rssTimer);

  // Baseline: consume the ticks topic from the beginning and produce each message unchanged.
  const total = (await (async () => { const a = p.kafka.admin(); await a.connect(); try { return (await a.fetchTopicOffsets(ticksTopic)).reduce((s, x) => s + Number(x.high), 0); } finally { await a.disconnect(); } })());
  const copyTopic = `${ticksTopic}.benchcopy`;
  const admin = p.kafka.admin(); await admin.connect();
  await admin.createTopics({ topics: [{ topic: copyTopic, numPartitions: (await admin.fetchTopicOffsets(ticksTopic)).length, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const target = Math.min(total, quick ? 150_000 : 1_500_000);
  const producer = await p.kafka.producer();
  const consumer = p.kafka.consumer({ groupId: `${t.prefix}bench-raw-relay` });
  await consumer.connect();
  await consumer.subscribe({ topics: [ticksTopic], fromBeginning: true });
  let relayed = 0; let tStart = 0; let tEnd = 0;
  const done = new Promise<void>((resolve) => {
    void consumer.run({ eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      if (!tStart) tStart = performance.now();
      await producer.send({ topic: copyTopic, messages: batch.messages.map((m) => ({ key: m.key, value: m.value })) });
      const last = batch.messages[batch.messages.length - 1];
      if (last) resolveOffset(last.offset);
      relayed += batch.messages.length;
      await heartbeat();
      if (relayed >= target && !tEnd) { tEnd = performance.now(); resolve(); }
    } });
  });
  await Promise.race([done, sleep(quick ? 60_000 : 300_000)]);
  const baseRate = relayed / (((tEnd || performance.now()) - tStart) / 1000);
  await consumer.disconnect(); await producer.disconnect();
  await teardown(p, t);
  return {
    scenario: 'e2e', quick,
    figures: [
      { ...ratioFigure({ figure: `highest sustained tick rate (${windowS} s windows)`, value: best, unit: 'ticks/s', baseline: round(baseRate, 0), target: '>= 50,000 ticks/s (ratio: vs raw relay capacity)' }), met: best >= 50_000 },
      { figure: 'peak RSS of the all-in-one process (steady state, sustained steps)', value: steadyRss || null, unit: 'MiB', baseline: null, ratio: null, target: 'report', met: null, note: `peak RSS over all steps incl. overload ${peakRss} MiB` },
    ],
    notes: [
      `Rates tried: ${rates.join(', ')} ticks/s (stop at the first that does not hold); ${windowS} s window per rate after 3 s ramp${quick ? ' (quick: short windows, not the 60 s of the target)' : ''}. Sustained = feed delivered >= 95% of the rate, the analytics+sink lag trend (least squares over samples every 2 s) grew by < 5% of the rate per second and ended below 5 s of ticks. 9 markets (3 symbols x 3 exchanges). Ingest (SyntheticFeed + EventPublisher), analytics, sink, fan-out and API all in this one process, as in \`npm start -- --offline\`.`,
      `Baseline: kafkajs consumer (eachBatch) re-producing ${relayed} raw messages of the same topic with the same idempotent producer config: ${round(baseRate, 0)} msg/s; the ratio compares the sustained rate against that relay capacity.`,
      `Steps: ${steps.map((s) => `${s.rate}/s -> published ${s.published_per_s}/s, lag trend ${s.lag_growth}/s, end lag ${JSON.stringify(s.lag_end)}, rss ${s.rss_mib} MiB, ${s.sustained ? 'held' : 'NOT held'}`).join('; ')}`,
      lastProfile ? `CPU profile of this process during the ${lastProfile.rate}/s step (self time; the broker, registry and other tenants are other processes): by module: ${groupTop(lastProfile.modules)}. Top functions: ${groupTop(lastProfile.top.slice(0, 8))}.` : 'no profile',
    ],
    extra: { steps, profile: lastProfile },
  };
}

scenarioMain('e2e', run);
