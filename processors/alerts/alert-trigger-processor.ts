// Evaluates market events against the alert definitions and emits AlertTriggers.
//
// Reads: alerts.events.v1 (apply), market.ticks.v1, analytics.candles.v1, analytics.indicators.v1,
// analytics.signals.v1, analytics.predictions.v1 (process). Writes: alerts.triggers.v1.
// State: the definitions (rebuilt from the compacted topic), and per alert its last fire time,
// whether a once-only alert has fired, and the per-stream state below. snapshot()/restoreState()
// carry it as JSON; restoreTrigger() rebuilds cooldowns and once-only state from trigger history.
//
// Triggering, per alert and stream (a stream is one exchange for ticks; one exchange and interval
// for candles, indicators and signals; one interval for predictions):
// - Level conditions are edge-triggered: price_above, price_below, percent_change and
//   indicator_threshold fire when an observation satisfies the condition and the previous
//   observation of that stream did not. The first observation only sets the baseline (we cannot
//   tell when a price already above the threshold crossed it), so holding above a level fires
//   once per crossing, not on every tick.
// - Event conditions fire on every matching event: volume_spike (per final candle),
//   strategy_signal, prediction.
// - cooldown_ms is measured in event time from the last trigger; an edge that falls inside the
//   cooldown is consumed, not deferred. repeat=false fires once, then the alert stays silent until
//   its definition is updated (an update re-arms it and resets its streams).
// - Ticks match any exchange when the alert has none; candles, indicators and signals then match
//   the all-exchange ('*') market only, so one move fires once rather than once per exchange.
//
// event_id: alert:<alert_id>:<triggering event_id>, so a replay produces the same triggers.
import type {
  AlertEvent, AlertTrigger, Candle, IndicatorValues, Prediction, Signal, Tick,
} from '../../schemas/generated/events.ts';
import { ALL_EXCHANGES } from '../candles/tick-to-candle-aggregator.ts';
import { AlertRules, type AlertApplyResult, type AlertRule } from './alert-rules.ts';

export const ALERT_TRIGGER_EVENT_TYPE = 'alert_trigger';
export const ALERT_TRIGGER_SCHEMA_VERSION = 1;

export type AlertInput =
  | { topic: 'ticks'; value: Tick }
  | { topic: 'candles'; value: Candle }
  | { topic: 'indicators'; value: IndicatorValues }
  | { topic: 'signals'; value: Signal }
  | { topic: 'predictions'; value: Prediction };

export interface AlertTriggerProcessorOptions {
  /** Clock for ingest_time. Default Date.now. */
  now?: () => number;
}

/** Per-stream state of one alert; plain JSON. */
interface StreamState {
  /** Whether the last observation satisfied the condition; null before the first. */
  satisfied: boolean | null;
  /** percent_change: [event_time, price] samples within the window, ascending. */
  samples?: Array<[number, number]>;
  /** volume_spike: volumes of the previous final candles, oldest first. */
  volumes?: number[];
  /** volume_spike: open time of the last candle counted, so replays and amendments count once. */
  lastOpenTime?: number;
}

interface AlertRuntime {
  /** definitionEventId of the rule version this state belongs to. */
  version: string;
  lastFiredAt: number | null;
  fired: number;
  streams: Record<string, StreamState>;
}

export interface AlertTriggerProcessorState {
  version: 1;
  runtimes: Record<string, AlertRuntime>;
}

export interface AlertProcessorCounters {
  triggers: number;
  suppressedByCooldown: number;
  /** Evaluations that threw; the event was skipped for that alert. */
  evaluationErrors: number;
  lastError: string | null;
}

/** percent_change keeps at most about this many samples per stream, however busy the market. */
const MAX_WINDOW_SAMPLES = 1000;

interface Hit {
  value: number;
  threshold: number | null;
  message: string;
}

export class AlertTriggerProcessor {
  readonly rules = new AlertRules();
  private readonly now: () => number;
  private readonly runtimes = new Map<string, AlertRuntime>();
  private readonly counters: AlertProcessorCounters = { triggers: 0, suppressedByCooldown: 0, evaluationErrors: 0, lastError: null };

  constructor(options: AlertTriggerProcessorOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  get stats(): Readonly<AlertProcessorCounters> {
    return { ...this.counters };
  }

  /** Applies a definition event. Invalid definitions come back as status 'rejected' with a reason. */
  apply(event: AlertEvent): AlertApplyResult {
    const result = this.rules.apply(event);
    if (result.status === 'created' || result.status === 'updated') {
      this.runtimes.set(result.alertId, newRuntime(result.rule));
    } else if (result.status === 'deleted' || result.status === 'rejected') {
      this.runtimes.delete(result.alertId);
    }
    return result;
  }

  /** Restores cooldown and once-only state from a trigger of the current definition version. */
  restoreTrigger(trigger: AlertTrigger): void {
    const rule = this.rules.get(trigger.alert_id);
    if (!rule || trigger.event_time < rule.definedAt) return;
    const rt = this.runtime(rule);
    if (rt.lastFiredAt === null || trigger.event_time > rt.lastFiredAt) rt.lastFiredAt = trigger.event_time;
    rt.fired++;
  }

  snapshot(): AlertTriggerProcessorState {
    return structuredClone({ version: 1, runtimes: Object.fromEntries(this.runtimes) });
  }

  /** Call after the definitions are applied; state of other definition versions is ignored. */
  restoreState(state: AlertTriggerProcessorState): void {
    if (state.version !== 1) throw new RangeError(`AlertTriggerProcessor: unsupported state version ${String(state.version)}`);
    for (const [alertId, rt] of Object.entries(structuredClone(state.runtimes))) {
      const rule = this.rules.get(alertId);
      if (rule && rule.definitionEventId === rt.version) this.runtimes.set(alertId, rt);
    }
  }

  /** Never throws: an evaluation failure is counted in stats and skips that alert for the event. */
  process(input: AlertInput): AlertTrigger[] {
    const event = input.value;
    const rules = this.rules.forSymbol(event.symbol);
    if (rules.length === 0) return [];
    const out: AlertTrigger[] = [];
    const ingestTime = this.now();
    for (const rule of rules) {
      if (!rule.active) continue;
      try {
        const rt = this.runtime(rule);
        const hit = this.evaluate(rule, rt, input);
        if (hit) this.fire(rule, rt, hit, event.event_id, event.event_time, ingestTime, out);
      } catch (error) {
        this.counters.evaluationErrors++;
        this.counters.lastError = `${rule.alertId}: ${error instanceof Error ? error.message : String(error)}`;
      }
    }
    return out;
  }

  private runtime(rule: AlertRule): AlertRuntime {
    let rt = this.runtimes.get(rule.alertId);
    if (!rt || rt.version !== rule.definitionEventId) {
      rt = newRuntime(rule);
      this.runtimes.set(rule.alertId, rt);
    }
    return rt;
  }

  private evaluate(rule: AlertRule, rt: AlertRuntime, input: AlertInput): Hit | null {
    const c = rule.condition;
    switch (input.topic) {
      case 'ticks': {
        const tick = input.value;
        if (rule.exchange !== null && tick.exchange !== rule.exchange) return null;
        if (!Number.isFinite(tick.last)) return null;
        const stream = stream_(rt, tick.exchange);
        const where = `${rule.symbol} on ${tick.exchange}`;
        if (c.type === 'price_above' || c.type === 'price_below') {
          const above = c.type === 'price_above';
          const now = above ? tick.last > c.threshold : tick.last < c.threshold;
          if (!edge(stream, now)) return null;
          return {
            value: tick.last, threshold: c.threshold,
            message: `${where} crossed ${above ? 'above' : 'below'} ${c.threshold} (last ${tick.last})`,
          };
        }
        if (c.type === 'percent_change') {
          const ref = windowReference(stream, tick.event_time, tick.last, c.windowMs);
          if (ref === null) return null;
          const change = ((tick.last - ref) / ref) * 100;
          const now = c.direction === 'up' ? change >= c.percent : c.direction === 'down' ? change <= -c.percent : Math.abs(change) >= c.percent;
          if (!edge(stream, now)) return null;
          const sign = change >= 0 ? '+' : '';
          return {
            value: change, threshold: change >= 0 ? c.percent : -c.percent,
            message: `${where} moved ${sign}${change.toFixed(2)}% within ${c.windowMs} ms (${ref} -> ${tick.last})`,
          };
        }
        return null;
      }
      case 'candles': {
        const candle = input.value;
        if (c.type !== 'volume_spike' || !candle.is_final || candle.revision !== 0) return null;
        if (!this.matchesMarket(rule, candle.exchange, candle.interval)) return null;
        const key = `${candle.exchange}|${candle.interval}`;
        const stream = stream_(rt, key);
        if (stream.lastOpenTime !== undefined && candle.open_time <= stream.lastOpenTime) return null;
        if (!Number.isFinite(candle.volume)) return null;
        stream.lastOpenTime = candle.open_time;
        const volumes = (stream.volumes ??= []);
        let hit: Hit | null = null;
        if (volumes.length >= c.lookback) {
          const mean = volumes.reduce((a, b) => a + b, 0) / volumes.length;
          const threshold = c.multiplier * mean;
          if (mean > 0 && candle.volume >= threshold) {
            hit = {
              value: candle.volume, threshold,
              message: `${rule.symbol} ${candle.interval} volume ${candle.volume} is ${(candle.volume / mean).toFixed(2)}x the mean ${mean} of the previous ${c.lookback} candles`,
            };
          }
        }
        volumes.push(candle.volume);
        while (volumes.length > c.lookback) volumes.shift();
        return hit;
      }
      case 'indicators': {
        const values = input.value;
        if (c.type !== 'indicator_threshold') return null;
        if (!this.matchesMarket(rule, values.exchange, values.interval)) return null;
        const value = values.values[c.indicator];
        if (value === undefined || !Number.isFinite(value)) return null;
        const key = `${values.exchange}|${values.interval}`;
        const now = c.op === 'above' ? value > c.threshold : value < c.threshold;
        if (!edge(stream_(rt, key), now)) return null;
        return {
          value, threshold: c.threshold,
          message: `${rule.symbol} ${values.interval} ${c.indicator} ${value} crossed ${c.op} ${c.threshold}`,
        };
      }
      case 'signals': {
        const signal = input.value;
        if (c.type !== 'strategy_signal' || signal.strategy !== c.strategy || signal.side !== c.side) return null;
        if (!this.matchesMarket(rule, signal.exchange, signal.interval)) return null;
        return {
          value: signal.strength, threshold: null,
          message: `${rule.symbol} ${signal.interval} ${signal.strategy} ${signal.side} at ${signal.price} (strength ${signal.strength.toFixed(2)}): ${signal.reasons.join('; ')}`,
        };
      }
      case 'predictions': {
        const p = input.value;
        if (c.type !== 'prediction' || p.direction !== c.direction || !(p.confidence >= c.minConfidence)) return null;
        if (rule.interval !== null && p.interval !== rule.interval) return null;
        if (c.horizon !== null && p.horizon !== c.horizon) return null;
        return {
          value: p.confidence, threshold: c.minConfidence,
          message: `${rule.symbol} ${p.interval} model ${p.model_id} predicts ${p.direction} over ${p.horizon} candles with confidence ${p.confidence.toFixed(2)}`,
        };
      }
    }
  }

  private matchesMarket(rule: AlertRule, exchange: string, interval: string): boolean {
    if (exchange !== (rule.exchange ?? ALL_EXCHANGES)) return false;
    return rule.interval === null || interval === rule.interval;
  }

  private fire(rule: AlertRule, rt: AlertRuntime, hit: Hit, sourceEventId: string, eventTime: number, ingestTime: number, out: AlertTrigger[]): void {
    if (!rule.repeat && rt.fired > 0) return;
    if (rt.lastFiredAt !== null && eventTime - rt.lastFiredAt < rule.cooldownMs) {
      this.counters.suppressedByCooldown++;
      return;
    }
    rt.lastFiredAt = eventTime;
    rt.fired++;
    this.counters.triggers++;
    out.push({
      event_id: `alert:${rule.alertId}:${sourceEventId}`,
      event_type: ALERT_TRIGGER_EVENT_TYPE,
      schema_version: ALERT_TRIGGER_SCHEMA_VERSION,
      event_time: eventTime,
      ingest_time: ingestTime,
      alert_id: rule.alertId,
      user_id: rule.userId,
      alert_type: rule.condition.type,
      symbol: rule.symbol,
      value: hit.value,
      threshold: hit.threshold,
      message: rule.note ? `${hit.message} — ${rule.note}` : hit.message,
    });
  }
}

function newRuntime(rule: AlertRule): AlertRuntime {
  return { version: rule.definitionEventId, lastFiredAt: null, fired: 0, streams: {} };
}

function stream_(rt: AlertRuntime, key: string): StreamState {
  return (rt.streams[key] ??= { satisfied: null });
}

/** Records the observation; true on a false -> true transition (never on the first observation). */
function edge(stream: StreamState, now: boolean): boolean {
  const before = stream.satisfied;
  stream.satisfied = now;
  return before === false && now;
}

/**
 * Adds the tick to the stream's window and returns the reference price: the oldest sample within
 * window_ms (the tick itself if it is the only one). Samples closer together than window/1000 are
 * merged, which bounds memory; ticks older than the newest sample are ignored (null).
 */
function windowReference(stream: StreamState, time: number, price: number, windowMs: number): number | null {
  const samples = (stream.samples ??= []);
  const last = samples[samples.length - 1];
  if (last && time < last[0]) return null;
  const resolution = Math.max(1, Math.floor(windowMs / MAX_WINDOW_SAMPLES));
  if (last && time - last[0] < resolution && samples.length > 1) last[1] = price;
  else samples.push([time, price]);
  while (samples.length > 0 && samples[0]![0] < time - windowMs) samples.shift();
  const ref = samples[0]![1];
  return ref > 0 ? ref : null;
}
