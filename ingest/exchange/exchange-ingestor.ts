// The exchange side of ingest: one ExchangeConnection per configured exchange (warm: every
// exchange keeps streaming its symbols, so health is always known) and one ExchangeFailover per
// symbol deciding whose ticks are published. Klines, rejections and status updates of every
// exchange pass through; ticks only from the symbol's active exchange. Commands from
// control.commands.v1 (reconnect, failover.set, retry.set) are carried out by handleCommand.
import type { Command } from '../../schemas/generated/events.ts';
import type { AdaptiveStaleAgeConfig } from './adaptive-stale-age.ts';
import {
  ExchangeConnection,
  type ExchangeConnectionConfig, type ExchangeConnectionDeps, type ExchangeSinks,
} from './exchange-connection.ts';
import { ExchangeFailover, type FailoverOutput, type FailoverSnapshot } from './exchange-failover.ts';
import { parseRetryConfig, RetryConfigError, type RetryConfig } from './retry-policy.ts';
import { statusUpdate, type ConnectionStats, type StatusPayloads, type StatusUpdate } from './status-events.ts';

export interface FailoverConfig {
  enabled?: boolean;
  /** How long a more preferred exchange must be healthy before the feed returns to it. */
  failbackAfterMs?: number;
  /** Per-symbol stale detection on accepted ticks (the symbol's own rhythm on each exchange). */
  staleAge?: Partial<AdaptiveStaleAgeConfig>;
  /** Health is re-evaluated this often besides on every tick. */
  evaluateEveryMs?: number;
  /** Exchange order per symbol; default: the order of `exchanges` among those that list the symbol. */
  preference?: Readonly<Record<string, readonly string[]>>;
}

export interface ExchangeIngestorConfig {
  exchanges: readonly ExchangeConnectionConfig[];
  failover?: FailoverConfig;
  /** failover.status snapshots; 0 disables. */
  heartbeatMs?: number;
  /** ControlEvent.source of failover and command events. */
  source?: string;
}

export interface CommandResult {
  ok: boolean;
  detail: string;
}

export interface ExchangeIngestorStats {
  connections: ConnectionStats[];
  failover: { enabled: boolean; symbols: FailoverSnapshot[] };
  /** Ticks from standby exchanges, received and not published. */
  standbyTicks: number;
}

export const INGEST_COMMANDS = ['reconnect', 'failover.set', 'retry.set'] as const;

export class ExchangeIngestor {
  readonly source: string;
  private readonly byExchange = new Map<string, ExchangeConnection>();
  private readonly failovers = new Map<string, ExchangeFailover>();
  private readonly now: () => number;
  private failoverEnabled: boolean;
  private evaluator: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private standbyTicks = 0;

  constructor(private readonly config: ExchangeIngestorConfig, private readonly sinks: ExchangeSinks, deps: ExchangeConnectionDeps = {}) {
    this.source = config.source ?? 'ingest';
    this.now = deps.now ?? Date.now;
    this.failoverEnabled = config.failover?.enabled ?? true;
    for (const exchangeConfig of config.exchanges) {
      if (this.byExchange.has(exchangeConfig.exchangeId)) throw new RangeError(`exchange ${exchangeConfig.exchangeId} is configured twice`);
      this.byExchange.set(exchangeConfig.exchangeId, new ExchangeConnection(exchangeConfig, this.sinksFor(exchangeConfig.exchangeId), deps));
    }
    const startedAt = this.now();
    const symbols = new Set(config.exchanges.flatMap((e) => e.symbols));
    for (const symbol of symbols) {
      const listing = config.exchanges.filter((e) => e.symbols.includes(symbol)).map((e) => e.exchangeId);
      const preferred = config.failover?.preference?.[symbol];
      const order = preferred === undefined ? listing : [...preferred.filter((e) => listing.includes(e)), ...listing.filter((e) => !preferred.includes(e))];
      this.failovers.set(symbol, new ExchangeFailover({
        symbol,
        exchanges: order,
        failbackAfterMs: config.failover?.failbackAfterMs ?? 30_000,
        staleAge: config.failover?.staleAge,
        enabled: this.failoverEnabled,
        startedAt,
      }));
    }
  }

  start(): void {
    for (const connection of this.byExchange.values()) connection.start();
    const every = this.config.failover?.evaluateEveryMs ?? 250;
    this.evaluator = setInterval(() => {
      const at = this.now();
      for (const failover of this.failovers.values()) void this.publishFailover(failover.evaluate(at));
    }, every);
    this.evaluator.unref();
    const heartbeatMs = this.config.heartbeatMs ?? 10_000;
    if (heartbeatMs > 0) {
      this.heartbeat = setInterval(() => void this.emit('failover.status', this.failoverStatus()), heartbeatMs);
      this.heartbeat.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.evaluator !== null) clearInterval(this.evaluator);
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.evaluator = null;
    this.heartbeat = null;
    await Promise.all([...this.byExchange.values()].map((c) => c.stop()));
  }

  connection(exchangeId: string): ExchangeConnection | undefined {
    return this.byExchange.get(exchangeId);
  }

  connections(): readonly ExchangeConnection[] {
    return [...this.byExchange.values()];
  }

  activeExchange(symbol: string): string | undefined {
    return this.failovers.get(symbol)?.active;
  }

  failoverSnapshot(): FailoverSnapshot[] {
    const at = this.now();
    return [...this.failovers.values()].map((f) => f.snapshot(at));
  }

  stats(): ExchangeIngestorStats {
    return {
      connections: [...this.byExchange.values()].map((c) => c.stats()),
      failover: { enabled: this.failoverEnabled, symbols: this.failoverSnapshot() },
      standbyTicks: this.standbyTicks,
    };
  }

  /** Is this command addressed to the exchange ingestors? (target ingest, exchange:* or exchange:<one of ours>) */
  ownsCommand(command: Pick<Command, 'target' | 'command'>): boolean {
    if (!(INGEST_COMMANDS as readonly string[]).includes(command.command)) return false;
    if (command.target === 'ingest' || command.target === 'exchange:*') return true;
    return command.target.startsWith('exchange:') && this.byExchange.has(command.target.slice('exchange:'.length));
  }

  /** Carry out a command and publish its command.result (command_id = the command's event_id). */
  async handleCommand(command: Command): Promise<CommandResult> {
    const result = this.execute(command);
    await this.emit('command.result', { command: command.command, target: command.target, ok: result.ok, detail: result.detail }, command.event_id);
    return result;
  }

  reconnect(exchangeId: string, commandId: string | null = null): CommandResult {
    const connection = this.byExchange.get(exchangeId);
    if (connection === undefined) return { ok: false, detail: `no exchange ${exchangeId} in this ingestor (have ${[...this.byExchange.keys()].join(', ')})` };
    connection.reconnect(commandId);
    return { ok: true, detail: `${exchangeId} reconnecting` };
  }

  /** exchangeId '*' changes every connection. */
  setRetryConfig(exchangeId: string, partial: Partial<RetryConfig>, commandId: string | null = null): CommandResult {
    const targets = exchangeId === '*' ? [...this.byExchange.values()] : [this.byExchange.get(exchangeId)].filter((c): c is ExchangeConnection => c !== undefined);
    if (targets.length === 0) return { ok: false, detail: `no exchange ${exchangeId} in this ingestor` };
    try {
      const applied = targets.map((c) => `${c.exchangeId}: ${JSON.stringify(c.setRetryConfig(partial, commandId))}`);
      return { ok: true, detail: applied.join('; ') };
    } catch (error) {
      if (error instanceof RetryConfigError) return { ok: false, detail: error.message };
      throw error;
    }
  }

  setFailoverEnabled(enabled: boolean, commandId: string | null = null): CommandResult {
    this.failoverEnabled = enabled;
    const at = this.now();
    for (const failover of this.failovers.values()) void this.publishFailover(failover.setEnabled(enabled, at));
    void this.emit('failover.status', this.failoverStatus(), commandId);
    return { ok: true, detail: `failover ${enabled ? 'enabled' : 'disabled'}` };
  }

  private execute(command: Command): CommandResult {
    if (!this.ownsCommand(command)) return { ok: false, detail: `command ${command.command} for ${command.target} is not handled by the exchange ingestor` };
    let params: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(command.params_json === '' ? '{}' : command.params_json);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, detail: 'params_json must be a JSON object' };
      params = parsed as Record<string, unknown>;
    } catch {
      return { ok: false, detail: 'params_json is not valid JSON' };
    }
    const targetExchange = command.target.startsWith('exchange:') ? command.target.slice('exchange:'.length) : '*';
    const exchange = typeof params['exchange'] === 'string' ? params['exchange'] : targetExchange;
    switch (command.command) {
      case 'reconnect':
        if (exchange === '*') return { ok: false, detail: 'reconnect needs one exchange: target exchange:<id> or params.exchange' };
        return this.reconnect(exchange, command.event_id);
      case 'failover.set':
        if (typeof params['enabled'] !== 'boolean') return { ok: false, detail: 'failover.set needs params.enabled: boolean' };
        if (params['failbackAfterMs'] !== undefined) {
          const ms = params['failbackAfterMs'];
          if (typeof ms !== 'number' || !(ms >= 0)) return { ok: false, detail: 'failbackAfterMs must be a number >= 0' };
          for (const failover of this.failovers.values()) failover.setFailbackAfter(ms);
        }
        return this.setFailoverEnabled(params['enabled'], command.event_id);
      case 'retry.set': {
        const { exchange: _ignored, ...retry } = params;
        try {
          return this.setRetryConfig(exchange, parseRetryConfig(retry), command.event_id);
        } catch (error) {
          if (error instanceof RetryConfigError) return { ok: false, detail: error.message };
          throw error;
        }
      }
      default:
        return { ok: false, detail: `unknown command ${command.command}` };
    }
  }

  private sinksFor(exchangeId: string): ExchangeSinks {
    return {
      onTick: async (tick) => {
        const failover = this.failovers.get(tick.symbol);
        if (failover === undefined) return;
        await this.publishFailover(failover.onMessage(exchangeId, tick.ingest_time));
        if (failover.active === exchangeId) await this.sinks.onTick(tick);
        else this.standbyTicks++;
      },
      onKline: (kline) => this.sinks.onKline(kline),
      onReject: (rejection) => this.sinks.onReject(rejection),
      onStatus: async (update) => {
        await this.sinks.onStatus(update);
        if (update.kind !== 'connection.down' && update.kind !== 'connection.up') return;
        const symbols = this.byExchange.get(exchangeId)?.symbols ?? [];
        for (const symbol of symbols) {
          const failover = this.failovers.get(symbol);
          if (failover === undefined) continue;
          const outputs = update.kind === 'connection.down' ? failover.onConnectionDown(exchangeId, update.at) : failover.onConnectionUp(exchangeId, update.at);
          await this.publishFailover(outputs);
        }
      },
    };
  }

  private async publishFailover(outputs: FailoverOutput[]): Promise<void> {
    for (const output of outputs) {
      switch (output.type) {
        case 'switched':
          await this.emit('failover', { symbol: output.symbol, from: output.from, to: output.to, reason: output.reason, silenceMs: output.silenceMs, staleAgeMs: output.staleAgeMs }, null, output.at);
          break;
        case 'health':
          await this.emit('exchange.health', { symbol: output.symbol, exchange: output.exchange, health: output.health, previous: output.previous, silenceMs: output.silenceMs, staleAgeMs: output.staleAgeMs }, null, output.at);
          break;
        case 'no_healthy_exchange':
          await this.emit('failover.status', { ...this.failoverStatus(), noHealthyExchange: output.symbol }, null, output.at);
          break;
        case 'enabled_changed':
          break; // one failover.status for all symbols is published by setFailoverEnabled
      }
    }
  }

  private failoverStatus(): StatusPayloads['failover.status'] {
    return { enabled: this.failoverEnabled, symbols: this.failoverSnapshot() };
  }

  private async emit<K extends keyof StatusPayloads>(kind: K, payload: StatusPayloads[K], commandId: string | null = null, at: number = this.now()): Promise<void> {
    const update: StatusUpdate = statusUpdate(kind, this.source, at, payload, commandId);
    try {
      await this.sinks.onStatus(update);
    } catch {
      // The runtime's producer reports its own failures; failover keeps running.
    }
  }
}
