// OKX v5: REST /api/v5 (public/time, public/instruments, market/ticker, market/tickers,
// market/candles, market/history-candles) and WebSocket /ws/v5/public (tickers) and
// /ws/v5/business (candle<bar>), with OKX's text ping/pong. Formats follow
// https://www.okx.com/docs-v5/en/.
import type { QuoteFields } from '../fault-modes.ts';
import type { SimulatedCandle } from '../price-path.ts';
import {
  clampLimit, fixed, intervalToMs, json, selectOpenTimes, splitSymbol,
  type DialectContext, type ExchangeDialect, type RestAnswer, type RestRoute, type WsSession,
} from '../exchange-dialect.ts';

const instId = (symbol: string): string => symbol.replace('/', '-');

function unifiedFor(ctx: DialectContext, id: string | null | undefined): string | undefined {
  if (id === null || id === undefined) return undefined;
  return ctx.markets.find((m) => instId(m.symbol) === id)?.symbol;
}

function okx(data: unknown[], code = '0', msg = ''): RestAnswer {
  return json(200, { code, msg, data });
}

/** OKX bars: 1s, 1m, 3m, 5m, 15m, 30m, 1H, 2H, 4H, 6H(utc), 12H(utc), 1D(utc), 1W(utc). */
function barToMs(bar: string): number | undefined {
  const plain = bar.endsWith('utc') ? bar.slice(0, -3) : bar;
  if (/^\d+[HDW]$/.test(plain) || /^\d+[sm]$/.test(plain)) return intervalToMs(plain.toLowerCase());
  return undefined;
}

function instrument(symbol: string, startPrice: number): Record<string, string> {
  const { base, quote } = splitSymbol(symbol);
  return {
    alias: '', auctionEndTime: '', baseCcy: base, category: '1', ctMult: '', ctType: '', ctVal: '', ctValCcy: '',
    expTime: '', instFamily: '', instId: instId(symbol), instType: 'SPOT', lever: '10', listTime: '1606468572000',
    lotSz: '0.00000001', maxIcebergSz: '9999999999.0000000000000000', maxLmtAmt: '1000000', maxLmtSz: '9999999999',
    maxMktAmt: '1000000', maxMktSz: '1000000', maxStopSz: '1000000', maxTriggerSz: '9999999999', maxTwapSz: '9999999999',
    minSz: '0.00001', optType: '', quoteCcy: quote, settleCcy: '', state: 'live', ruleType: 'normal', stk: '',
    tickSz: startPrice >= 1000 ? '0.1' : startPrice >= 1 ? '0.0001' : '0.00000001', uly: '',
  };
}

function ticker(symbol: string, f: QuoteFields): Record<string, string> {
  const entry: Record<string, string> = {
    instType: 'SPOT', instId: instId(symbol), last: f.last ?? '', lastSz: f.lastSize,
    askPx: f.ask ?? '', askSz: f.askSize, bidPx: f.bid ?? '', bidSz: f.bidSize,
    open24h: f.open, high24h: f.high, low24h: f.low, volCcy24h: f.quoteVolume, vol24h: f.baseVolume,
    ts: String(f.time), sodUtc0: f.open, sodUtc8: f.open,
  };
  if (f.last === undefined) delete entry['last'];
  return entry;
}

function candleRow(c: SimulatedCandle, confirmed: boolean): string[] {
  return [
    String(c.openTime), fixed(c.open), fixed(c.high), fixed(c.low), fixed(c.close),
    c.volume.toFixed(8), c.quoteVolume.toFixed(8), c.quoteVolume.toFixed(8), confirmed ? '1' : '0',
  ];
}

function answerTickers(symbols: readonly string[], ctx: DialectContext, skipStalled: boolean): RestAnswer {
  const data: unknown[] = [];
  for (const s of symbols) {
    if (skipStalled && ctx.stalled(s)) continue;
    const payload = ctx.ticker(s);
    if ('body' in payload) return { status: 200, body: payload.body, headers: { 'content-type': 'application/json' } };
    data.push(ticker(s, payload.fields));
  }
  return okx(data);
}

function answerCandles(query: URLSearchParams, ctx: DialectContext): RestAnswer {
  const symbol = unifiedFor(ctx, query.get('instId'));
  if (symbol === undefined) return okx([], '51001', 'Instrument ID does not exist');
  const intervalMs = barToMs(query.get('bar') ?? '1m');
  if (intervalMs === undefined) return okx([], '51000', 'Parameter bar error');
  const garbage = ctx.klineGarbage(symbol);
  if (garbage !== undefined) return { status: 200, body: garbage, headers: { 'content-type': 'application/json' } };
  // after: records older than this ts; before: records newer than this ts; newest first.
  const after = query.get('after');
  const before = query.get('before');
  const limit = clampLimit(query.get('limit'), 100, 300);
  const times = selectOpenTimes(intervalMs, ctx, { to: after === null ? undefined : Number(after) - 1, limit })
    .filter((t) => before === null || t > Number(before));
  const current = Math.floor(ctx.now() / intervalMs) * intervalMs;
  return okx(times.reverse().map((t) => candleRow(ctx.candle(symbol, t, intervalMs), t < current)));
}

interface CandleSubscription {
  symbol: string;
  channel: string;
  intervalMs: number;
  lastOpen: number | undefined;
}

class OkxSession implements WsSession {
  private readonly tickers = new Set<string>();
  private readonly candles = new Map<string, CandleSubscription>();
  private readonly connId = Math.random().toString(16).slice(2, 10);

  constructor(private readonly business: boolean, private readonly ctx: DialectContext, private readonly send: (frame: string) => void) {}

  onMessage(text: string): void {
    if (text === 'ping') {
      this.send('pong');
      return;
    }
    let request: { op?: unknown; args?: unknown; id?: unknown };
    try {
      request = JSON.parse(text) as typeof request;
    } catch {
      this.send(JSON.stringify({ event: 'error', msg: `Illegal request: ${text}`, code: '60012', connId: this.connId }));
      return;
    }
    if (request.op !== 'subscribe' && request.op !== 'unsubscribe') {
      this.send(JSON.stringify({ event: 'error', msg: `Illegal request: ${text}`, code: '60012', connId: this.connId }));
      return;
    }
    const args = Array.isArray(request.args) ? request.args : [];
    for (const raw of args) {
      const arg = (typeof raw === 'object' && raw !== null ? raw : {}) as { channel?: unknown; instId?: unknown };
      const channel = typeof arg.channel === 'string' ? arg.channel : '';
      const symbol = unifiedFor(this.ctx, typeof arg.instId === 'string' ? arg.instId : undefined);
      const isCandle = channel.startsWith('candle');
      const intervalMs = isCandle ? barToMs(channel.slice('candle'.length)) : undefined;
      const valid = symbol !== undefined && (channel === 'tickers' ? !this.business : isCandle && this.business && intervalMs !== undefined);
      if (!valid || symbol === undefined) {
        this.send(JSON.stringify({ event: 'error', msg: `Wrong URL or channel:${channel},instId:${String(arg.instId)} doesn't exist. Please use the correct URL, channel and parameters referring to API document.`, code: '60018', connId: this.connId }));
        continue;
      }
      const subscribe = request.op === 'subscribe';
      if (channel === 'tickers') {
        if (subscribe) this.tickers.add(symbol);
        else this.tickers.delete(symbol);
      } else if (intervalMs !== undefined) {
        const key = `${symbol}|${channel}`;
        if (subscribe) this.candles.set(key, { symbol, channel, intervalMs, lastOpen: undefined });
        else this.candles.delete(key);
      }
      this.send(JSON.stringify({ event: request.op, arg: { channel, instId: instId(symbol) }, connId: this.connId }));
    }
  }

  subscribedSymbols(): ReadonlySet<string> {
    const out = new Set(this.tickers);
    for (const c of this.candles.values()) out.add(c.symbol);
    return out;
  }

  push(symbol: string): string[] {
    const frames: string[] = [];
    if (this.tickers.has(symbol)) {
      const payload = this.ctx.ticker(symbol);
      if ('body' in payload) return [payload.body];
      frames.push(JSON.stringify({ arg: { channel: 'tickers', instId: instId(symbol) }, data: [ticker(symbol, payload.fields)] }));
    }
    const now = this.ctx.now();
    for (const c of this.candles.values()) {
      if (c.symbol !== symbol) continue;
      const open = Math.floor(now / c.intervalMs) * c.intervalMs;
      const rows: string[][] = [];
      if (c.lastOpen !== undefined && c.lastOpen < open) rows.push(candleRow(this.ctx.candle(symbol, c.lastOpen, c.intervalMs), true));
      rows.push(candleRow(this.ctx.candle(symbol, open, c.intervalMs), false));
      c.lastOpen = open;
      for (const row of rows) frames.push(JSON.stringify({ arg: { channel: c.channel, instId: instId(symbol) }, data: [row] }));
    }
    return frames;
  }
}

export const okxDialect: ExchangeDialect = {
  id: 'okx',

  route(path: string, query: URLSearchParams, ctx: DialectContext): RestRoute | undefined {
    const one = unifiedFor(ctx, query.get('instId'));
    const symbols = one === undefined ? 'all' : [one];
    switch (path) {
      case '/api/v5/public/time':
        return { kind: 'meta', symbols: 'all' };
      case '/api/v5/public/instruments':
        return { kind: 'markets', symbols: 'all' };
      case '/api/v5/market/ticker':
      case '/api/v5/market/tickers':
        return { kind: 'ticker', symbols };
      case '/api/v5/market/candles':
      case '/api/v5/market/history-candles':
        return { kind: 'klines', symbols };
      default:
        return undefined;
    }
  },

  answer(path: string, query: URLSearchParams, ctx: DialectContext): RestAnswer {
    switch (path) {
      case '/api/v5/public/time':
        return okx([{ ts: String(ctx.now()) }]);
      case '/api/v5/public/instruments':
        return query.get('instType') === 'SPOT' ? okx(ctx.markets.map((m) => instrument(m.symbol, m.startPrice))) : okx([]);
      case '/api/v5/market/ticker': {
        const symbol = unifiedFor(ctx, query.get('instId'));
        if (symbol === undefined) return okx([], '51001', 'Instrument ID does not exist');
        return answerTickers([symbol], ctx, false);
      }
      case '/api/v5/market/tickers':
        return query.get('instType') === 'SPOT' ? answerTickers(ctx.markets.map((m) => m.symbol), ctx, true) : okx([]);
      case '/api/v5/market/candles':
      case '/api/v5/market/history-candles':
        return answerCandles(query, ctx);
      default:
        return { status: 404, body: 'Not Found', headers: { 'content-type': 'text/plain' } };
    }
  },

  errorAnswer(kind) {
    return kind === 'rateLimit'
      ? json(429, { msg: 'Too Many Requests', code: '50011' })
      : json(503, { msg: 'Service temporarily unavailable. Please try again later.', code: '50001' });
  },

  isWebSocketPath(path: string): boolean {
    return path === '/ws/v5/public' || path === '/ws/v5/business';
  },

  openSession(path, ctx, send) {
    return new OkxSession(path === '/ws/v5/business', ctx, send);
  },

  ccxtOptions(httpBase: string, wsBase: string) {
    return {
      urls: { api: { rest: httpBase, ws: `${wsBase}/ws/v5` } },
      // Spot only: the simulator lists no futures, swaps or options.
      options: { fetchMarkets: { types: ['spot'] }, defaultType: 'spot' },
    };
  },
};
