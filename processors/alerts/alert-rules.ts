// Alert definitions, event-sourced: the projection of alerts.events.v1 (compacted, keyed by alert
// id) into parsed, typed rules, indexed by symbol.
//
// CREATED and UPDATED carry the full definition and upsert (after compaction an alert may be
// known only by its last UPDATED); DELETED removes it. A definition that fails to parse removes
// any earlier version of that alert (a stale rule must not keep firing) and is reported, never
// thrown. Params arrive as a string map; every type parses its own keys and rejects unknown ones,
// so a typo is an error rather than a silently ignored setting.
import type { AlertDefinition, AlertEvent, PredictedDirection, SignalSide } from '../../schemas/generated/events.ts';
import { INTERVALS } from '../../schemas/topics.ts';

export const ALERT_TYPES = [
  'price_above', 'price_below', 'percent_change', 'volume_spike', 'indicator_threshold', 'strategy_signal', 'prediction',
] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

export type PercentChangeDirection = 'up' | 'down' | 'either';

export type AlertCondition =
  /** Tick last price crosses above threshold. */
  | { type: 'price_above'; threshold: number }
  /** Tick last price crosses below threshold. */
  | { type: 'price_below'; threshold: number }
  /** Tick price moved by at least percent within windowMs. */
  | { type: 'percent_change'; percent: number; windowMs: number; direction: PercentChangeDirection }
  /** A final candle's volume is at least multiplier x the mean of the previous lookback candles. */
  | { type: 'volume_spike'; multiplier: number; lookback: number }
  /** An indicator value crosses above/below threshold. */
  | { type: 'indicator_threshold'; indicator: string; op: 'above' | 'below'; threshold: number }
  /** A strategy emits the given side. */
  | { type: 'strategy_signal'; strategy: string; side: Exclude<SignalSide, 'HOLD'> }
  /** A prediction in the given direction with at least minConfidence (optionally one horizon). */
  | { type: 'prediction'; direction: PredictedDirection; minConfidence: number; horizon: number | null };

export interface AlertRule {
  alertId: string;
  userId: string;
  symbol: string;
  /** null: ticks from any exchange, and the all-exchange ('*') candles, indicators and signals. */
  exchange: string | null;
  /** null: every interval (each evaluated on its own). */
  interval: string | null;
  condition: AlertCondition;
  cooldownMs: number;
  repeat: boolean;
  active: boolean;
  note: string | null;
  /** event_time of the AlertEvent that defined this version. */
  definedAt: number;
  /** event_id of that AlertEvent. */
  definitionEventId: string;
}

export type AlertApplyResult =
  | { status: 'created' | 'updated'; alertId: string; rule: AlertRule }
  | { status: 'unchanged'; alertId: string }
  | { status: 'deleted'; alertId: string; existed: boolean }
  | { status: 'rejected'; alertId: string; reason: string };

export type ParsedAlertDefinition = { ok: true; rule: AlertRule } | { ok: false; reason: string };

/** Parses a definition into a rule; every failure is a reason string naming the field. */
export function parseAlertDefinition(event: Pick<AlertEvent, 'alert_id' | 'user_id' | 'event_time' | 'event_id'>, def: AlertDefinition): ParsedAlertDefinition {
  try {
    if (!event.alert_id) fail('alert_id is empty');
    if (!event.user_id) fail('user_id is empty');
    if (!def.symbol || def.symbol.trim() === '') fail('symbol is empty');
    if (def.interval !== null && !(INTERVALS as readonly string[]).includes(def.interval)) {
      fail(`interval "${def.interval}" is not one of ${INTERVALS.join(', ')}`);
    }
    if (!Number.isInteger(def.cooldown_ms) || def.cooldown_ms < 0) fail(`cooldown_ms must be an integer >= 0, got ${String(def.cooldown_ms)}`);
    const condition = parseCondition(def.alert_type, def.params ?? {});
    return {
      ok: true,
      rule: {
        alertId: event.alert_id,
        userId: event.user_id,
        symbol: def.symbol,
        exchange: def.exchange === '' ? null : def.exchange,
        interval: def.interval,
        condition,
        cooldownMs: def.cooldown_ms,
        repeat: def.repeat,
        active: def.active,
        note: def.note,
        definedAt: event.event_time,
        definitionEventId: event.event_id,
      },
    };
  } catch (error) {
    if (error instanceof AlertDefinitionError) return { ok: false, reason: error.message };
    throw error;
  }
}

export class AlertDefinitionError extends Error {
  override readonly name = 'AlertDefinitionError';
}

function fail(reason: string): never {
  throw new AlertDefinitionError(reason);
}

function parseCondition(type: string, raw: Readonly<Record<string, string>>): AlertCondition {
  if (!(ALERT_TYPES as readonly string[]).includes(type)) fail(`alert_type "${type}" is not one of ${ALERT_TYPES.join(', ')}`);
  const p = new ParamReader(type, raw);
  let condition: AlertCondition;
  switch (type as AlertType) {
    case 'price_above':
    case 'price_below':
      condition = { type: type as 'price_above' | 'price_below', threshold: p.number('threshold', { gt: 0 }) };
      break;
    case 'percent_change':
      condition = {
        type: 'percent_change',
        percent: p.number('percent', { gt: 0, max: 1000 }),
        windowMs: p.integer('window_ms', { min: 1000, max: 7 * 86_400_000 }),
        direction: p.oneOf('direction', ['up', 'down', 'either'] as const, 'either'),
      };
      break;
    case 'volume_spike':
      condition = {
        type: 'volume_spike',
        multiplier: p.number('multiplier', { gt: 0, max: 1_000_000 }),
        lookback: p.integer('lookback', { min: 1, max: 1000 }),
      };
      break;
    case 'indicator_threshold': {
      const indicator = p.string('indicator');
      if (!/^[a-z][a-z0-9_.]*$/.test(indicator)) fail(`${type}: param "indicator" must be an indicator name like rsi_14, got "${indicator}"`);
      condition = {
        type: 'indicator_threshold',
        indicator,
        op: p.oneOf('op', ['above', 'below'] as const),
        threshold: p.number('threshold'),
      };
      break;
    }
    case 'strategy_signal':
      condition = {
        type: 'strategy_signal',
        strategy: p.string('strategy'),
        side: p.oneOf('side', ['BUY', 'SELL'] as const, undefined, (s) => s.toUpperCase()),
      };
      break;
    case 'prediction':
      condition = {
        type: 'prediction',
        direction: p.oneOf('direction', ['UP', 'DOWN', 'FLAT'] as const, undefined, (s) => s.toUpperCase()),
        minConfidence: p.number('min_confidence', { min: 0, max: 1 }),
        horizon: p.has('horizon') ? p.integer('horizon', { min: 1, max: 100_000 }) : null,
      };
      break;
  }
  p.rejectUnknown();
  return condition;
}

/** Reads typed params from the string map; remembers which keys were read to reject the rest. */
class ParamReader {
  private readonly used = new Set<string>();

  constructor(private readonly type: string, private readonly raw: Readonly<Record<string, string>>) {}

  has(name: string): boolean {
    return this.raw[name] !== undefined;
  }

  string(name: string): string {
    this.used.add(name);
    const v = this.raw[name];
    if (v === undefined || v.trim() === '') fail(`${this.type}: param "${name}" is required`);
    return v.trim();
  }

  number(name: string, range: { gt?: number; min?: number; max?: number } = {}): number {
    const s = this.string(name);
    const n = Number(s);
    if (!Number.isFinite(n)) fail(`${this.type}: param "${name}" must be a number, got "${s}"`);
    if (range.gt !== undefined && !(n > range.gt)) fail(`${this.type}: param "${name}" must be > ${range.gt}, got ${s}`);
    if (range.min !== undefined && n < range.min) fail(`${this.type}: param "${name}" must be >= ${range.min}, got ${s}`);
    if (range.max !== undefined && n > range.max) fail(`${this.type}: param "${name}" must be <= ${range.max}, got ${s}`);
    return n;
  }

  integer(name: string, range: { min: number; max: number }): number {
    const n = this.number(name, range);
    if (!Number.isInteger(n)) fail(`${this.type}: param "${name}" must be an integer, got ${this.raw[name]}`);
    return n;
  }

  oneOf<T extends string>(name: string, options: readonly T[], fallback?: T, normalize: (s: string) => string = (s) => s): T {
    if (fallback !== undefined && !this.has(name)) {
      this.used.add(name);
      return fallback;
    }
    const s = normalize(this.string(name));
    if (!(options as readonly string[]).includes(s)) fail(`${this.type}: param "${name}" must be one of ${options.join(', ')}, got "${this.raw[name]}"`);
    return s as T;
  }

  rejectUnknown(): void {
    const unknown = Object.keys(this.raw).filter((k) => !this.used.has(k));
    if (unknown.length > 0) fail(`${this.type}: unknown param${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}`);
  }
}

/** The current definitions, as replayed from alerts.events.v1. */
export class AlertRules {
  private readonly rules = new Map<string, AlertRule>();
  private readonly bySymbol = new Map<string, Set<string>>();
  private readonly rejected = new Map<string, string>();

  apply(event: AlertEvent): AlertApplyResult {
    const alertId = event.alert_id;
    if (event.kind === 'DELETED') {
      this.rejected.delete(alertId);
      return { status: 'deleted', alertId, existed: this.remove(alertId) };
    }
    const existing = this.rules.get(alertId);
    if (existing && existing.definitionEventId === event.event_id) return { status: 'unchanged', alertId };
    if (event.definition === null) return this.reject(alertId, `${event.kind} without a definition`);
    const parsed = parseAlertDefinition(event, event.definition);
    if (!parsed.ok) return this.reject(alertId, parsed.reason);
    this.remove(alertId);
    this.rejected.delete(alertId);
    this.rules.set(alertId, parsed.rule);
    let ids = this.bySymbol.get(parsed.rule.symbol);
    if (!ids) this.bySymbol.set(parsed.rule.symbol, (ids = new Set()));
    ids.add(alertId);
    return { status: existing ? 'updated' : 'created', alertId, rule: parsed.rule };
  }

  get(alertId: string): AlertRule | undefined {
    return this.rules.get(alertId);
  }

  /** Rules for one symbol, in definition order. */
  forSymbol(symbol: string): AlertRule[] {
    const ids = this.bySymbol.get(symbol);
    if (!ids) return [];
    return [...ids].map((id) => this.rules.get(id)!);
  }

  all(): AlertRule[] {
    return [...this.rules.values()];
  }

  get size(): number {
    return this.rules.size;
  }

  /** Alerts whose latest definition was rejected, with the reason. */
  get invalid(): ReadonlyMap<string, string> {
    return this.rejected;
  }

  private reject(alertId: string, reason: string): AlertApplyResult {
    this.remove(alertId);
    this.rejected.set(alertId, reason);
    return { status: 'rejected', alertId, reason };
  }

  private remove(alertId: string): boolean {
    const rule = this.rules.get(alertId);
    if (!rule) return false;
    this.rules.delete(alertId);
    const ids = this.bySymbol.get(rule.symbol);
    ids?.delete(alertId);
    if (ids?.size === 0) this.bySymbol.delete(rule.symbol);
    return true;
  }
}
