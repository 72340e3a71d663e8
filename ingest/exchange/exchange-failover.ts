// Which exchange feeds a symbol: a pure state machine, (state, event, time) -> outputs.
// - Each exchange's health for this symbol is healthy, stale (silent beyond its own adaptive stale
//   age), down (its connection reported down) or unknown (connected, nothing heard yet).
// - When the active exchange is down or stale, switch at once to the first healthy exchange in
//   preference order.
// - Fail back to a more preferred exchange once it has been healthy without a break for
//   failbackAfterMs, so one lucky message does not flap the feed.
// - Disabled: no automatic switching; the preferred exchange is pinned.
import { AdaptiveStaleAge, type AdaptiveStaleAgeConfig } from './adaptive-stale-age.ts';

export type ExchangeHealth = 'healthy' | 'stale' | 'down' | 'unknown';
export type SwitchReason = 'disconnected' | 'stale' | 'failback' | 'failover_disabled';

export interface ExchangeFailoverConfig {
  symbol: string;
  /** Preference order: the first is the preferred exchange. */
  exchanges: readonly string[];
  failbackAfterMs: number;
  staleAge?: Partial<AdaptiveStaleAgeConfig>;
  enabled?: boolean;
  startedAt: number;
}

export type FailoverOutput =
  | { type: 'switched'; symbol: string; from: string; to: string; reason: SwitchReason; at: number; silenceMs: number; staleAgeMs: number }
  | { type: 'health'; symbol: string; exchange: string; health: ExchangeHealth; previous: ExchangeHealth; at: number; silenceMs: number; staleAgeMs: number }
  | { type: 'no_healthy_exchange'; symbol: string; active: string; at: number }
  | { type: 'enabled_changed'; symbol: string; enabled: boolean; at: number };

export interface ExchangeHealthSnapshot {
  exchange: string;
  health: ExchangeHealth;
  connected: boolean;
  healthySince: number | null;
  lastMessageAt: number | null;
  staleAgeMs: number;
  silenceMs: number;
}

export interface FailoverSnapshot {
  symbol: string;
  enabled: boolean;
  active: string;
  preferred: string;
  exchanges: ExchangeHealthSnapshot[];
}

interface ExchangeState {
  connected: boolean;
  heardSinceUp: boolean;
  health: ExchangeHealth;
  healthySince: number | null;
  stale: AdaptiveStaleAge;
}

export class ExchangeFailover {
  readonly symbol: string;
  readonly exchanges: readonly string[];
  private failbackAfterMs: number;
  private enabledFlag: boolean;
  private activeExchange: string;
  private noneHealthyReported = false;
  private readonly states = new Map<string, ExchangeState>();

  constructor(config: ExchangeFailoverConfig) {
    const [preferred] = config.exchanges;
    if (preferred === undefined) throw new RangeError(`failover for ${config.symbol} needs at least one exchange`);
    if (new Set(config.exchanges).size !== config.exchanges.length) throw new RangeError(`failover for ${config.symbol} lists an exchange twice`);
    this.symbol = config.symbol;
    this.exchanges = [...config.exchanges];
    this.failbackAfterMs = config.failbackAfterMs;
    this.enabledFlag = config.enabled ?? true;
    this.activeExchange = preferred;
    for (const exchange of config.exchanges) {
      this.states.set(exchange, {
        connected: true,
        heardSinceUp: false,
        health: 'unknown',
        healthySince: null,
        stale: new AdaptiveStaleAge(config.staleAge, config.startedAt),
      });
    }
  }

  get active(): string {
    return this.activeExchange;
  }

  get preferred(): string {
    return this.exchanges[0] ?? this.activeExchange;
  }

  get enabled(): boolean {
    return this.enabledFlag;
  }

  setFailbackAfter(ms: number): void {
    this.failbackAfterMs = ms;
  }

  /** An accepted tick for this symbol arrived from `exchange`. */
  onMessage(exchange: string, at: number): FailoverOutput[] {
    const state = this.states.get(exchange);
    if (state === undefined) return [];
    state.connected = true;
    state.heardSinceUp = true;
    state.stale.observe(at);
    return this.evaluate(at);
  }

  onConnectionDown(exchange: string, at: number): FailoverOutput[] {
    const state = this.states.get(exchange);
    if (state === undefined) return [];
    state.connected = false;
    state.heardSinceUp = false;
    return this.evaluate(at);
  }

  onConnectionUp(exchange: string, at: number): FailoverOutput[] {
    const state = this.states.get(exchange);
    if (state === undefined) return [];
    state.connected = true;
    state.heardSinceUp = false;
    state.stale.restart(at);
    return this.evaluate(at);
  }

  setEnabled(enabled: boolean, at: number): FailoverOutput[] {
    if (enabled === this.enabledFlag) return [];
    this.enabledFlag = enabled;
    const out: FailoverOutput[] = [{ type: 'enabled_changed', symbol: this.symbol, enabled, at }];
    if (!enabled && this.activeExchange !== this.preferred) out.push(this.switchTo(this.preferred, 'failover_disabled', at));
    return out.concat(this.evaluate(at));
  }

  /** Re-derive health from the clock and switch if needed; call on a timer and on every message. */
  evaluate(at: number): FailoverOutput[] {
    const out: FailoverOutput[] = [];
    for (const exchange of this.exchanges) {
      const change = this.updateHealth(exchange, at);
      if (change !== null) out.push(change);
    }
    if (!this.enabledFlag) return out;
    const activeHealth = this.healthOf(this.activeExchange);
    if (activeHealth === 'down' || activeHealth === 'stale') {
      const next = this.exchanges.find((e) => e !== this.activeExchange && this.healthOf(e) === 'healthy');
      if (next !== undefined) {
        out.push(this.switchTo(next, activeHealth === 'down' ? 'disconnected' : 'stale', at));
      } else if (!this.noneHealthyReported) {
        this.noneHealthyReported = true;
        out.push({ type: 'no_healthy_exchange', symbol: this.symbol, active: this.activeExchange, at });
      }
      return out;
    }
    this.noneHealthyReported = false;
    if (activeHealth !== 'healthy') return out;
    const activeRank = this.exchanges.indexOf(this.activeExchange);
    const better = this.exchanges.slice(0, activeRank).find((e) => {
      const since = this.states.get(e)?.healthySince ?? null;
      return this.healthOf(e) === 'healthy' && since !== null && at - since >= this.failbackAfterMs;
    });
    if (better !== undefined) out.push(this.switchTo(better, 'failback', at));
    return out;
  }

  snapshot(at: number): FailoverSnapshot {
    return {
      symbol: this.symbol,
      enabled: this.enabledFlag,
      active: this.activeExchange,
      preferred: this.preferred,
      exchanges: this.exchanges.map((exchange) => {
        const s = this.mustState(exchange);
        return {
          exchange,
          health: s.health,
          connected: s.connected,
          healthySince: s.healthySince,
          lastMessageAt: s.stale.lastMessageAt(),
          staleAgeMs: s.stale.staleAge(),
          silenceMs: s.stale.silenceMs(at),
        };
      }),
    };
  }

  private healthOf(exchange: string): ExchangeHealth {
    return this.states.get(exchange)?.health ?? 'down';
  }

  private mustState(exchange: string): ExchangeState {
    const state = this.states.get(exchange);
    if (state === undefined) throw new Error(`failover for ${this.symbol} has no exchange ${exchange}`);
    return state;
  }

  private updateHealth(exchange: string, at: number): FailoverOutput | null {
    const s = this.mustState(exchange);
    let health: ExchangeHealth;
    if (!s.connected) health = 'down';
    else if (s.stale.isStale(at)) health = 'stale';
    else health = s.heardSinceUp ? 'healthy' : 'unknown';
    if (health === s.health) return null;
    const previous = s.health;
    s.health = health;
    s.healthySince = health === 'healthy' ? at : null;
    return { type: 'health', symbol: this.symbol, exchange, health, previous, at, silenceMs: s.stale.silenceMs(at), staleAgeMs: s.stale.staleAge() };
  }

  private switchTo(to: string, reason: SwitchReason, at: number): FailoverOutput {
    const from = this.activeExchange;
    const s = this.mustState(from);
    this.activeExchange = to;
    this.noneHealthyReported = false;
    return { type: 'switched', symbol: this.symbol, from, to, reason, at, silenceMs: s.stale.silenceMs(at), staleAgeMs: s.stale.staleAge() };
  }
}
