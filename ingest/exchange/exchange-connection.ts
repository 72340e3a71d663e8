// One ccxt exchange instance feeding a list of symbols. A supervisor runs "sessions": each session
// streams tickers (watchTicker per symbol through ccxt.pro) or polls them (fetchTickers /
// fetchTicker), polls closed candles (fetchOHLCV), and ends on the first transport error, on
// silence beyond the adaptive stale age, or on a reconnect command. Between sessions the retry
// policy decides the delay. A session that delivered data and ended is a recorded hole; the next
// session that delivers data backfills the candles the hole spans and reports completeness.
//
// Everything leaves through the sinks given to the constructor; sinks may return promises and are
// awaited, so a slow sink slows the reader instead of growing a buffer.
import ccxt, {
  BadResponse, BaseError, DDoSProtection, ExchangeError, ExchangeNotAvailable, NetworkError, NullResponse, RateLimitExceeded, RequestTimeout,
  type ConstructorArgs, type Dict, type Exchange, type OHLCV, type Ticker,
} from 'ccxt';
import type { Kline, Tick } from '../../schemas/generated/events.ts';
import { AdaptiveStaleAge, type AdaptiveStaleAgeConfig } from './adaptive-stale-age.ts';
import { candlesSpannedBy, computeCompleteness, type CompletenessReport, type TimeRange } from './completeness.ts';
import { EXCHANGE_PRESETS, mergeCcxtOptions } from './exchange-presets.ts';
import { RetryPolicy, type RetryConfig } from './retry-policy.ts';
import {
  statusUpdate,
  type ConnectionState, type ConnectionStats, type ErrorKind, type FeedTransport, type IngestRejection, type StatusPayloads, type StatusUpdate,
} from './status-events.ts';
import { klineFromOhlcv, klineKey, tickFromTicker, tickKey } from './tick-normalizer.ts';
import { TickQualityGate, validateKline, type RejectCode, type TickQualityGateConfig } from './tick-quality-gate.ts';

export interface KlineFeedConfig {
  /** ccxt timeframes, e.g. ['1m']. */
  intervals: readonly string[];
  /** How often closed candles are fetched. */
  pollIntervalMs?: number;
  /** Candles per fetchOHLCV page (the exchange's maximum or less). */
  pageLimit?: number;
  /** Closed candles fetched on the first session. */
  startupCandles?: number;
  /** A candle counts as closed this long after its interval ends, unless a newer one is already listed. */
  closeGraceMs?: number;
}

export interface ExchangeConnectionConfig {
  /** ccxt exchange id, e.g. binance. */
  exchangeId: string;
  /** Unified symbols, e.g. BTC/USDT. */
  symbols: readonly string[];
  /** ccxt constructor options (urls, timeout, options...), merged over EXCHANGE_PRESETS. enableRateLimit is always on. */
  ccxtOptions?: ConstructorArgs;
  /** auto: stream when ccxt.pro supports watchTicker and it works, else poll. */
  transport?: 'auto' | 'websocket' | 'rest';
  /** Extra params for watchTicker. */
  watchTickerParams?: Dict;
  /** REST polling period for tickers. */
  pollIntervalMs?: number;
  /** auto transport: streaming sessions that end before any message, in a row, before polling instead. */
  websocketFailuresBeforeRest?: number;
  /** auto transport: after falling back to polling, try streaming again at the next session start after this long. */
  websocketRetryAfterMs?: number;
  klines?: KlineFeedConfig | null;
  retry?: Partial<RetryConfig>;
  /** Connection-level stale detection (all symbols silent): triggers a reconnect. */
  staleAge?: Partial<AdaptiveStaleAgeConfig>;
  quality?: Partial<TickQualityGateConfig>;
  /** 0 disables heartbeats. */
  heartbeatMs?: number;
  /** Tick.source. */
  tickSource?: string;
  /** ControlEvent.source; default ingest:<exchangeId>. */
  source?: string;
}

export interface ExchangeSinks {
  onTick(tick: Tick): void | Promise<void>;
  onKline(kline: Kline): void | Promise<void>;
  onReject(rejection: IngestRejection): void | Promise<void>;
  onStatus(update: StatusUpdate): void | Promise<void>;
}

export interface ExchangeConnectionDeps {
  now?: () => number;
  /** Jitter source for the retry policy. */
  random?: () => number;
  /** Builds the ccxt instance; default: ccxt.pro[id] when it exists, else ccxt[id]. */
  createExchange?: (exchangeId: string, options: ConstructorArgs) => Exchange;
}

type SessionEnd =
  | { reason: 'error'; kind: ErrorKind; error: string }
  | { reason: 'stale'; silenceMs: number; staleAgeMs: number }
  | { reason: 'reconnect'; commandId: string | null }
  | { reason: 'stopped' };

const MAX_HOLES = 1_000;
const MAX_LEDGER = 20_000;
const MAX_BACKFILL_PAGES = 50;
const RATE_WINDOW_MS = 10_000;

type ExchangeConstructor = new (options: ConstructorArgs) => Exchange;

export function createCcxtExchange(exchangeId: string, options: ConstructorArgs): Exchange {
  const pro = (ccxt as unknown as { pro: Record<string, unknown> }).pro[exchangeId];
  const rest = (ccxt as unknown as Record<string, unknown>)[exchangeId];
  const ctor = (typeof pro === 'function' ? pro : rest) as ExchangeConstructor | undefined;
  if (typeof ctor !== 'function') throw new Error(`ccxt has no exchange "${exchangeId}"`);
  return new ctor(options);
}

/**
 * ccxt error classes to the kinds counted in stats. bad_response and parse_error are about one
 * message (rejected, the feed goes on); the rest end the session. TypeError/SyntaxError come from
 * ccxt parsing a malformed payload; a bare ExchangeError is ccxt's "the exchange answered
 * something I cannot map" (e.g. an OKX body without a code), while known failures have subclasses.
 */
export function classifyError(error: unknown): ErrorKind {
  if (error instanceof RateLimitExceeded || error instanceof DDoSProtection) return 'rate_limit';
  if (error instanceof RequestTimeout) return 'timeout';
  if (error instanceof ExchangeNotAvailable) return 'unavailable';
  if (error instanceof NetworkError) return 'network';
  if (error instanceof BadResponse || error instanceof NullResponse) return 'bad_response';
  if (error instanceof ExchangeError && error.constructor === ExchangeError) return 'bad_response';
  if (error instanceof BaseError) return 'exchange_error';
  return 'parse_error';
}

const isMessageLevel = (kind: ErrorKind): boolean => kind === 'bad_response' || kind === 'parse_error';
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error)).slice(0, 500);

class FeedSession {
  alive = true;
  upAt: number | null = null;
  /** The hole this session must backfill once it delivers data. */
  hole: TimeRange | null = null;
  readonly ended: Promise<SessionEnd>;
  readonly up: Promise<void>;
  private resolveEnded!: (end: SessionEnd) => void;
  private resolveUp!: () => void;
  private readonly sleepers = new Set<() => void>();

  constructor(readonly id: number, readonly transport: FeedTransport, readonly startedAt: number) {
    this.ended = new Promise((resolve) => { this.resolveEnded = resolve; });
    this.up = new Promise((resolve) => { this.resolveUp = resolve; });
  }

  markUp(at: number): void {
    this.upAt = at;
    this.resolveUp();
  }

  end(end: SessionEnd): void {
    if (!this.alive) return;
    this.alive = false;
    this.resolveEnded(end);
    this.resolveUp();
    for (const wake of this.sleepers) wake();
    this.sleepers.clear();
  }

  /** Resolves after `ms`, or as soon as the session ends. */
  sleep(ms: number): Promise<void> {
    if (!this.alive) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      this.sleepers.add(wake);
    });
  }
}

class MessageRate {
  private readonly buckets = new Map<number, number>();

  add(at: number): void {
    const second = Math.floor(at / 1000);
    this.buckets.set(second, (this.buckets.get(second) ?? 0) + 1);
    if (this.buckets.size > 2 * (RATE_WINDOW_MS / 1000)) {
      for (const key of this.buckets.keys()) if (key < second - RATE_WINDOW_MS / 1000) this.buckets.delete(key);
    }
  }

  perSecond(now: number): number {
    const from = Math.floor((now - RATE_WINDOW_MS) / 1000);
    let count = 0;
    for (const [second, n] of this.buckets) if (second > from) count += n;
    return count / (RATE_WINDOW_MS / 1000);
  }
}

interface KlineSeries {
  symbol: string;
  interval: string;
  intervalMs: number;
  /** open_time of the next candle we expect. */
  nextOpen: number | null;
  /** open_times published, ascending, bounded. */
  ledger: number[];
}

/** A wake-up signal for the supervisor's pauses (backoff, failed). */
class Wakeup {
  private waiters = new Set<() => void>();

  wait(ms?: number): Promise<'woken' | 'timeout'> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.waiters.delete(wake);
        resolve('woken');
      };
      if (ms !== undefined) {
        timer = setTimeout(() => {
          this.waiters.delete(wake);
          resolve('timeout');
        }, Math.max(0, ms));
      }
      this.waiters.add(wake);
    });
  }

  wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

export class ExchangeConnection {
  readonly exchangeId: string;
  readonly source: string;
  readonly exchange: Exchange;
  private readonly config: ExchangeConnectionConfig;
  private readonly now: () => number;
  private readonly retry: RetryPolicy;
  private readonly gate: TickQualityGate;
  private readonly stale: AdaptiveStaleAge;
  private readonly rate = new MessageRate();
  private readonly wakeup = new Wakeup();
  private readonly klineSeries = new Map<string, KlineSeries>();
  private readonly holeLog: TimeRange[] = [];
  private readonly pollMs: number;
  private activeSymbols: string[];
  private marketsLoaded = false;
  private session: FeedSession | null = null;
  private sessionCounter = 0;
  private supervisor: Promise<void> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private stopped = false;
  private reconnectRequest: { commandId: string | null } | null = null;
  private retryChanged = false;
  private downSince: number | null = null;
  private websocketFailures = 0;
  private forceRest = false;
  private forceRestSince = 0;
  private stateValue: ConnectionState = 'idle';
  private readonly counters = {
    messages: 0, ticksAccepted: 0, ticksRejected: 0, klinesPublished: 0, klinesBackfilled: 0,
    errors: 0, reconnects: 0, attempts: 0, sinkErrors: 0,
    rejectsByCode: {} as Partial<Record<RejectCode, number>>,
    errorsByKind: {} as Partial<Record<ErrorKind, number>>,
    lastError: null as ConnectionStats['lastError'],
    lastMessageAt: null as number | null,
  };

  constructor(config: ExchangeConnectionConfig, private readonly sinks: ExchangeSinks, deps: ExchangeConnectionDeps = {}) {
    if (config.symbols.length === 0) throw new RangeError(`${config.exchangeId}: no symbols configured`);
    this.config = config;
    this.exchangeId = config.exchangeId;
    this.source = config.source ?? `ingest:${config.exchangeId}`;
    this.now = deps.now ?? Date.now;
    this.retry = new RetryPolicy(config.retry, deps.random);
    this.gate = new TickQualityGate(config.quality);
    this.pollMs = config.pollIntervalMs ?? 1_000;
    // Polling sets the rhythm of a REST feed, so never call it stale before a few polls went by.
    this.stale = new AdaptiveStaleAge({ minStaleMs: Math.max(2_000, 3 * this.pollMs), ...config.staleAge }, this.now());
    this.activeSymbols = [...config.symbols];
    const options = mergeCcxtOptions(EXCHANGE_PRESETS[config.exchangeId], config.ccxtOptions, { enableRateLimit: true });
    this.exchange = (deps.createExchange ?? createCcxtExchange)(config.exchangeId, options);
  }

  get symbols(): readonly string[] {
    return this.activeSymbols;
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  start(): void {
    if (this.supervisor !== null) return;
    this.stopped = false;
    this.supervisor = this.supervise();
    const every = this.config.heartbeatMs ?? 10_000;
    if (every > 0) {
      this.heartbeat = setInterval(() => void this.emitStatus('heartbeat', this.stats()), every);
      this.heartbeat.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.session?.end({ reason: 'stopped' });
    this.wakeup.wake();
    await this.supervisor;
    this.supervisor = null;
    await this.closeTransport();
    this.setState('stopped');
  }

  /** Carry out a reconnect command: end the current session (or the backoff/failed wait) and start afresh. */
  reconnect(commandId: string | null = null): void {
    this.reconnectRequest = { commandId };
    this.websocketFailures = 0;
    this.forceRest = false;
    this.session?.end({ reason: 'reconnect', commandId });
    this.wakeup.wake();
  }

  /** Change the backoff at run time; a pending backoff is rescheduled with it. Throws RetryConfigError. */
  setRetryConfig(partial: Partial<RetryConfig>, commandId: string | null = null): Readonly<RetryConfig> {
    const config = this.retry.update(partial);
    this.retryChanged = true;
    this.wakeup.wake();
    void this.emitStatus('exchange.status', this.statusPayload({ detail: 'retry config changed' }), commandId);
    return config;
  }

  retryConfig(): Readonly<RetryConfig> {
    return this.retry.config;
  }

  holes(): TimeRange[] {
    return this.holeLog.map((h) => ({ ...h }));
  }

  /** open_times of the candles this connection published for a series, ascending. */
  klineOpenTimes(symbol: string, interval: string): number[] {
    return [...(this.klineSeries.get(klineKey(this.exchangeId, symbol, interval))?.ledger ?? [])];
  }

  completeness(symbol: string, interval: string, range: TimeRange): CompletenessReport {
    const series = this.klineSeries.get(klineKey(this.exchangeId, symbol, interval));
    if (series === undefined) throw new RangeError(`${this.exchangeId} has no kline series ${symbol} ${interval}`);
    return computeCompleteness({ intervalMs: series.intervalMs, range, present: series.ledger, holes: this.holeLog });
  }

  stats(): ConnectionStats {
    const now = this.now();
    const c = this.counters;
    return {
      exchange: this.exchangeId,
      state: this.stateValue,
      transport: this.session?.transport ?? null,
      symbols: [...this.activeSymbols],
      session: this.sessionCounter,
      connectedSince: this.session?.alive === true ? this.session.upAt : null,
      lastMessageAt: c.lastMessageAt,
      messageRate: this.rate.perSecond(now),
      messages: c.messages,
      ticksAccepted: c.ticksAccepted,
      ticksRejected: c.ticksRejected,
      rejectsByCode: { ...c.rejectsByCode },
      klinesPublished: c.klinesPublished,
      klinesBackfilled: c.klinesBackfilled,
      errors: c.errors,
      errorsByKind: { ...c.errorsByKind },
      lastError: c.lastError,
      sinkErrors: c.sinkErrors,
      reconnects: c.reconnects,
      attempts: c.attempts,
      holes: this.holeLog.length,
      staleAgeMs: this.stale.staleAge(),
      retry: { ...this.retry.config },
    };
  }

  // ---- supervisor ---------------------------------------------------------------------------

  private async supervise(): Promise<void> {
    while (!this.stopped) {
      const request = this.reconnectRequest;
      this.reconnectRequest = null;
      const session = new FeedSession(++this.sessionCounter, this.chooseTransport(), this.now());
      this.session = session;
      this.setState('connecting');
      void this.emitStatus('exchange.status', this.statusPayload({ detail: request !== null ? 'reconnect requested' : null }), request?.commandId ?? null);
      let end: SessionEnd;
      try {
        end = await this.runSession(session);
      } catch (error) {
        end = { reason: 'error', kind: classifyError(error), error: messageOf(error) };
        session.end(end);
      }
      await this.closeTransport();
      const at = this.now();
      if (end.reason === 'error' || end.reason === 'stale') this.countError(end.reason === 'stale' ? 'stale' : end.kind, end.reason === 'stale' ? `no message for ${end.silenceMs} ms (stale age ${end.staleAgeMs} ms)` : end.error, at);
      if (session.upAt !== null) {
        this.downSince = at;
        await this.emitStatus('connection.down', {
          exchange: this.exchangeId,
          transport: session.transport,
          session: session.id,
          upSince: session.upAt,
          reason: end.reason === 'error' ? end.error : end.reason === 'stale' ? `stale: no message for ${end.silenceMs} ms` : end.reason,
          errorKind: end.reason === 'error' ? end.kind : end.reason === 'stale' ? 'stale' : end.reason,
          error: end.reason === 'error' ? end.error : null,
        }, null, at);
      } else if (session.transport === 'websocket' && (end.reason === 'error' || end.reason === 'stale')) {
        this.websocketFailures++;
        if ((this.config.transport ?? 'auto') === 'auto' && this.websocketFailures >= (this.config.websocketFailuresBeforeRest ?? 3) && !this.forceRest) {
          this.forceRest = true;
          this.forceRestSince = at;
        }
      }
      if (this.stopped) break;
      if (end.reason === 'reconnect' || this.reconnectRequest !== null) {
        this.counters.attempts = 0;
        continue;
      }
      await this.backoff();
    }
    this.session = null;
  }

  /** Waits out the retry delay; false when it was cut short by a reconnect, a stop or giving up. */
  private async backoff(): Promise<boolean> {
    this.counters.attempts++;
    for (;;) {
      const attempt = this.counters.attempts;
      const delay = this.retry.delayFor(attempt);
      if (delay === null) {
        this.setState('failed');
        await this.emitStatus('exchange.status', this.statusPayload({ detail: `gave up after ${attempt - 1} attempts; waiting for a reconnect command` }));
        await this.wakeup.wait();
        if (this.retryChanged && this.reconnectRequest === null && !this.stopped) {
          this.retryChanged = false;
          continue;
        }
        this.counters.attempts = 0;
        return false;
      }
      this.setState('backoff');
      await this.emitStatus('exchange.status', this.statusPayload({ delayMs: delay }));
      const woke = await this.wakeup.wait(delay);
      if (this.stopped || this.reconnectRequest !== null) {
        this.counters.attempts = 0;
        return false;
      }
      if (woke === 'woken' && this.retryChanged) {
        this.retryChanged = false;
        continue;
      }
      this.retryChanged = false;
      return true;
    }
  }

  private chooseTransport(): FeedTransport {
    const mode = this.config.transport ?? 'auto';
    if (mode === 'rest') return 'rest';
    const streams = this.exchange.has['watchTicker'] === true;
    if (mode === 'websocket') return streams ? 'websocket' : 'rest';
    if (this.forceRest && this.now() - this.forceRestSince >= (this.config.websocketRetryAfterMs ?? 60_000)) {
      this.forceRest = false;
      this.websocketFailures = 0;
    }
    return streams && !this.forceRest ? 'websocket' : 'rest';
  }

  private async runSession(session: FeedSession): Promise<SessionEnd> {
    this.stale.restart(session.startedAt);
    if (!this.marketsLoaded) {
      await this.exchange.loadMarkets();
      this.resolveSymbols();
      this.marketsLoaded = true;
    }
    if (!session.alive) return session.ended;
    if (session.transport === 'websocket') {
      for (const symbol of this.activeSymbols) void this.watchLoop(session, symbol);
    } else {
      void this.pollLoop(session);
    }
    if (this.config.klines && this.config.klines.intervals.length > 0) void this.klineLoop(session);
    const checkEvery = Math.max(20, Math.min(250, this.stale.config.minStaleMs / 4));
    const watchdog = setInterval(() => {
      const now = this.now();
      if (session.alive && this.stale.isStale(now)) session.end({ reason: 'stale', silenceMs: this.stale.silenceMs(now), staleAgeMs: this.stale.staleAge() });
    }, checkEvery);
    try {
      return await session.ended;
    } finally {
      clearInterval(watchdog);
    }
  }

  private resolveSymbols(): void {
    const markets = this.exchange.markets ?? {};
    const known = this.activeSymbols.filter((s) => markets[s] !== undefined);
    const unknown = this.activeSymbols.filter((s) => markets[s] === undefined);
    if (unknown.length > 0) {
      this.countError('config', `unknown symbols: ${unknown.join(', ')}`, this.now());
      void this.emitStatus('exchange.status', this.statusPayload({ detail: `unknown symbols ignored: ${unknown.join(', ')}` }));
    }
    if (known.length === 0) throw new BaseError(`${this.exchangeId}: none of the configured symbols exist (${unknown.join(', ')})`);
    this.activeSymbols = known;
    for (const symbol of known) {
      for (const interval of this.config.klines?.intervals ?? []) {
        const key = klineKey(this.exchangeId, symbol, interval);
        if (!this.klineSeries.has(key)) {
          this.klineSeries.set(key, { symbol, interval, intervalMs: this.exchange.parseTimeframe(interval) * 1000, nextOpen: null, ledger: [] });
        }
      }
    }
  }

  private async closeTransport(): Promise<void> {
    // Closing the ccxt instance's sockets rejects pending watch* futures, which ends the loops.
    await Promise.race([this.exchange.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
  }

  // ---- ticker feeds -------------------------------------------------------------------------

  /**
   * After a failed ticker call: true when the feed loop must stop, because the session has already
   * ended or the error is session-level (the session ends with it). False for a message-level
   * error (bad response, parse error): the caller counts it as a rejection and goes on.
   */
  private sessionEndedBy(session: FeedSession, error: unknown): boolean {
    if (!session.alive) return true;
    const kind = classifyError(error);
    if (isMessageLevel(kind)) return false;
    session.end({ reason: 'error', kind, error: messageOf(error) });
    return true;
  }

  private async watchLoop(session: FeedSession, symbol: string): Promise<void> {
    const seen = new WeakSet<object>();
    while (session.alive) {
      let ticker: Ticker;
      try {
        ticker = await this.exchange.watchTicker(symbol, this.config.watchTickerParams);
      } catch (error) {
        if (this.sessionEndedBy(session, error)) return;
        // One malformed frame rejects every future waiting on that socket; count it once.
        if (typeof error === 'object' && error !== null) {
          if (seen.has(error)) continue;
          seen.add(error);
        }
        this.heard(session);
        await this.rejectUnparseable('market.ticks.v1', tickKey(this.exchangeId, symbol), symbol, error, null);
        continue;
      }
      if (!session.alive) return;
      this.heard(session);
      await this.acceptTicker(session, ticker, symbol);
    }
  }

  private async pollLoop(session: FeedSession): Promise<void> {
    const useTickers = this.exchange.has['fetchTickers'] === true && this.activeSymbols.length > 1;
    while (session.alive) {
      const started = this.now();
      try {
        if (useTickers) {
          const tickers = await this.exchange.fetchTickers([...this.activeSymbols]);
          if (!session.alive) return;
          this.heard(session);
          for (const symbol of this.activeSymbols) {
            const ticker = tickers[symbol];
            if (ticker !== undefined) await this.acceptTicker(session, ticker, symbol);
          }
        } else {
          for (const symbol of this.activeSymbols) {
            if (!(await this.pollOne(session, symbol))) return;
          }
        }
      } catch (error) {
        if (this.sessionEndedBy(session, error)) return;
        this.heard(session);
        await this.rejectUnparseable('market.ticks.v1', tickKey(this.exchangeId, '*'), '*', error, this.exchange.last_http_response);
      }
      await session.sleep(this.pollMs - (this.now() - started));
    }
  }

  /** One fetchTicker; false when the session ended. Parse failures are rejections, not outages. */
  private async pollOne(session: FeedSession, symbol: string): Promise<boolean> {
    try {
      const ticker = await this.exchange.fetchTicker(symbol);
      if (!session.alive) return false;
      this.heard(session);
      await this.acceptTicker(session, ticker, symbol);
    } catch (error) {
      if (this.sessionEndedBy(session, error)) return false;
      this.heard(session);
      await this.rejectUnparseable('market.ticks.v1', tickKey(this.exchangeId, symbol), symbol, error, this.exchange.last_http_response);
    }
    return true;
  }

  /** The exchange answered: the connection is alive, whatever the content. */
  private heard(session: FeedSession): void {
    const now = this.now();
    this.counters.messages++;
    this.counters.lastMessageAt = now;
    this.rate.add(now);
    this.stale.observe(now);
    if (session.upAt === null) this.markUp(session, now);
  }

  private markUp(session: FeedSession, at: number): void {
    session.markUp(at);
    this.setState('up');
    const downSince = this.downSince;
    if (downSince !== null) {
      this.counters.reconnects++;
      const hole = { from: downSince, to: at };
      this.holeLog.push(hole);
      if (this.holeLog.length > MAX_HOLES) this.holeLog.shift();
      session.hole = hole;
    }
    if (session.transport === 'websocket') this.websocketFailures = 0;
    const attempts = this.counters.attempts;
    this.counters.attempts = 0;
    this.downSince = null;
    void this.emitStatus('connection.up', {
      exchange: this.exchangeId,
      transport: session.transport,
      session: session.id,
      downSince,
      downtimeMs: downSince === null ? null : at - downSince,
      attempts,
    }, null, at);
  }

  private async acceptTicker(session: FeedSession, ticker: Ticker, requested: string): Promise<void> {
    if (ticker.symbol !== undefined && ticker.symbol !== requested && !this.activeSymbols.includes(ticker.symbol)) return;
    const now = this.now();
    const tick = tickFromTicker(ticker, { exchange: this.exchangeId, symbol: requested, ingestTime: now, source: this.config.tickSource });
    const result = this.gate.check(tick, ticker.info ?? null, now);
    if ('ok' in result) {
      this.counters.ticksAccepted++;
      if (session.alive) await this.sink(() => this.sinks.onTick(result.ok));
      return;
    }
    await this.reject({
      topicId: 'ticks', topic: 'market.ticks.v1', key: tickKey(this.exchangeId, tick.symbol), exchange: this.exchangeId, symbol: tick.symbol,
      code: result.rejected, reason: result.reason, record: tick, raw: result.raw, at: now,
    });
  }

  // ---- klines -------------------------------------------------------------------------------

  private async klineLoop(session: FeedSession): Promise<void> {
    await session.up;
    if (!session.alive) return;
    const pollMs = this.config.klines?.pollIntervalMs ?? 10_000;
    try {
      if (session.hole !== null) await this.backfill(session, session.hole);
      while (session.alive) {
        for (const series of this.klineSeries.values()) {
          if (!session.alive) return;
          await this.syncKlines(session, series, false);
        }
        await session.sleep(pollMs);
      }
    } catch (error) {
      if (!session.alive) return;
      session.end({ reason: 'error', kind: classifyError(error), error: messageOf(error) });
    }
  }

  private async backfill(session: FeedSession, hole: TimeRange): Promise<void> {
    for (const series of this.klineSeries.values()) {
      if (!session.alive) return;
      const from = series.nextOpen ?? candlesSpannedBy(hole, series.intervalMs).from;
      const { fetched, rejected } = await this.syncKlines(session, series, true, from);
      if (!session.alive) return;
      const at = this.now();
      const spanned = candlesSpannedBy(hole, series.intervalMs);
      const closedUpTo = Math.floor(at / series.intervalMs) * series.intervalMs;
      await this.emitStatus('kline.backfill', {
        exchange: this.exchangeId, symbol: series.symbol, interval: series.interval, hole, from, to: series.nextOpen ?? from, fetched, rejected,
      });
      const range = { from: spanned.from, to: Math.min(spanned.to, closedUpTo) };
      if (range.to > range.from) {
        const report = computeCompleteness({ intervalMs: series.intervalMs, range, present: series.ledger, holes: [hole] });
        await this.emitStatus('completeness', { ...report, exchange: this.exchangeId, symbol: series.symbol, interval: series.interval });
      }
    }
  }

  /** Fetch closed candles from series.nextOpen (or `from`) to now, page by page. */
  private async syncKlines(session: FeedSession, series: KlineSeries, backfill: boolean, from?: number): Promise<{ fetched: number; rejected: number }> {
    const cfg = this.config.klines;
    const pageLimit = cfg?.pageLimit ?? 500;
    const graceMs = cfg?.closeGraceMs ?? 1_000;
    const now = this.now();
    const ms = series.intervalMs;
    let since = from ?? series.nextOpen ?? Math.floor(now / ms) * ms - ms * (cfg?.startupCandles ?? 1);
    let fetched = 0;
    let rejected = 0;
    for (let page = 0; page < MAX_BACKFILL_PAGES && session.alive; page++) {
      let candles: OHLCV[];
      try {
        candles = await this.exchange.fetchOHLCV(series.symbol, series.interval, since, pageLimit);
        if (!Array.isArray(candles)) throw new BadResponse(`fetchOHLCV returned ${typeof candles}`);
      } catch (error) {
        const kind = classifyError(error);
        if (!session.alive || !isMessageLevel(kind)) throw error;
        this.heard(session);
        await this.rejectUnparseable('market.klines.v1', klineKey(this.exchangeId, series.symbol, series.interval), series.symbol, error, this.exchange.last_http_response);
        rejected++;
        break;
      }
      if (!session.alive) break;
      this.heard(session);
      const sorted = candles.filter((c) => typeof c[0] === 'number' && c[0] >= since).sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0));
      let progressed = false;
      for (let i = 0; i < sorted.length; i++) {
        const candle = sorted[i];
        const open = candle?.[0];
        if (candle === undefined || open === undefined) continue;
        const closed = i < sorted.length - 1 || open + ms + graceMs <= this.now();
        if (!closed) break;
        if (series.nextOpen !== null && open < series.nextOpen) continue;
        // Rejected candles also advance the cursor: refetching the same garbage would never end.
        series.nextOpen = open + ms;
        progressed = true;
        const kline = klineFromOhlcv(candle, {
          exchange: this.exchangeId, symbol: series.symbol, interval: series.interval, intervalMs: ms, ingestTime: this.now(), closed: true, backfill,
        });
        const problem = validateKline(kline, this.now(), this.gate.config.maxFutureMs);
        if (problem !== null) {
          rejected++;
          await this.reject({
            topicId: 'klines', topic: 'market.klines.v1', key: klineKey(this.exchangeId, series.symbol, series.interval), exchange: this.exchangeId, symbol: series.symbol,
            code: problem.code, reason: problem.reason, record: kline, raw: candle, at: this.now(),
          });
          continue;
        }
        fetched++;
        this.recordKline(series, open);
        this.counters.klinesPublished++;
        if (backfill) this.counters.klinesBackfilled++;
        await this.sink(() => this.sinks.onKline(kline));
      }
      if (!progressed || sorted.length < pageLimit || series.nextOpen === null) break;
      since = series.nextOpen;
    }
    return { fetched, rejected };
  }

  private recordKline(series: KlineSeries, openTime: number): void {
    const ledger = series.ledger;
    if (ledger.length === 0 || openTime > (ledger[ledger.length - 1] ?? -Infinity)) ledger.push(openTime);
    else if (!ledger.includes(openTime)) {
      ledger.push(openTime);
      ledger.sort((a, b) => a - b);
    }
    if (ledger.length > MAX_LEDGER) ledger.splice(0, ledger.length - MAX_LEDGER);
  }

  // ---- outputs ------------------------------------------------------------------------------

  private async rejectUnparseable(topic: IngestRejection['topic'], key: string, symbol: string, error: unknown, raw: unknown): Promise<void> {
    const reason = `ccxt could not parse the exchange's answer: ${messageOf(error)}`;
    this.gate.recordUnparseable(reason, raw);
    await this.reject({ topicId: topic === 'market.ticks.v1' ? 'ticks' : 'klines', topic, key, exchange: this.exchangeId, symbol, code: 'unparseable', reason, record: null, raw: raw ?? messageOf(error), at: this.now() });
  }

  private async reject(rejection: IngestRejection): Promise<void> {
    if (rejection.topic === 'market.ticks.v1') this.counters.ticksRejected++;
    this.counters.rejectsByCode[rejection.code] = (this.counters.rejectsByCode[rejection.code] ?? 0) + 1;
    await this.sink(() => this.sinks.onReject(rejection));
  }

  private countError(kind: ErrorKind, message: string, at: number): void {
    this.counters.errors++;
    this.counters.errorsByKind[kind] = (this.counters.errorsByKind[kind] ?? 0) + 1;
    this.counters.lastError = { kind, message, at };
  }

  private setState(state: ConnectionState): void {
    this.stateValue = state;
  }

  private statusPayload(extra: { delayMs?: number; detail?: string | null }): StatusPayloads['exchange.status'] {
    const last = this.counters.lastError;
    return {
      exchange: this.exchangeId,
      state: this.stateValue,
      transport: this.session?.transport ?? null,
      attempt: this.counters.attempts,
      delayMs: extra.delayMs ?? null,
      error: last === null ? null : { kind: last.kind, message: last.message },
      retry: { ...this.retry.config },
      detail: extra.detail ?? null,
    };
  }

  private async emitStatus<K extends keyof StatusPayloads>(kind: K, payload: StatusPayloads[K], commandId: string | null = null, at: number = this.now()): Promise<void> {
    await this.sink(() => this.sinks.onStatus(statusUpdate(kind, this.source, at, payload, commandId)));
  }

  private async sink(deliver: () => void | Promise<void>): Promise<void> {
    try {
      await deliver();
    } catch {
      // A failing sink must not stop the feed; the runtime's producer reports its own errors.
      this.counters.sinkErrors++;
    }
  }
}
