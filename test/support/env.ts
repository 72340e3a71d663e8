// Per-file isolation on the shared broker: a unique topic prefix (so catalogue topics, subjects
// and consumer groups are this file's own) and a temporary chDB directory.
import { inject } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '../../runtime/config.ts';
import { createLogger, type Logger } from '../../runtime/logger.ts';

export interface TestEnv { env: Record<string, string>; config: Config; home: string; prefix: string; log: Logger }

export function testEnv(extra: Record<string, string> = {}): TestEnv {
  const home = mkdtempSync(join(tmpdir(), 'tickflow-test-'));
  const prefix = `t${randomUUID().slice(0, 8)}.`;
  const env: Record<string, string> = {
    TICKFLOW_HOME: home,
    KAFKA_BROKERS: inject('kafkaBrokers'),
    SCHEMA_REGISTRY_URL: inject('registryUrl'),
    KAFKA_TOPIC_PREFIX: prefix,
    API_PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    MARKET_SOURCE: 'synthetic',
    ...extra,
  };
  return { env, config: loadConfig(env), home, prefix, log: createLogger(env.LOG_LEVEL) };
}

export async function eventually<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 45_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String((last as Error).message ?? last)}` : ''}`);
}

import { loadJwtSecret, signToken, type ApiRole } from '../../query-api/auth.ts';

/** A bearer header for a user of this test's pipeline (same home, so the same secret). */
export function bearer(t: TestEnv, id: string, role: ApiRole = 'user'): Record<string, string> {
  return { authorization: `Bearer ${signToken(loadJwtSecret(t.home, undefined), { id, role })}` };
}
