#!/usr/bin/env -S npx tsx
// tickflow CLI: start the pipeline, manage the local services, run read-only SQL.
import { loadConfig, ConfigError } from '../runtime/config.ts';
import { createLogger } from '../runtime/logger.ts';
import { resolveAll, serviceStatus, stopServices, ensureKafka, ensureRegistry } from '../infra/launcher.ts';
import { startPipeline } from './pipeline.ts';
import { Lifecycle } from '../runtime/lifecycle.ts';
import { loadJwtSecret, signToken } from '../query-api/auth.ts';
import { openStore, migrate, type Store } from '../runtime/clickhouse.ts';
import { join } from 'node:path';
import { runCli, type CandleQuery } from '../processors/ml/cli.ts';
import { loadFinalCandles } from '../processors/jobs/candle-history.ts';
import { createStrategy } from '../processors/signals/strategy-registry.ts';

const USAGE = `usage: tickflow <command>
  start [--offline]        run the pipeline (ingest, processors, api; TICKFLOW_ROLES picks a subset)
                           --offline: the seeded synthetic market instead of live exchanges
  services up|down|status|resolve
                           the local Kafka broker and schema registry (resolve: fetch jars only)
  sql "<query>"            read-only SQL against the running pipeline (POST /api/v1/sql; admin token)
  train ... | backtest ...  training and walk-forward / strategy backtests in this terminal, with a
                           progress bar (tickflow train --help); candles from ClickHouse, or --candles file.json.
                           With the embedded store, stop the pipeline first (chDB binds its data to one process).
  token --user ID [--role user|admin] [--days N]
                           mint an API bearer token signed with API_JWT_SECRET or $TICKFLOW_HOME/jwt-secret`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'start': {
      const config = loadConfig(process.env, { offline: rest.includes('--offline') });
      const log = createLogger(config.logLevel);
      const lifecycle = new Lifecycle(log);
      lifecycle.installSignalHandlers();
      const p = await startPipeline(config, log, {}, lifecycle);
      log.info({ roles: config.roles, source: config.market.source, api: p.apiUrl }, 'tickflow is running');
      return new Promise<number>(() => undefined); // runs until a signal
    }
    case 'services': {
      const config = loadConfig(process.env);
      const sub = rest[0] ?? 'status';
      if (sub === 'resolve') { resolveAll(); return 0; }
      if (sub === 'down') { await stopServices(config.home); console.log('stopped'); return 0; }
      if (sub === 'up') {
        const k = await ensureKafka({ home: config.home, port: config.kafka.localPort });
        const r = await ensureRegistry({ home: config.home, brokers: k.address, port: config.registry.localPort });
        console.log(JSON.stringify({ KAFKA_BROKERS: k.address, SCHEMA_REGISTRY_URL: r.address }));
        return 0;
      }
      if (sub === 'status') { console.log(JSON.stringify(await serviceStatus(config.home), null, 2)); return 0; }
      console.error(USAGE);
      return 2;
    }
    case 'sql': {
      const query = rest.join(' ').trim();
      if (!query) { console.error('usage: tickflow sql "SELECT ..."'); return 2; }
      const config = loadConfig(process.env);
      const base = process.env.TICKFLOW_API_URL ?? `http://${config.api.host}:${config.api.port}`;
      // Locally, mint a short-lived admin token from the home's secret when none is given.
      const token = process.env.TICKFLOW_TOKEN ?? signToken(loadJwtSecret(config.home, process.env.API_JWT_SECRET), { id: 'cli', role: 'admin' }, 300);
      const r = await fetch(`${base}/api/v1/sql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query }) }).catch((e: Error) => { throw new Error(`cannot reach the pipeline at ${base} (${e.message}); is it running?`); });
      const body = (await r.json()) as { rows?: unknown[]; error?: string };
      if (!r.ok) { console.error(body.error ?? r.statusText); return 1; }
      for (const row of body.rows ?? []) console.log(JSON.stringify(row));
      return 0;
    }
    case 'train':
    case 'backtest': {
      const config = loadConfig(process.env);
      let store: Store | null = null;
      const loadCandles = async (q: CandleQuery) => {
        if (!store) {
          store = await openStore(config.clickhouse);
          await migrate(store.client, createLogger('warn'));
        }
        return loadFinalCandles(store.client, q);
      };
      // Models and artifacts go where the job system keeps them, so the API lists them too.
      const dirs = [
        ...(rest.includes('--models-dir') ? [] : ['--models-dir', join(config.home, 'models')]),
        ...(rest.includes('--artifacts-dir') ? [] : ['--artifacts-dir', join(config.home, 'artifacts')]),
      ];
      try {
        return await runCli([cmd, ...rest, ...(rest.includes('--help') ? [] : dirs)], { loadCandles, resolveStrategy: (name, params) => createStrategy(name, params) });
      } finally {
        await (store as Store | null)?.close();
      }
    }
    case 'token': {
      const config = loadConfig(process.env);
      const arg = (name: string) => { const i = rest.indexOf(`--${name}`); return i >= 0 ? rest[i + 1] : undefined; };
      const id = arg('user');
      const role = arg('role') ?? 'user';
      const days = Number(arg('days') ?? 30);
      if (!id || (role !== 'user' && role !== 'admin') || !Number.isFinite(days) || days <= 0) { console.error('usage: tickflow token --user ID [--role user|admin] [--days N]'); return 2; }
      console.log(signToken(loadJwtSecret(config.home, process.env.API_JWT_SECRET), { id, role }, Math.round(days * 86400)));
      return 0;
    }
    default:
      console.error(USAGE);
      return cmd ? 2 : 0;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
  if (err instanceof ConfigError) console.error(err.message);
  else console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(err instanceof ConfigError ? 2 : 1);
});
