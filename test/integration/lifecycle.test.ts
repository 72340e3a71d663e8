// The real CLI: `tickflow start --offline` serves prices, and SIGTERM drains and exits 0.
import { describe, it, expect } from 'vitest';
import { testEnv, eventually } from '../support/env.ts';
import { spawnTs } from '../support/process.ts';
import { freePort } from '../../infra/launcher.ts';

describe('tickflow start', () => {
  it('serves prices and exits 0 on SIGTERM after a clean drain', async () => {
    const port = await freePort();
    const t = testEnv({ API_PORT: String(port), LOG_LEVEL: 'info' });
    const p = spawnTs('bin/tickflow.ts', ['start', '--offline'], t.env);
    try {
      await eventually('prices', async () => {
        const r = await fetch(`http://127.0.0.1:${port}/api/v1/market/prices`);
        return r.ok && ((await r.json()) as { prices: unknown[] }).prices.length > 0;
      }, 90_000);
    } finally {
      p.child.kill('SIGTERM');
    }
    const { code } = await p.exited;
    expect(code).toBe(0);
    const out = p.stdout();
    for (const component of ['synthetic feed', 'http server', 'clickhouse sink', 'producer', 'clickhouse']) {
      expect(out).toContain(`"component":"${component}"`);
    }
    expect(out).not.toContain('failed to stop cleanly');
  });

  it('refuses a bad config value with one line naming the variable', async () => {
    const p = spawnTs('bin/tickflow.ts', ['start', '--offline'], { ...testEnv().env, API_PORT: 'eighty' });
    const { code } = await p.exited;
    expect(code).toBe(2);
    expect(p.stderr().trim()).toBe('Invalid configuration: API_PORT="eighty": must be an integer between 0 and 65535');
  });
});
