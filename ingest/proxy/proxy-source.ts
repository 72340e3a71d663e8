// What a proxy source is: a third-party HTTP API with one or more resources, each a request plus a
// schema check and a normalizer. A source file declares this and nothing else; the poller does the
// HTTP, backoff, publishing and status for every source alike (adding a source = adding a file).
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** A per-source setting read from `PROXY_<SOURCE>_<NAME>` (e.g. PROXY_COINGECKO_IDS). */
export interface SourceSetting {
  default: string;
  pattern: RegExp;
  /** Says what a valid value looks like, for the ConfigError line. */
  expect: string;
}

export interface SourceContext {
  apiKey: string | null;
  settings: Record<string, string>;
  /** Fetch time, epoch ms; some APIs take a time window (Whale Alert `start`). */
  now: number;
}

export interface ResourceRequest {
  /** Path under the base URL, starting with `/`. */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** Query parameters that identify the snapshot (the Avro `params` map); never the key. */
  params: Record<string, string>;
}

export interface NormalizedSnapshot {
  item_count: number;
  /** Compact JSON-able value; becomes payload_json. */
  payload: unknown;
}

export interface ProxyResource<T = unknown> {
  resource: string;
  /** The documented response shape; a 200 body that fails it is invalid and goes to the DLQ. */
  schema: TSchema;
  request(ctx: SourceContext): ResourceRequest;
  normalize(body: T): NormalizedSnapshot;
}

export interface ProxySource {
  /** Source name as published: fear_greed, coinmarketcap, whale_alert, newsapi, coingecko. */
  name: string;
  /** Env infix: PROXY_<envName>_URL and friends. */
  envName: string;
  /** Production base URL. */
  defaultUrl: string;
  /** Sources that need a key are disabled without one; `optional` keys are sent when set. */
  key: 'required' | 'optional' | 'none';
  /** Default poll interval: within the published rate limit, with headroom (see each source). */
  defaultIntervalMs: number;
  /** Below this the source's free tier would be exceeded; a lower setting is allowed (tests) but warned. */
  rateLimitFloorMs: number;
  settings: Record<string, SourceSetting>;
  resources: ProxyResource[];
  /** The error message an API puts in its error body, for the status line. */
  errorMessage(body: unknown): string | null;
}

/** Define a resource with its body type inferred from the schema. */
export function resource<T>(r: ProxyResource<T>): ProxyResource {
  return r as ProxyResource;
}

/** First schema violation as one readable line, or null when the body matches. */
export function schemaViolation(schema: TSchema, body: unknown): string | null {
  if (Value.Check(schema, body)) return null;
  const first = Value.Errors(schema, body).First();
  if (!first) return 'does not match the documented response shape';
  return `${first.path || '(root)'}: ${first.message}`;
}

/** Finite number or null: upstream APIs send null for unknown supplies and changes. */
export const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
