// Configuration of the proxy ingestors, read from the environment with the same rules and the same
// one-line ConfigError as runtime/config.ts. Per source <S> (FEAR_GREED, COINMARKETCAP, WHALE_ALERT,
// NEWSAPI, COINGECKO): PROXY_<S>_URL, PROXY_<S>_API_KEY, PROXY_<S>_INTERVAL_MS and the source's own
// settings PROXY_<S>_<SETTING>; for all: PROXY_SOURCES, PROXY_TIMEOUT_MS, PROXY_BACKOFF_BASE_MS,
// PROXY_BACKOFF_MAX_MS.
import { ConfigError, readInt, readUrl } from '../../runtime/config.ts';
import type { ProxySource } from './proxy-source.ts';
import { PROXY_SOURCES } from './sources/index.ts';

type Env = Record<string, string | undefined>;

export interface SourceConfig {
  source: ProxySource;
  /** False when not listed in PROXY_SOURCES or when a required key is missing. */
  enabled: boolean;
  /** Why it is disabled, for the one log line and the status; null when enabled. */
  disabledReason: string | null;
  disabledBy: 'missing_key' | 'not_selected' | null;
  baseUrl: string;
  apiKey: string | null;
  intervalMs: number;
  settings: Record<string, string>;
}

export interface ProxyConfig {
  sources: SourceConfig[];
  timeoutMs: number;
  backoff: { baseMs: number; maxMs: number };
}

const blank = (v: string | undefined): boolean => v === undefined || v.trim() === '';

const int = readInt;
const url = (env: Env, name: string, fallback: string): string => readUrl(env, name) ?? fallback;

export function loadProxyConfig(env: Env = process.env, catalogue: readonly ProxySource[] = PROXY_SOURCES): ProxyConfig {
  const names = catalogue.map((s) => s.name);
  let wanted = new Set(names);
  const rawList = env.PROXY_SOURCES;
  if (!blank(rawList)) {
    const items = rawList!.split(',').map((s) => s.trim()).filter(Boolean);
    if (items.length === 1 && items[0] === 'none') wanted = new Set();
    else {
      for (const i of items) if (!names.includes(i)) throw new ConfigError('PROXY_SOURCES', rawList!, `"${i}" is not one of ${names.join(', ')} (or "none")`);
      wanted = new Set(items);
    }
  }
  const backoff = { baseMs: int(env, 'PROXY_BACKOFF_BASE_MS', 5_000, 1, 3_600_000), maxMs: int(env, 'PROXY_BACKOFF_MAX_MS', 900_000, 1, 86_400_000) };
  if (backoff.maxMs < backoff.baseMs) throw new ConfigError('PROXY_BACKOFF_MAX_MS', String(env.PROXY_BACKOFF_MAX_MS ?? backoff.maxMs), `must be at least PROXY_BACKOFF_BASE_MS (${backoff.baseMs})`);

  const sources = catalogue.map((source): SourceConfig => {
    const p = `PROXY_${source.envName}_`;
    const settings: Record<string, string> = {};
    for (const [name, spec] of Object.entries(source.settings)) {
      const raw = env[p + name];
      const v = blank(raw) ? spec.default : raw!.trim();
      if (!spec.pattern.test(v)) throw new ConfigError(p + name, v, `must be ${spec.expect}`);
      settings[name] = v;
    }
    const apiKey = source.key === 'none' || blank(env[`${p}API_KEY`]) ? null : env[`${p}API_KEY`]!.trim();
    const disabledBy = !wanted.has(source.name) ? 'not_selected' : source.key === 'required' && apiKey === null ? 'missing_key' : null;
    return {
      source,
      enabled: disabledBy === null,
      disabledReason: disabledBy === 'not_selected' ? 'not listed in PROXY_SOURCES' : disabledBy === 'missing_key' ? `${p}API_KEY is not set` : null,
      disabledBy,
      baseUrl: url(env, `${p}URL`, source.defaultUrl),
      apiKey,
      intervalMs: int(env, `${p}INTERVAL_MS`, source.defaultIntervalMs, 10, 86_400_000),
      settings,
    };
  });
  return { sources, timeoutMs: int(env, 'PROXY_TIMEOUT_MS', 10_000, 10, 300_000), backoff };
}
