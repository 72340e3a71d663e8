// The market analytics topology for one partition of market.ticks.v1, as one pure state
// machine: ticks -> candles (every interval, per exchange and '*') -> indicators at each final
// candle -> strategy signals -> alert triggers. No I/O: the processor around it consumes,
// publishes and checkpoints; replays and tests drive it directly.
import type { AlertEvent, Candle, IndicatorValues, Signal, Tick, AlertTrigger } from '../schemas/generated/events.ts';
import type { TopicId, TopicValue } from '../schemas/topics.ts';
import { TickToCandleAggregator, type TickToCandleAggregatorOptions, type TickToCandleAggregatorState } from './candles/tick-to-candle-aggregator.ts';
import { IndicatorProcessor } from './indicators/indicator-processor.ts';
import { SignalProcessor, type SignalStrategyConfig } from './signals/signal-processor.ts';
import { AlertTriggerProcessor, type AlertTriggerProcessorState } from './alerts/alert-trigger-processor.ts';

export type Output = { [K in TopicId]: { topicId: K; key: string; value: TopicValue[K] } }[TopicId];

export interface MarketAnalyticsOptions {
  candles?: Omit<TickToCandleAggregatorOptions, 'now'>;
  strategies?: readonly SignalStrategyConfig[];
  /** Final candles kept per market and interval to warm indicators and strategies on restore. */
  historyCandles?: number;
  now?: () => number;
}

export interface MarketAnalyticsState {
  version: 1;
  candles: TickToCandleAggregatorState;
  /** Recent final candles per market/interval, oldest first. */
  history: Candle[];
  alerts: AlertTriggerProcessorState;
  /** exchange:symbol of every market this partition has seen. */
  markets: string[];
}

const candleKey = (c: Pick<Candle, 'symbol' | 'interval'>) => `${c.symbol}:${c.interval}`;
const seriesKey = (c: Pick<Candle, 'exchange' | 'symbol' | 'interval'>) => `${c.exchange}|${c.symbol}|${c.interval}`;

export class MarketAnalytics {
  private aggregator: TickToCandleAggregator;
  private readonly indicators: IndicatorProcessor;
  private readonly signals: SignalProcessor;
  private readonly alerts: AlertTriggerProcessor;
  private readonly history = new Map<string, Candle[]>();
  private readonly markets = new Set<string>();
  private readonly historyCandles: number;

  constructor(private readonly o: MarketAnalyticsOptions = {}, alertEvents: readonly AlertEvent[] = []) {
    const now = o.now ?? Date.now;
    this.aggregator = new TickToCandleAggregator({ ...o.candles, now });
    this.indicators = new IndicatorProcessor({ now });
    this.signals = new SignalProcessor({ strategies: o.strategies, now });
    this.alerts = new AlertTriggerProcessor({ now });
    this.historyCandles = o.historyCandles ?? 120;
    for (const e of alertEvents) this.alerts.apply(e);
  }

  static restore(state: MarketAnalyticsState, o: MarketAnalyticsOptions, alertEvents: readonly AlertEvent[]): MarketAnalytics {
    const m = new MarketAnalytics(o, alertEvents);
    m.aggregator = TickToCandleAggregator.restore(state.candles, { ...o.candles, now: o.now ?? Date.now });
    m.warm(state.history);
    m.alerts.restoreState(state.alerts);
    for (const k of state.markets) m.markets.add(k);
    return m;
  }

  /** Whether this partition has seen the market (so history for it is already warm). */
  knows(exchange: string, symbol: string): boolean {
    return this.markets.has(`${exchange}:${symbol}`);
  }

  /** Feed history from the store for a market seen for the first time (no output). */
  warm(candles: readonly Candle[]): void {
    const finals = candles.filter((c) => c.is_final).sort((a, b) => a.open_time - b.open_time);
    this.indicators.warmUp(finals);
    this.signals.warmUp(finals);
    for (const c of finals) this.remember(c);
  }

  applyAlertEvent(e: AlertEvent): void {
    this.alerts.apply(e);
  }

  processTick(tick: Tick): Output[] {
    this.markets.add(`${tick.exchange}:${tick.symbol}`);
    const out: Output[] = [];
    for (const t of this.alerts.process({ topic: 'ticks', value: tick })) out.push(trigger(t));
    for (const candle of this.aggregator.process(tick)) this.onCandle(candle, out);
    return out;
  }

  /** Finalize buckets whose end + lateness is before the watermark (idle markets). */
  flush(watermarkMs: number): Output[] {
    const out: Output[] = [];
    for (const candle of this.aggregator.flush(watermarkMs)) this.onCandle(candle, out);
    return out;
  }

  private onCandle(candle: Candle, out: Output[]): void {
    out.push({ topicId: 'candles', key: candleKey(candle), value: candle });
    if (!candle.is_final) return;
    this.remember(candle);
    for (const t of this.alerts.process({ topic: 'candles', value: candle })) out.push(trigger(t));
    const values: IndicatorValues[] = this.indicators.process(candle);
    const signals: Signal[] = this.signals.process({ topic: 'candles', value: candle });
    for (const v of values) {
      out.push({ topicId: 'indicators', key: candleKey(v), value: v });
      for (const t of this.alerts.process({ topic: 'indicators', value: v })) out.push(trigger(t));
      signals.push(...this.signals.process({ topic: 'indicators', value: v }));
    }
    for (const s of signals) {
      out.push({ topicId: 'signals', key: candleKey(s), value: s });
      for (const t of this.alerts.process({ topic: 'signals', value: s })) out.push(trigger(t));
    }
  }

  private remember(c: Candle): void {
    const k = seriesKey(c);
    let h = this.history.get(k);
    if (!h) this.history.set(k, (h = []));
    if (h.length && h[h.length - 1]!.open_time >= c.open_time) return;
    h.push(c);
    if (h.length > this.historyCandles) h.splice(0, h.length - this.historyCandles);
  }

  snapshot(): MarketAnalyticsState {
    return {
      version: 1,
      candles: this.aggregator.snapshot(),
      history: [...this.history.values()].flat(),
      alerts: this.alerts.snapshot(),
      markets: [...this.markets],
    };
  }

  get stats() {
    return { candles: this.aggregator.stats, alerts: this.alerts.stats };
  }
}

function trigger(t: AlertTrigger): Output {
  return { topicId: 'alertTriggers', key: t.alert_id, value: t };
}
