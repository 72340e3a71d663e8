// Rate limiting per client: the authenticated user when there is a token, else the address.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { buildApp } from '../../../query-api/app.ts';
import { loadConfig } from '../../../runtime/config.ts';
import { createLogger } from '../../../runtime/logger.ts';
import { loadJwtSecret, signToken } from '../../../query-api/auth.ts';

describe('rate limiting', () => {
  const home = mkdtempSync(join(tmpdir(), 'ratelimit-'));
  const config = loadConfig({ TICKFLOW_HOME: home, API_RATE_LIMIT_PER_MINUTE: '3' });
  // The routes used here never reach ClickHouse.
  const appP = buildApp({ config, log: createLogger('silent'), clickhouse: {} as ClickHouseClient, publisher: null, fanout: null, storeMode: 'embedded', readOnlyQuery: async () => [] });
  afterAll(async () => (await appP).close());
  const auth = (id: string) => ({ authorization: `Bearer ${signToken(loadJwtSecret(home, undefined), { id, role: 'user' })}` });

  it('answers 429 past the per-minute limit, per user and per address, with a message', async () => {
    const app = await appP;
    const get = (headers: Record<string, string> = {}) => app.inject({ method: 'GET', url: '/api/v1/alerts/types', headers });
    for (let i = 0; i < 3; i++) expect((await get(auth('alice'))).statusCode).toBe(200);
    const limited = await get(auth('alice'));
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ statusCode: 429, error: expect.stringContaining('Rate limit') });
    expect(limited.headers['retry-after']).toBeDefined();
    // Bob has his own budget; an anonymous client is counted by address (and gets 401 here).
    expect((await get(auth('bob'))).statusCode).toBe(200);
    expect((await get()).statusCode).toBe(401);
  });

  it('serves the OpenAPI document with an error body on every documented route', async () => {
    const app = await appP;
    const doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json', headers: auth('carol') })).json() as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const ops = Object.entries(doc.paths).flatMap(([path, m]) => Object.entries(m).map(([method, op]) => ({ path, method, op })));
    expect(ops.length).toBeGreaterThan(55);
    for (const { path, method, op } of ops) expect(Object.keys(op.responses), `${method} ${path}`).toContain('4XX');
  });
});
