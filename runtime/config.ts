// The one config loader. Every setting comes from the environment (or an explicit override
// object), is validated here, and a bad value stops start-up with one line naming it.
import { isAbsolute, relative, resolve } from 'node:path';
import { readFileSync } from 'node:fs';

export class ConfigError extends Error {
  constructor(readonly variable: string, readonly value: string, problem: string) {
    super(`Invalid configuration: ${variable}=${JSON.stringify(value)}: ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const str = (env: Env, name: string, fallback: string): string => {
  const v = env[name];
  return v === undefined || v === '' ? fallback : v;
};
const optional = (env: Env, name: string): string | null => {
  const v = env[name];
  return v === undefined || v.trim() === '' ? null : v.trim();
};
const int = (env: Env, name: string, fallback: number, min: number, max: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, raw, `must be an integer between ${min} and ${max}`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, raw, `must be an integer between ${min} and ${max}`);
  return n;
};
const num = (env: Env, name: string, fallback: number, min: number, max: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new ConfigError(name, raw, `must be a number between ${min} and ${max}`);
  return n;
};
const oneOf = <T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(name, raw, `must be one of ${allowed.join(', ')}`);
  return raw as T;
};
const list = (env: Env, name: string, fallback: string[]): string[] => {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new ConfigError(name, raw, 'must be a comma-separated list with at least one item');
  return items;
};
const url = (env: Env, name: string): string | null => {
  const v = optional(env, name);
  if (v === null) return null;
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new ConfigError(name, v, 'must be an http:// or https:// URL');
  }
  return v.replace(/\/+$/, '');
};
const brokers = (env: Env, name: string): string[] | null => {
  const v = optional(env, name);
  if (v === null) return null;
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const b of items) {
    if (!/^[A-Za-z0-9._-]+:\d{1,5}$/.test(b)) throw new ConfigError(name, v, `"${b}" is not host:port`);
  }
  if (items.length === 0) throw new ConfigError(name, v, 'must list at least one host:port');
  return items;
};
const symbolList = (env: Env, name: string, fallback: string[]): string[] => {
  const items = list(env, name, fallback);
  for (const s of items) if (!/^[A-Z0-9]+\/[A-Z0-9]+$/.test(s)) throw new ConfigError(name, env[name] ?? '', `"${s}" is not a unified symbol like BTC/USDT`);
  return items;
};

/** The readers every settings loader uses, so every bad value fails the same way. */
export { int as readInt, url as readUrl };

export const ROLES = ['ingest', 'processors', 'api'] as const;
export type Role = (typeof ROLES)[number];

export interface Config {
  home: string;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  roles: Role[];
  kafka: {
    /** null: start (or reuse) the local broker. */
    brokers: string[] | null;
    clientId: string;
    topicPrefix: string;
    /** Port for the local broker; 0 picks a free one. */
    localPort: number;
    replicationFactor: number;
  };
  registry: { url: string | null; localPort: number };
  clickhouse: { url: string | null; user: string; password: string; database: string; embeddedPath: string };
  api: { host: string; port: number; rateLimitPerMinute: number; wsMaxBufferedBytes: number; readCacheMs: number };
  market: {
    source: 'synthetic' | 'exchanges';
    symbols: string[];
    syntheticExchanges: string[];
    syntheticTicksPerSecond: number;
    syntheticSeed: number;
  };
  sink: { batchSize: number; batchMaxWaitMs: number; retryMaxMs: number };
  processors: { checkpointMs: number; allowedLatenessMs: number };
  monitoring: {
    /** Where operational alerts are POSTed as JSON; never logged. */
    opsAlertWebhookUrl: string | null;
    /** Crash, heap and CPU dumps; inside `home`. */
    crashDumpDir: string;
    sloFile: string;
    sloSampleIntervalMs: number;
  };
  /** The proxy sources run in the ingest role unless PROXY_SOURCES=none (their settings: ingest/proxy). */
  proxy: { enabled: boolean };
  exchanges: {
    ids: string[];
    /** Per exchange overrides (symbols, ccxtOptions such as urls, transport, pollIntervalMs, klines, retry...). */
    overrides: Record<string, Record<string, unknown>>;
    failover: Record<string, unknown>;
    klineIntervals: string[];
  };
}

function insideHome(home: string, env: Env, name: string, fallback: string): string {
  const raw = str(env, name, fallback);
  const dir = resolve(home, raw);
  const rel = relative(home, dir);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new ConfigError(name, raw, `must be inside TICKFLOW_HOME (${home})`);
  return dir;
}

/** EXCHANGES_CONFIG: inline JSON, or @path to a JSON file: {"binance": {...}, "failover": {...}}. */
function jsonObject(env: Env, name: string): Record<string, unknown> {
  const raw = optional(env, name);
  if (raw === null) return {};
  let text = raw;
  if (raw.startsWith('@')) {
    try { text = readFileSync(raw.slice(1), 'utf8'); } catch (e) { throw new ConfigError(name, raw, `cannot read ${raw.slice(1)}: ${(e as Error).message}`); }
  }
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) { throw new ConfigError(name, raw, `is not valid JSON (${(e as Error).message})`); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(name, raw, 'must be a JSON object');
  return v as Record<string, unknown>;
}

export function loadConfig(env: Env = process.env, overrides: { offline?: boolean } = {}): Config {
  const home = resolve(str(env, 'TICKFLOW_HOME', '.tickflow'));
  const rolesRaw = list(env, 'TICKFLOW_ROLES', [...ROLES]);
  for (const r of rolesRaw) {
    if (!(ROLES as readonly string[]).includes(r)) throw new ConfigError('TICKFLOW_ROLES', env.TICKFLOW_ROLES ?? '', `"${r}" is not one of ${ROLES.join(', ')}`);
  }
  const prefix = str(env, 'KAFKA_TOPIC_PREFIX', '');
  if (!/^[A-Za-z0-9._-]*$/.test(prefix)) throw new ConfigError('KAFKA_TOPIC_PREFIX', prefix, 'may only contain letters, digits, ".", "_" and "-"');
  const exchangeIds = list(env, 'EXCHANGES', ['binance', 'coinbase', 'kraken', 'bybit', 'okx']);
  for (const id of exchangeIds) if (!/^[a-z0-9]+$/.test(id)) throw new ConfigError('EXCHANGES', env.EXCHANGES ?? '', `"${id}" is not a ccxt exchange id`);
  const exchangesJson = jsonObject(env, 'EXCHANGES_CONFIG');
  const { failover = {}, ...perExchange } = exchangesJson;
  for (const [k, v] of Object.entries(perExchange)) {
    if (!exchangeIds.includes(k)) throw new ConfigError('EXCHANGES_CONFIG', env.EXCHANGES_CONFIG ?? '', `"${k}" is not in EXCHANGES (${exchangeIds.join(', ')})`);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError('EXCHANGES_CONFIG', env.EXCHANGES_CONFIG ?? '', `"${k}" must map to an object`);
  }
  if (typeof failover !== 'object' || failover === null || Array.isArray(failover)) throw new ConfigError('EXCHANGES_CONFIG', env.EXCHANGES_CONFIG ?? '', '"failover" must map to an object');
  const source = overrides.offline ? 'synthetic' : oneOf(env, 'MARKET_SOURCE', 'exchanges', ['synthetic', 'exchanges'] as const);
  return {
    home,
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const),
    roles: rolesRaw as Role[],
    kafka: {
      brokers: brokers(env, 'KAFKA_BROKERS'),
      clientId: str(env, 'KAFKA_CLIENT_ID', 'tickflow'),
      topicPrefix: prefix,
      localPort: int(env, 'KAFKA_LOCAL_PORT', 9092, 0, 65535),
      replicationFactor: int(env, 'KAFKA_REPLICATION_FACTOR', 1, 1, 10),
    },
    registry: { url: url(env, 'SCHEMA_REGISTRY_URL'), localPort: int(env, 'SCHEMA_REGISTRY_LOCAL_PORT', 8081, 0, 65535) },
    clickhouse: {
      url: url(env, 'CLICKHOUSE_URL'),
      user: str(env, 'CLICKHOUSE_USER', 'default'),
      password: str(env, 'CLICKHOUSE_PASSWORD', ''),
      database: str(env, 'CLICKHOUSE_DATABASE', 'default'),
      embeddedPath: resolve(home, str(env, 'CHDB_PATH', 'chdb')),
    },
    api: {
      host: str(env, 'API_HOST', '127.0.0.1'),
      port: int(env, 'API_PORT', 8080, 0, 65535),
      rateLimitPerMinute: int(env, 'API_RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
      wsMaxBufferedBytes: int(env, 'WS_MAX_BUFFERED_BYTES', 1 << 20, 1024, 1 << 30),
      readCacheMs: int(env, 'API_READ_CACHE_MS', 250, 0, 60_000),
    },
    market: {
      source,
      symbols: symbolList(env, 'MARKET_SYMBOLS', ['BTC/USDT', 'ETH/USDT', 'SOL/USDT']),
      syntheticExchanges: list(env, 'SYNTHETIC_EXCHANGES', ['binance', 'coinbase', 'kraken']),
      syntheticTicksPerSecond: num(env, 'SYNTHETIC_TICKS_PER_SECOND', 20, 0.1, 1_000_000),
      syntheticSeed: int(env, 'SYNTHETIC_SEED', 42, 0, 2 ** 31 - 1),
    },
    sink: {
      batchSize: int(env, 'SINK_BATCH_SIZE', 5000, 1, 1_000_000),
      batchMaxWaitMs: int(env, 'SINK_BATCH_MAX_WAIT_MS', 250, 0, 60_000),
      retryMaxMs: int(env, 'SINK_RETRY_MAX_MS', 10_000, 100, 600_000),
    },
    monitoring: {
      opsAlertWebhookUrl: url(env, 'OPS_ALERT_WEBHOOK_URL'),
      crashDumpDir: insideHome(home, env, 'CRASH_DUMP_DIR', 'crash-dumps'),
      sloFile: resolve(home, str(env, 'TICKFLOW_SLO_FILE', 'slo.json')),
      sloSampleIntervalMs: int(env, 'SLO_SAMPLE_INTERVAL_MS', 15_000, 1000, 3_600_000),
    },
    proxy: { enabled: (env.PROXY_SOURCES ?? '').trim() !== 'none' },
    exchanges: {
      ids: exchangeIds,
      overrides: perExchange as Record<string, Record<string, unknown>>,
      failover: failover as Record<string, unknown>,
      klineIntervals: list(env, 'EXCHANGE_KLINE_INTERVALS', ['1m']),
    },
    processors: {
      checkpointMs: int(env, 'PROCESSOR_CHECKPOINT_MS', 5000, 100, 600_000),
      allowedLatenessMs: int(env, 'CANDLE_ALLOWED_LATENESS_MS', 2000, 0, 3_600_000),
    },
  };
}
