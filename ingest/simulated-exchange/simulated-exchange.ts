// A local exchange on 127.0.0.1 that speaks a real exchange's REST and WebSocket formats, so ccxt's
// own request, parsing and error-mapping code runs against it. Faults are switched at run time with
// setFault() or POST /__simulator/fault {"kind": "stall", "symbols": ["BTC/USDT"]}.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConstructorArgs } from 'ccxt';
import { WebSocketServer, type WebSocket } from 'ws';
import { binanceDialect } from './dialects/binance.ts';
import { okxDialect } from './dialects/okx.ts';
import type { DialectContext, ExchangeDialect, RestAnswer, RestRoute, TickerPayload, WsSession } from './exchange-dialect.ts';
import {
  corruptPrices, faultCovers, formatQuote, garbagePayload, isFaultKind,
  type ActiveFault, type FaultKind, type FaultScope,
} from './fault-modes.ts';
import { SeededPricePath, type MarketQuote, type SimulatedCandle, type SimulatedMarketSpec } from './price-path.ts';

/** Exchanges the simulator can imitate (ccxt ids). Adding one is adding a dialect file and a line here. */
export const SIMULATED_DIALECTS = { binance: binanceDialect, okx: okxDialect } as const satisfies Record<string, ExchangeDialect>;
export type SimulatedExchangeId = keyof typeof SIMULATED_DIALECTS;

export const DEFAULT_SIMULATED_MARKETS: readonly SimulatedMarketSpec[] = [
  { symbol: 'BTC/USDT', startPrice: 43_000, volumePerStep: 0.8 },
  { symbol: 'ETH/USDT', startPrice: 2_300, volumePerStep: 6 },
];

export interface SimulatedExchangeOptions {
  exchange: SimulatedExchangeId;
  markets?: readonly SimulatedMarketSpec[];
  seed?: string | number;
  /** Price path resolution: the quote changes once per step. */
  stepMs?: number;
  /** How far back candle history goes. */
  klineHistoryMs?: number;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  now?: () => number;
}

export interface SimulatedExchangeStats {
  restRequests: number;
  restByPath: Record<string, number>;
  restStatuses: Record<string, number>;
  restRefused: number;
  restStalled: number;
  wsConnectionsOpened: number;
  wsOpen: number;
  wsRefused: number;
  wsFramesSent: number;
  wsDropped: number;
}

export interface SimulatedExchange {
  /** ccxt exchange id this simulator imitates. */
  readonly exchangeId: SimulatedExchangeId;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** ws://127.0.0.1:<port> */
  readonly wsUrl: string;
  readonly markets: readonly SimulatedMarketSpec[];
  setFault(kind: FaultKind, scope?: FaultScope): void;
  fault(): { kind: FaultKind; symbols: string[] | null; since: number };
  /** ccxt constructor options pointing ccxt's exchange class at this simulator. */
  ccxtOptions(): ConstructorArgs;
  /** What the exchange quotes for a market at a time (the uncorrupted truth). */
  quote(symbol: string, time?: number): MarketQuote;
  candle(symbol: string, openTime: number, intervalMs: number): SimulatedCandle;
  stats(): SimulatedExchangeStats;
  close(): Promise<void>;
}

/** ccxt constructor options for a simulator (or anything with its exchange id and base URLs). */
export function simulatedExchangeCcxtOptions(sim: Pick<SimulatedExchange, 'exchangeId' | 'url' | 'wsUrl'>): ConstructorArgs {
  return {
    ...SIMULATED_DIALECTS[sim.exchangeId].ccxtOptions(sim.url, sim.wsUrl),
    // The simulator has no rate limit of its own; ccxt's limiter stays on (enableRateLimit) but fast.
    rateLimit: 1,
    // ccxt in Node refuses plain ws:// URLs unless it was given an http agent for them.
    httpAgent: new http.Agent(),
  };
}

const KLINE_GARBAGE = ['<html><body><h1>502 Bad Gateway</h1></body></html>', '{"unexpected":"shape"}', '[[1,2'] as const;

export async function startSimulatedExchange(options: SimulatedExchangeOptions): Promise<SimulatedExchange> {
  const dialect: ExchangeDialect = SIMULATED_DIALECTS[options.exchange];
  const now = options.now ?? Date.now;
  const stepMs = options.stepMs ?? 100;
  const markets = options.markets ?? DEFAULT_SIMULATED_MARKETS;
  const seed = options.seed ?? 'tickflow';
  const paths = new Map(markets.map((m) => [m.symbol, new SeededPricePath(seed, m, stepMs)]));
  const historyStart = now() - (options.klineHistoryMs ?? 7 * 86_400_000);
  let fault: ActiveFault = { kind: 'none', symbols: null, since: now() };
  let corruptionCounter = 0;
  const sessions = new Map<WebSocket, WsSession>();
  const stalledResponses = new Set<http.ServerResponse>();
  const stats: SimulatedExchangeStats = {
    restRequests: 0, restByPath: {}, restStatuses: {}, restRefused: 0, restStalled: 0,
    wsConnectionsOpened: 0, wsOpen: 0, wsRefused: 0, wsFramesSent: 0, wsDropped: 0,
  };

  const pathFor = (symbol: string): SeededPricePath => {
    const path = paths.get(symbol);
    if (path === undefined) throw new Error(`simulated ${options.exchange} has no market ${symbol}`);
    return path;
  };

  const ctx: DialectContext = {
    now,
    markets,
    historyStart,
    hasMarket: (symbol) => paths.has(symbol),
    ticker(symbol: string): TickerPayload {
      const fields = formatQuote(pathFor(symbol).quoteAt(now()));
      if (fault.kind === 'nanPrices' && faultCovers(fault, symbol)) return { fields: corruptPrices(fields, corruptionCounter++).fields };
      if (fault.kind === 'garbage' && faultCovers(fault, symbol)) return garbagePayload(fields, corruptionCounter++);
      return { fields };
    },
    klineGarbage(symbol: string): string | undefined {
      if (fault.kind !== 'garbage' || !faultCovers(fault, symbol)) return undefined;
      return KLINE_GARBAGE[corruptionCounter++ % KLINE_GARBAGE.length];
    },
    candle: (symbol, openTime, intervalMs) => pathFor(symbol).candle(openTime, intervalMs),
    stalled: (symbol) => fault.kind === 'stall' && fault.symbols !== null && fault.symbols.has(symbol),
  };

  /** Does the active fault hit this request? Scoped faults never hit market lists or server time. */
  const faultHits = (route: RestRoute | undefined): boolean => {
    if (fault.symbols === null) return true;
    if (route === undefined || route.kind === 'meta' || route.kind === 'markets') return false;
    return route.symbols === 'all' || route.symbols.some((s) => faultCovers(fault, s));
  };

  const send = (res: http.ServerResponse, answer: RestAnswer): void => {
    stats.restStatuses[answer.status] = (stats.restStatuses[answer.status] ?? 0) + 1;
    res.writeHead(answer.status, answer.headers ?? {});
    res.end(answer.body);
  };

  const handleAdmin = (req: http.IncomingMessage, res: http.ServerResponse, path: string): void => {
    if (path === '/__simulator/stats') {
      send(res, { status: 200, body: JSON.stringify(stats), headers: { 'content-type': 'application/json' } });
      return;
    }
    if (path !== '/__simulator/fault') {
      send(res, { status: 404, body: 'unknown simulator admin path' });
      return;
    }
    if (req.method === 'GET') {
      send(res, { status: 200, body: JSON.stringify(sim.fault()), headers: { 'content-type': 'application/json' } });
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => { body += chunk; });
    req.on('end', () => {
      let parsed: { kind?: unknown; symbols?: unknown };
      try {
        parsed = JSON.parse(body) as typeof parsed;
      } catch {
        send(res, { status: 400, body: 'body must be JSON: {"kind": "...", "symbols": [...]}' });
        return;
      }
      if (!isFaultKind(parsed.kind)) {
        send(res, { status: 400, body: `kind must be one of none, drop, stall, http429, http5xx, garbage, nanPrices` });
        return;
      }
      const symbols = Array.isArray(parsed.symbols) ? parsed.symbols.filter((s): s is string => typeof s === 'string') : undefined;
      sim.setFault(parsed.kind, symbols === undefined ? {} : { symbols });
      send(res, { status: 200, body: JSON.stringify(sim.fault()), headers: { 'content-type': 'application/json' } });
    });
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    if (url.pathname.startsWith('/__simulator/')) {
      handleAdmin(req, res, url.pathname);
      return;
    }
    stats.restRequests++;
    stats.restByPath[url.pathname] = (stats.restByPath[url.pathname] ?? 0) + 1;
    const route = dialect.route(url.pathname, url.searchParams, ctx);
    const hit = faultHits(route);
    if (fault.kind === 'drop' && hit) {
      stats.restRefused++;
      req.socket.destroy();
      return;
    }
    if (fault.kind === 'stall' && hit && !(route?.symbols === 'all' && fault.symbols !== null)) {
      // Accept and never answer; the client's own timeout has to notice.
      stats.restStalled++;
      stalledResponses.add(res);
      res.on('close', () => stalledResponses.delete(res));
      return;
    }
    if ((fault.kind === 'http429' || fault.kind === 'http5xx') && hit) {
      const answer = dialect.errorAnswer(fault.kind === 'http429' ? 'rateLimit' : 'unavailable');
      send(res, fault.kind === 'http429' ? { ...answer, headers: { ...answer.headers, 'retry-after': '1' } } : answer);
      return;
    }
    send(res, dialect.answer(url.pathname, url.searchParams, ctx));
  });

  const wss = new WebSocketServer({ noServer: true });
  const refuseUpgrade = (socket: Duplex, status: string): void => {
    stats.wsRefused++;
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://simulator').pathname;
    if (fault.kind === 'drop' && fault.symbols === null) {
      stats.wsRefused++;
      socket.destroy();
      return;
    }
    if (fault.symbols === null && fault.kind === 'http429') return refuseUpgrade(socket, '429 Too Many Requests');
    if (fault.symbols === null && fault.kind === 'http5xx') return refuseUpgrade(socket, '503 Service Unavailable');
    if (!dialect.isWebSocketPath(path)) return refuseUpgrade(socket, '404 Not Found');
    wss.handleUpgrade(req, socket, head, (ws) => {
      stats.wsConnectionsOpened++;
      stats.wsOpen++;
      const session = dialect.openSession(path, ctx, (frame) => {
        if (ws.readyState === ws.OPEN) {
          ws.send(frame);
          stats.wsFramesSent++;
        }
      });
      sessions.set(ws, session);
      ws.on('message', (data) => {
        if (fault.kind === 'stall' && fault.symbols === null) return; // a stalled server answers nothing
        session.onMessage(data.toString());
      });
      ws.on('close', () => {
        stats.wsOpen--;
        sessions.delete(ws);
      });
      ws.on('error', () => ws.terminate());
    });
  });

  const pushTimers = markets.map((m) => {
    const timer = setInterval(() => {
      if (fault.kind === 'drop' && faultCovers(fault, m.symbol)) return;
      if (fault.kind === 'stall' && faultCovers(fault, m.symbol)) return;
      for (const [ws, session] of sessions) {
        if (!session.subscribedSymbols().has(m.symbol) || ws.readyState !== ws.OPEN) continue;
        for (const frame of session.push(m.symbol)) {
          ws.send(frame);
          stats.wsFramesSent++;
        }
      }
    }, pathFor(m.symbol).spec.pushIntervalMs);
    timer.unref();
    return timer;
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const hostPort = `${address.address}:${address.port}`;

  const sim: SimulatedExchange = {
    exchangeId: options.exchange,
    url: `http://${hostPort}`,
    wsUrl: `ws://${hostPort}`,
    markets,
    setFault(kind: FaultKind, scope: FaultScope = {}): void {
      fault = { kind, symbols: scope.symbols === undefined ? null : new Set(scope.symbols), since: now() };
      if (kind === 'drop') {
        for (const [ws, session] of sessions) {
          const hit = fault.symbols === null || [...session.subscribedSymbols()].some((s) => faultCovers(fault, s));
          if (hit) {
            stats.wsDropped++;
            ws.terminate();
          }
        }
      }
      if (kind !== 'stall') {
        // A stall that ends drops the requests it held, as a restarted server would.
        for (const res of stalledResponses) res.destroy();
        stalledResponses.clear();
      }
    },
    fault: () => ({ kind: fault.kind, symbols: fault.symbols === null ? null : [...fault.symbols], since: fault.since }),
    ccxtOptions: () => simulatedExchangeCcxtOptions(sim),
    quote: (symbol, time) => pathFor(symbol).quoteAt(time ?? now()),
    candle: (symbol, openTime, intervalMs) => pathFor(symbol).candle(openTime, intervalMs),
    stats: () => structuredClone(stats),
    async close(): Promise<void> {
      for (const timer of pushTimers) clearInterval(timer);
      for (const ws of sessions.keys()) ws.terminate();
      for (const res of stalledResponses) res.destroy();
      stalledResponses.clear();
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return sim;
}
