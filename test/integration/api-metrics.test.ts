// /api/v1/monitoring/metrics against the running stack: the body parses as Prometheus text
// exposition, and the pipeline's counters move while events flow.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import { testEnv, eventually } from '../support/env.ts';

interface Sample { name: string; labels: Record<string, string>; value: number }

/** A strict parser of the text format: every line is a comment, HELP/TYPE, or a sample. */
export function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) { types.set(t[1]!, t[2]!); continue; }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|[Nn]a[Nn]|[+-]?Inf)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`line ${i + 1} is not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
      let lm: RegExpExecArray | null;
      let consumed = 0;
      while ((lm = re.exec(m[3])) !== null) { labels[lm[1]!] = lm[2]!; consumed = re.lastIndex; }
      if (consumed !== m[3].length) throw new Error(`line ${i + 1} has malformed labels: ${line}`);
    }
    // Values are Go floats (strconv.ParseFloat is case-insensitive: prom-client writes Nan).
    const v = /^nan$/i.test(m[4]!) ? NaN : m[4]!.endsWith('Inf') ? (m[4]!.startsWith('-') ? -Infinity : Infinity) : Number(m[4]);
    if (!Number.isFinite(v) && !/nan|inf/i.test(m[4]!)) throw new Error(`line ${i + 1} has a bad value: ${line}`);
    samples.push({ name: m[1]!, labels, value: v });
  }
  return { samples, types };
}

describe('prometheus metrics', () => {
  const t = testEnv({ SYNTHETIC_TICKS_PER_SECOND: '40', MARKET_SYMBOLS: 'BTC/USDT', SYNTHETIC_EXCHANGES: 'binance,kraken' });
  let p: Pipeline;
  const scrape = async () => {
    const r = await fetch(`${p.apiUrl}/api/v1/monitoring/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/plain');
    return parsePrometheus(await r.text());
  };
  const sum = (s: Sample[], name: string, where: (l: Record<string, string>) => boolean = () => true) =>
    s.filter((x) => x.name === name && where(x.labels)).reduce((a, x) => a + x.value, 0);

  beforeAll(async () => {
    p = await startPipeline(t.config, t.log);
  });
  afterAll(async () => {
    await p?.stop();
  });

  it('parses as Prometheus text with process, pipeline and HTTP metrics', async () => {
    await fetch(`${p.apiUrl}/api/v1/market/prices`);
    const { samples, types } = await scrape();
    expect(types.get('tickflow_events_out_total')).toBe('counter');
    expect(types.get('tickflow_http_request_duration_seconds')).toBe('histogram');
    expect(types.get('tickflow_process_process_resident_memory_bytes')).toBe('gauge');
    for (const name of ['tickflow_events_in_total', 'tickflow_dlq_total', 'tickflow_sink_batch_seconds', 'tickflow_consumer_lag', 'tickflow_ws_clients']) expect(types.has(name), name).toBe(true);
    expect(samples.some((s) => s.name === 'tickflow_http_request_duration_seconds_bucket' && s.labels.route === '/api/v1/market/prices' && s.labels.le === '+Inf')).toBe(true);
  });

  it('moves the event, sink and HTTP counters while events flow', async () => {
    const ticksTopic = `${t.prefix}market.ticks.v1`;
    const before = (await scrape()).samples;
    const out0 = sum(before, 'tickflow_events_out_total', (l) => l.topic === ticksTopic);
    const in0 = sum(before, 'tickflow_events_in_total', (l) => l.topic === ticksTopic);
    const rows0 = sum(before, 'tickflow_sink_rows_total', (l) => l.table === 'ticks');
    const http0 = sum(before, 'tickflow_http_request_duration_seconds_count', (l) => l.route === '/api/v1/monitoring/metrics');
    const after = await eventually('counters to move', async () => {
      const s = (await scrape()).samples;
      return sum(s, 'tickflow_events_out_total', (l) => l.topic === ticksTopic) > out0
        && sum(s, 'tickflow_events_in_total', (l) => l.topic === ticksTopic) > in0
        && sum(s, 'tickflow_sink_rows_total', (l) => l.table === 'ticks') > rows0 ? s : null;
    });
    expect(sum(after, 'tickflow_http_request_duration_seconds_count', (l) => l.route === '/api/v1/monitoring/metrics')).toBeGreaterThan(http0);
    // The telemetry summary reads the same registry.
    const tel = (await (await fetch(`${p.apiUrl}/api/v1/monitoring/telemetry/summary`)).json()) as { events: { out_by_topic: Record<string, number> } };
    expect(tel.events.out_by_topic[ticksTopic]).toBeGreaterThan(out0);
  });
});
