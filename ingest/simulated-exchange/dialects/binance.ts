// Binance spot: REST /api/v3 (ping, time, exchangeInfo, ticker/24hr, ticker/price, klines) and the
// raw WebSocket streams (<symbol>@ticker, @miniTicker, @kline_<interval>) with SUBSCRIBE requests.
// Field names and shapes follow https://developers.binance.com/docs/binance-spot-api-docs.
import type { QuoteFields } from '../fault-modes.ts';
import type { SimulatedCandle } from '../price-path.ts';
import {
  clampLimit, fixed, intervalToMs, json, selectOpenTimes, splitSymbol,
  type DialectContext, type ExchangeDialect, type RestAnswer, type RestRoute, type WsSession,
} from '../exchange-dialect.ts';

const DAY_MS = 86_400_000;
const marketId = (symbol: string): string => symbol.replace('/', '');

function unifiedFor(ctx: DialectContext, id: string | null): string | undefined {
  if (id === null) return undefined;
  return ctx.markets.find((m) => marketId(m.symbol) === id.toUpperCase())?.symbol;
}

function binanceError(status: number, code: number, msg: string): RestAnswer {
  return json(status, { code, msg });
}

function tickSizeFor(price: number): string {
  return price >= 1000 ? '0.01' : price >= 1 ? '0.0001' : '0.00000001';
}

function exchangeInfo(ctx: DialectContext): unknown {
  return {
    timezone: 'UTC',
    serverTime: ctx.now(),
    rateLimits: [
      { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
      { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
      { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
    ],
    exchangeFilters: [],
    symbols: ctx.markets.map((m) => {
      const { base, quote } = splitSymbol(m.symbol);
      return {
        symbol: marketId(m.symbol),
        status: 'TRADING',
        baseAsset: base,
        baseAssetPrecision: 8,
        quoteAsset: quote,
        quotePrecision: 8,
        quoteAssetPrecision: 8,
        baseCommissionPrecision: 8,
        quoteCommissionPrecision: 8,
        orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT'],
        icebergAllowed: true,
        ocoAllowed: true,
        otoAllowed: true,
        quoteOrderQtyMarketAllowed: true,
        allowTrailingStop: true,
        cancelReplaceAllowed: true,
        isSpotTradingAllowed: true,
        isMarginTradingAllowed: false,
        filters: [
          { filterType: 'PRICE_FILTER', minPrice: tickSizeFor(m.startPrice), maxPrice: '1000000.00000000', tickSize: tickSizeFor(m.startPrice) },
          { filterType: 'LOT_SIZE', minQty: '0.00001000', maxQty: '9000.00000000', stepSize: '0.00001000' },
          { filterType: 'ICEBERG_PARTS', limit: 10 },
          { filterType: 'MARKET_LOT_SIZE', minQty: '0.00000000', maxQty: '100.00000000', stepSize: '0.00000000' },
          { filterType: 'NOTIONAL', minNotional: '5.00000000', applyMinToMarket: true, maxNotional: '9000000.00000000', applyMaxToMarket: false, avgPriceMins: 5 },
          { filterType: 'MAX_NUM_ORDERS', maxNumOrders: 200 },
        ],
        permissions: [],
        permissionSets: [['SPOT']],
        defaultSelfTradePreventionMode: 'EXPIRE_MAKER',
        allowedSelfTradePreventionModes: ['EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH'],
      };
    }),
  };
}

/** GET /api/v3/ticker/24hr entry (FULL type). */
function ticker24hr(symbol: string, f: QuoteFields): Record<string, unknown> {
  const last = Number(f.last);
  const open = Number(f.open);
  const entry: Record<string, unknown> = {
    symbol: marketId(symbol),
    priceChange: Number.isFinite(last - open) ? fixed(last - open) : '0',
    priceChangePercent: Number.isFinite(last / open) ? (((last - open) / open) * 100).toFixed(3) : '0',
    weightedAvgPrice: fixed((Number(f.high) + Number(f.low)) / 2),
    prevClosePrice: f.open,
    lastPrice: f.last,
    lastQty: f.lastSize,
    bidPrice: f.bid,
    bidQty: f.bidSize,
    askPrice: f.ask,
    askQty: f.askSize,
    openPrice: f.open,
    highPrice: f.high,
    lowPrice: f.low,
    volume: f.baseVolume,
    quoteVolume: f.quoteVolume,
    openTime: f.time - DAY_MS,
    closeTime: f.time,
    firstId: Math.floor((f.time - DAY_MS) / 100),
    lastId: Math.floor(f.time / 100),
    count: DAY_MS / 100,
  };
  if (f.last === undefined) {
    // Without these ccxt would rebuild last from open + change.
    delete entry['lastPrice'];
    delete entry['priceChange'];
    delete entry['priceChangePercent'];
  }
  return entry;
}

function klineRow(c: SimulatedCandle, intervalMs: number): unknown[] {
  return [
    c.openTime, fixed(c.open), fixed(c.high), fixed(c.low), fixed(c.close), c.volume.toFixed(8),
    c.openTime + intervalMs - 1, c.quoteVolume.toFixed(8), c.trades,
    (c.volume / 2).toFixed(8), (c.quoteVolume / 2).toFixed(8), '0',
  ];
}

function answerTicker(query: URLSearchParams, ctx: DialectContext): RestAnswer {
  const single = query.get('symbol');
  const many = query.get('symbols');
  let symbols: string[];
  if (single !== null) {
    const s = unifiedFor(ctx, single);
    if (s === undefined) return binanceError(400, -1121, 'Invalid symbol.');
    symbols = [s];
  } else if (many !== null) {
    let ids: unknown;
    try {
      ids = JSON.parse(many);
    } catch {
      return binanceError(400, -1100, "Illegal characters found in parameter 'symbols'.");
    }
    if (!Array.isArray(ids)) return binanceError(400, -1100, "Illegal characters found in parameter 'symbols'.");
    symbols = [];
    for (const id of ids) {
      const s = unifiedFor(ctx, typeof id === 'string' ? id : null);
      if (s === undefined) return binanceError(400, -1121, 'Invalid symbol.');
      symbols.push(s);
    }
  } else {
    symbols = ctx.markets.map((m) => m.symbol);
  }
  const entries: unknown[] = [];
  for (const s of symbols) {
    if (single === null && ctx.stalled(s)) continue;
    const payload = ctx.ticker(s);
    if ('body' in payload) return { status: 200, body: payload.body, headers: { 'content-type': 'application/json' } };
    entries.push(ticker24hr(s, payload.fields));
  }
  return json(200, single !== null ? entries[0] : entries);
}

function answerKlines(query: URLSearchParams, ctx: DialectContext): RestAnswer {
  const symbol = unifiedFor(ctx, query.get('symbol'));
  if (symbol === undefined) return binanceError(400, -1121, 'Invalid symbol.');
  const intervalMs = intervalToMs(query.get('interval') ?? '');
  if (intervalMs === undefined) return binanceError(400, -1120, 'Invalid interval.');
  const garbage = ctx.klineGarbage(symbol);
  if (garbage !== undefined) return { status: 200, body: garbage, headers: { 'content-type': 'application/json' } };
  const start = query.get('startTime');
  const end = query.get('endTime');
  const times = selectOpenTimes(intervalMs, ctx, {
    from: start === null ? undefined : Number(start),
    to: end === null ? undefined : Number(end),
    limit: clampLimit(query.get('limit'), 500, 1000),
  });
  return json(200, times.map((t) => klineRow(ctx.candle(symbol, t, intervalMs), intervalMs)));
}

interface KlineSubscription {
  symbol: string;
  interval: string;
  intervalMs: number;
  lastOpen: number | undefined;
}

class BinanceStreamSession implements WsSession {
  private readonly tickers = new Map<string, 'ticker' | 'miniTicker'>();
  private readonly klines = new Map<string, KlineSubscription>();

  constructor(private readonly ctx: DialectContext, private readonly send: (frame: string) => void) {}

  onMessage(text: string): void {
    let request: { method?: unknown; params?: unknown; id?: unknown };
    try {
      request = JSON.parse(text) as typeof request;
    } catch {
      this.send(JSON.stringify({ error: { code: 3, msg: 'Invalid JSON: expected value at line 1 column 1' } }));
      return;
    }
    const id = request.id ?? null;
    const params = Array.isArray(request.params) ? request.params.filter((p): p is string => typeof p === 'string') : [];
    switch (request.method) {
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE':
        for (const stream of params) {
          if (!this.apply(stream, request.method === 'SUBSCRIBE')) {
            this.send(JSON.stringify({ error: { code: 2, msg: `Invalid request: unknown stream ${stream}` }, id }));
            return;
          }
        }
        this.send(JSON.stringify({ result: null, id }));
        return;
      case 'LIST_SUBSCRIPTIONS':
        this.send(JSON.stringify({ result: this.streams(), id }));
        return;
      default:
        this.send(JSON.stringify({ error: { code: 2, msg: 'Invalid request: unknown method' }, id }));
    }
  }

  private streams(): string[] {
    const out: string[] = [];
    for (const [s, channel] of this.tickers) out.push(`${marketId(s).toLowerCase()}@${channel}`);
    for (const k of this.klines.values()) out.push(`${marketId(k.symbol).toLowerCase()}@kline_${k.interval}`);
    return out;
  }

  private apply(stream: string, subscribe: boolean): boolean {
    const [id = '', channel = ''] = stream.split('@');
    const symbol = unifiedFor(this.ctx, id);
    if (symbol === undefined) return false;
    if (channel === 'ticker' || channel === 'miniTicker') {
      if (subscribe) this.tickers.set(symbol, channel);
      else this.tickers.delete(symbol);
      return true;
    }
    if (channel.startsWith('kline_')) {
      const interval = channel.slice('kline_'.length);
      const intervalMs = intervalToMs(interval);
      if (intervalMs === undefined) return false;
      const key = `${symbol}|${interval}`;
      if (subscribe) this.klines.set(key, { symbol, interval, intervalMs, lastOpen: undefined });
      else this.klines.delete(key);
      return true;
    }
    return false;
  }

  subscribedSymbols(): ReadonlySet<string> {
    const out = new Set(this.tickers.keys());
    for (const k of this.klines.values()) out.add(k.symbol);
    return out;
  }

  push(symbol: string): string[] {
    const frames: string[] = [];
    const now = this.ctx.now();
    const channel = this.tickers.get(symbol);
    if (channel !== undefined) {
      const payload = this.ctx.ticker(symbol);
      if ('body' in payload) return [payload.body];
      const f = payload.fields;
      const t = ticker24hr(symbol, f);
      const event: Record<string, unknown> = channel === 'ticker'
        ? {
            e: '24hrTicker', E: now, s: t['symbol'], p: t['priceChange'], P: t['priceChangePercent'], w: t['weightedAvgPrice'],
            x: f.open, c: f.last, Q: f.lastSize, b: f.bid, B: f.bidSize, a: f.ask, A: f.askSize, o: f.open, h: f.high,
            l: f.low, v: f.baseVolume, q: f.quoteVolume, O: f.time - DAY_MS, C: f.time, F: t['firstId'], L: t['lastId'], n: t['count'],
          }
        : { e: '24hrMiniTicker', E: now, s: t['symbol'], c: f.last, o: f.open, h: f.high, l: f.low, v: f.baseVolume, q: f.quoteVolume };
      if (f.last === undefined) {
        delete event['c'];
        delete event['p'];
        delete event['P'];
      }
      frames.push(JSON.stringify(event));
    }
    for (const k of this.klines.values()) {
      if (k.symbol !== symbol) continue;
      const open = Math.floor(now / k.intervalMs) * k.intervalMs;
      if (k.lastOpen !== undefined && k.lastOpen < open) frames.push(this.klineEvent(k, k.lastOpen, true, now));
      frames.push(this.klineEvent(k, open, false, now));
      k.lastOpen = open;
    }
    return frames;
  }

  private klineEvent(k: KlineSubscription, openTime: number, closed: boolean, now: number): string {
    const c = this.ctx.candle(k.symbol, openTime, k.intervalMs);
    const id = marketId(k.symbol);
    return JSON.stringify({
      e: 'kline', E: now, s: id,
      k: {
        t: openTime, T: openTime + k.intervalMs - 1, s: id, i: k.interval, f: Math.floor(openTime / 100), L: Math.floor(openTime / 100) + c.trades,
        o: fixed(c.open), c: fixed(c.close), h: fixed(c.high), l: fixed(c.low), v: c.volume.toFixed(8), n: c.trades, x: closed,
        q: c.quoteVolume.toFixed(8), V: (c.volume / 2).toFixed(8), Q: (c.quoteVolume / 2).toFixed(8), B: '0',
      },
    });
  }
}

export const binanceDialect: ExchangeDialect = {
  id: 'binance',

  route(path: string, query: URLSearchParams, ctx: DialectContext): RestRoute | undefined {
    const symbolOf = (): readonly string[] | 'all' => {
      const one = unifiedFor(ctx, query.get('symbol'));
      return one === undefined ? 'all' : [one];
    };
    switch (path) {
      case '/api/v3/ping':
      case '/api/v3/time':
        return { kind: 'meta', symbols: 'all' };
      case '/api/v3/exchangeInfo':
        return { kind: 'markets', symbols: 'all' };
      case '/api/v3/ticker/24hr':
      case '/api/v3/ticker/price':
        return { kind: 'ticker', symbols: symbolOf() };
      case '/api/v3/klines':
        return { kind: 'klines', symbols: symbolOf() };
      default:
        return undefined;
    }
  },

  answer(path: string, query: URLSearchParams, ctx: DialectContext): RestAnswer {
    switch (path) {
      case '/api/v3/ping':
        return json(200, {});
      case '/api/v3/time':
        return json(200, { serverTime: ctx.now() });
      case '/api/v3/exchangeInfo':
        return json(200, exchangeInfo(ctx));
      case '/api/v3/ticker/24hr':
        return answerTicker(query, ctx);
      case '/api/v3/ticker/price': {
        const answer = answerTicker(query, ctx);
        if (answer.status !== 200) return answer;
        const parsed = JSON.parse(answer.body) as Record<string, unknown> | Record<string, unknown>[];
        const slim = (t: Record<string, unknown>): unknown => ({ symbol: t['symbol'], price: t['lastPrice'] });
        return json(200, Array.isArray(parsed) ? parsed.map(slim) : slim(parsed));
      }
      case '/api/v3/klines':
        return answerKlines(query, ctx);
      default:
        return binanceError(404, -1000, `Unknown path ${path}`);
    }
  },

  errorAnswer(kind) {
    return kind === 'rateLimit'
      ? binanceError(429, -1003, 'Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.')
      : { status: 503, body: '<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>', headers: { 'content-type': 'text/html' } };
  },

  isWebSocketPath(path: string): boolean {
    return path === '/stream/ws' || path.startsWith('/stream/ws/');
  },

  openSession(_path, ctx, send) {
    return new BinanceStreamSession(ctx, send);
  },

  ccxtOptions(httpBase: string, wsBase: string) {
    const stream = `${wsBase}/stream/ws`; // ccxt's isSpotUrl() looks for '/stream' in the URL
    return {
      urls: {
        api: {
          public: `${httpBase}/api/v3`,
          private: `${httpBase}/api/v3`,
          v1: `${httpBase}/api/v1`,
          ws: { spot: stream, margin: stream },
        },
      },
      // Spot only: the simulator serves no futures (fapi/dapi) or options (eapi) endpoints.
      options: { fetchMarkets: { types: ['spot'] }, fetchCurrencies: false, defaultType: 'spot' },
    };
  },
};
