// Drives every proxy source the same way: poll its resources, check each body against the
// documented schema, publish a normalized snapshot on proxy.snapshots.v1, and report the source's
// state on control.events.v1 (`proxy:<source>`, kind proxy.status) after every poll. A failure
// (timeout, network, 5xx, 429, bad key, invalid body) only reschedules that source with backoff;
// an invalid body also goes to the DLQ with the raw text. Sources share nothing but the publisher.
import { createHash } from 'node:crypto';
import type { Logger } from '../../runtime/logger.ts';
import type { EventPublisher } from '../tick-publisher.ts';
import type { ControlEvent, ProxySnapshot } from '../../schemas/generated/events.ts';
import { schemaViolation, type ProxyResource, type ResourceRequest } from './proxy-source.ts';
import type { ProxyConfig, SourceConfig } from './proxy-config.ts';
import { backoffDelay, parseRetryAfter } from './proxy-backoff.ts';

export type SourceState = 'ok' | 'disabled' | 'backoff' | 'error';

/** The status payload (payload_json of each proxy.status control event). */
export interface SourceStatus {
  source: string;
  resources: string[];
  state: SourceState;
  enabled: boolean;
  disabled_reason: string | null;
  interval_ms: number;
  last_success_at: number | null;
  last_error: { message: string; at: number } | null;
  next_poll_at: number | null;
  consecutive_failures: number;
}

export type FailureKind = 'timeout' | 'network' | 'http' | 'rate_limited' | 'unauthorized' | 'invalid_json' | 'invalid_body' | 'publish';

export class PollFailure extends Error {
  constructor(readonly kind: FailureKind, message: string, readonly status: number | null = null, readonly retryAfterMs: number | null = null) {
    super(message);
    this.name = 'PollFailure';
  }
  /** Failures that retrying soon cannot fix (the key or the request is rejected): state `error`. */
  get permanent(): boolean {
    return this.kind === 'unauthorized' || (this.kind === 'http' && this.status !== null && this.status >= 400 && this.status < 500);
  }
}

export type FetchFn = (input: string, init: RequestInit) => Promise<Response>;
export type ProxyPublisher = Pick<EventPublisher, 'publish' | 'reject'>;

export interface PollerDeps {
  publisher: ProxyPublisher;
  log: Logger;
  fetch: FetchFn;
  now: () => number;
  random: () => number;
}

const MAX_RAW_CHARS = 256 * 1024;

/** Deterministic snapshot id: the payload's hash and the interval bucket of the fetch. A replay
 *  carries the same id; identical data fetched again within one interval (a retry after a partial
 *  failure) gives the same id, and the poller does not publish an id twice. */
export function snapshotEventId(source: string, resource: string, payloadJson: string, fetchedAt: number, intervalMs: number): string {
  const hash = createHash('sha256').update(payloadJson).digest('hex').slice(0, 16);
  return `proxy:${source}:${resource}:${hash}:${Math.floor(fetchedAt / intervalMs)}`;
}

export class SourcePoller {
  private state: SourceState;
  private lastSuccessAt: number | null = null;
  private lastError: { message: string; at: number } | null = null;
  private nextPollAt: number | null = null;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private readonly abort = new AbortController();
  private stopped = false;
  private readonly log: Logger;
  /** Last snapshot id published per resource, so one running poller never publishes an id twice. */
  private readonly lastEventId = new Map<string, string>();

  constructor(private readonly cfg: SourceConfig, private readonly proxy: Pick<ProxyConfig, 'timeoutMs' | 'backoff'>, private readonly deps: PollerDeps) {
    this.state = cfg.enabled ? 'ok' : 'disabled';
    this.log = deps.log.child({ component: 'proxy', source: cfg.source.name });
  }

  get name(): string {
    return this.cfg.source.name;
  }

  async start(): Promise<void> {
    if (!this.cfg.enabled) {
      // A missing key is worth a warning; a source left out of PROXY_SOURCES on purpose is not.
      const level = this.cfg.disabledBy === 'missing_key' ? 'warn' : 'info';
      this.log[level]({ reason: this.cfg.disabledReason }, `proxy source ${this.name} disabled: ${this.cfg.disabledReason}`);
      await this.publishStatus();
      return;
    }
    if (this.cfg.intervalMs < this.cfg.source.rateLimitFloorMs) {
      this.log.warn({ interval_ms: this.cfg.intervalMs, floor_ms: this.cfg.source.rateLimitFloorMs }, `PROXY_${this.cfg.source.envName}_INTERVAL_MS is below what the free tier's rate limit allows`);
    }
    this.log.info({ interval_ms: this.cfg.intervalMs, base_url: this.cfg.baseUrl }, `proxy source ${this.name} polling`);
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort.abort();
    await this.inFlight;
  }

  status(): SourceStatus {
    return {
      source: this.name,
      resources: this.cfg.source.resources.map((r) => r.resource),
      state: this.state,
      enabled: this.cfg.enabled,
      disabled_reason: this.cfg.disabledReason,
      interval_ms: this.cfg.intervalMs,
      last_success_at: this.lastSuccessAt,
      last_error: this.lastError && { ...this.lastError },
      next_poll_at: this.nextPollAt,
      consecutive_failures: this.failures,
    };
  }

  private schedule(delayMs: number, from: number = this.deps.now()): void {
    if (this.stopped) return;
    this.nextPollAt = from + delayMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.inFlight = this.pollOnce().finally(() => { this.inFlight = null; });
    }, delayMs);
  }

  /** One poll of every resource of the source; the source fails if any resource fails. */
  async pollOnce(): Promise<void> {
    let failure: PollFailure | null = null;
    for (const res of this.cfg.source.resources) {
      if (this.stopped) return;
      try {
        await this.pollResource(res);
      } catch (err) {
        if (this.stopped) return;
        const f = err instanceof PollFailure ? err : new PollFailure('publish', `publishing failed: ${(err as Error).message}`);
        this.log.warn({ resource: res.resource, kind: f.kind, status: f.status, consecutive_failures: this.failures + 1 }, `proxy ${this.name}/${res.resource} failed: ${f.message}`);
        failure ??= f;
      }
    }
    if (this.stopped) return;
    const at = this.deps.now();
    const before = this.state;
    if (failure) {
      this.failures++;
      this.lastError = { message: failure.message, at };
      this.state = failure.permanent ? 'error' : 'backoff';
      // A rejected key or request will not heal by retrying fast: go straight to the cap.
      const delay = failure.permanent ? this.proxy.backoff.maxMs : backoffDelay(this.failures, this.proxy.backoff, this.deps.random, failure.retryAfterMs);
      this.schedule(delay, at);
    } else {
      if (this.failures > 0) this.log.info({ after_failures: this.failures }, `proxy source ${this.name} recovered`);
      this.failures = 0;
      this.lastSuccessAt = at;
      this.state = 'ok';
      this.schedule(this.cfg.intervalMs, at);
    }
    if (before !== this.state) this.log.info({ from: before, to: this.state }, `proxy source ${this.name} is ${this.state}`);
    await this.publishStatus();
  }

  private async pollResource(res: ProxyResource): Promise<void> {
    const fetchedAt = this.deps.now();
    const req = res.request({ apiKey: this.cfg.apiKey, settings: this.cfg.settings, now: fetchedAt });
    const key = `${this.name}:${res.resource}`;
    const text = await this.fetchText(req);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      await this.reject(key, res, `response is not JSON (${text.length} bytes)`, text);
      throw new PollFailure('invalid_json', `${res.resource}: response is not JSON`);
    }
    const violation = schemaViolation(res.schema, body);
    if (violation) {
      await this.reject(key, res, `response does not match the documented ${this.name}/${res.resource} shape: ${violation}`, text);
      throw new PollFailure('invalid_body', `${res.resource}: invalid response: ${violation}`);
    }
    let snapshot: ReturnType<ProxyResource['normalize']>;
    try {
      snapshot = res.normalize(body);
    } catch (err) {
      // The schema let through something the normalizer cannot read: still an invalid body.
      await this.reject(key, res, `response of ${this.name}/${res.resource} cannot be normalized: ${(err as Error).message}`, text);
      throw new PollFailure('invalid_body', `${res.resource}: response cannot be normalized: ${(err as Error).message}`);
    }
    const { item_count, payload } = snapshot;
    const payload_json = JSON.stringify(payload);
    const eventId = snapshotEventId(this.name, res.resource, payload_json, fetchedAt, this.cfg.intervalMs);
    if (this.lastEventId.get(res.resource) === eventId) {
      this.log.debug({ resource: res.resource, event_id: eventId }, 'unchanged within the interval: not published again');
      return;
    }
    const value: ProxySnapshot = {
      event_id: eventId,
      event_type: 'proxy.snapshot',
      schema_version: 1,
      // The APIs' own timestamps differ per source (and some are per item); the fetch is the fact.
      event_time: fetchedAt,
      ingest_time: this.deps.now(),
      source: this.name,
      resource: res.resource,
      params: req.params,
      item_count,
      payload_json,
    };
    const r = await this.deps.publisher.publish('proxySnapshots', [{ key, value }]);
    if (r.sent !== 1) throw new PollFailure('publish', `${res.resource}: snapshot rejected by the topic schema`);
    this.lastEventId.set(res.resource, eventId);
  }

  private async fetchText(req: ResourceRequest): Promise<string> {
    const u = new URL(this.cfg.baseUrl + req.path);
    for (const [k, v] of Object.entries(req.query)) u.searchParams.set(k, v);
    const signal = AbortSignal.any([AbortSignal.timeout(this.proxy.timeoutMs), this.abort.signal]);
    let response: Response;
    let text: string;
    try {
      response = await this.deps.fetch(u.toString(), { headers: req.headers, signal });
      text = await response.text();
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError') throw new PollFailure('timeout', `${req.path}: no answer within ${this.proxy.timeoutMs} ms`);
      // The URL may carry the key (Whale Alert's api_key), so only the path is ever reported.
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new PollFailure('network', `${req.path}: ${cause?.code ?? cause?.message ?? e.message}`);
    }
    if (response.ok) return text;
    let detail: string | null = null;
    try {
      detail = this.cfg.source.errorMessage(JSON.parse(text));
    } catch {
      // An error page that is not JSON: the status says enough.
    }
    const msg = `${req.path}: HTTP ${response.status}${detail ? ` ${detail}` : ''}`;
    if (response.status === 429) throw new PollFailure('rate_limited', msg, 429, parseRetryAfter(response.headers.get('retry-after'), this.deps.now()));
    if (response.status === 401 || response.status === 403) throw new PollFailure('unauthorized', msg, response.status);
    throw new PollFailure('http', msg, response.status);
  }

  private async reject(key: string, res: ProxyResource, reason: string, text: string): Promise<void> {
    await this.deps.publisher.reject([{
      topicId: 'proxySnapshots',
      key,
      reason,
      raw: { source: this.name, resource: res.resource, body: text.length > MAX_RAW_CHARS ? text.slice(0, MAX_RAW_CHARS) : text, truncated: text.length > MAX_RAW_CHARS },
    }]);
  }

  private async publishStatus(): Promise<void> {
    const s = this.status();
    const at = this.deps.now();
    const value: ControlEvent = {
      event_id: `proxy:${this.name}:status:${at}:${s.state}:${s.consecutive_failures}`,
      event_type: 'control', // as the exchange status events
      schema_version: 1,
      event_time: at,
      ingest_time: at,
      source: `proxy:${this.name}`,
      kind: 'proxy.status',
      command_id: null,
      payload_json: JSON.stringify(s),
    };
    try {
      await this.deps.publisher.publish('controlEvents', [{ key: `proxy:${this.name}`, value }]);
    } catch (err) {
      // Status is best effort: the next poll reports again, and the source keeps polling.
      this.log.warn({ err: (err as Error).message }, 'proxy status event not published');
    }
  }
}
