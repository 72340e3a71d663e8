// The one ClickHouse client: chDB in-process by default (it binds one data directory per
// process), a ClickHouse server over HTTP when CLICKHOUSE_URL is set. Same client, same SQL.
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

export interface Store {
  client: ClickHouseClient;
  mode: 'embedded' | 'server';
  /** Analyst SQL: refuses writes and DDL, with row and time limits. */
  readOnlyQuery(query: string, params: Record<string, unknown>, maxRows: number): Promise<Array<Record<string, unknown>>>;
  close(): Promise<void>;
}

// readonly=2: reads and setting changes only; the readonly level itself cannot be lowered.
const READ_ONLY_SETTINGS = { readonly: '2', max_execution_time: 30, max_result_bytes: String(256 * 1024 * 1024), result_overflow_mode: 'throw' } as const;

export async function openStore(cfg: Config['clickhouse']): Promise<Store> {
  if (cfg.url) {
    const client = createClient({ url: cfg.url, username: cfg.user, password: cfg.password, database: cfg.database });
    return {
      client,
      mode: 'server',
      readOnlyQuery: async (query, params, maxRows) =>
        (await client.query({ query, query_params: params, format: 'JSONEachRow', clickhouse_settings: { ...READ_ONLY_SETTINGS, max_result_rows: String(maxRows) } })).json(),
      close: () => client.close(),
    };
  }
  mkdirSync(cfg.embeddedPath, { recursive: true });
  const { createChdbConnection } = await import('chdb/connection');
  const open = () => createClient({ connection: createChdbConnection({ path: cfg.embeddedPath }) } as Parameters<typeof createClient>[0]);
  const client = open();
  // chDB applies clickhouse_settings as SET on its session, and a SET persists for every later
  // query of that session; analyst SQL therefore gets a session of its own, read-only for good.
  const reader = open();
  for (const [k, v] of Object.entries(READ_ONLY_SETTINGS).filter(([k]) => k !== 'readonly')) await reader.command({ query: `SET ${k} = ${typeof v === 'number' ? v : `'${v}'`}` });
  await reader.command({ query: 'SET readonly = 2' });
  let readerQueue: Promise<unknown> = Promise.resolve();
  return {
    client,
    mode: 'embedded',
    readOnlyQuery(query, params, maxRows) {
      // max_result_rows is set per query on the reader's own session, so queries queue there.
      const run = readerQueue.then(async () => {
        await reader.command({ query: `SET max_result_rows = ${Math.floor(maxRows)}` });
        return (await reader.query({ query, query_params: params, format: 'JSONEachRow' })).json<Record<string, unknown>>();
      });
      readerQueue = run.catch(() => undefined);
      return run;
    },
    close: async () => { await reader.close(); await client.close(); },
  };
}

const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'schemas', 'migrations');

export interface Migration { version: number; name: string; statements: string[]; checksum: string }

export function loadMigrations(dir = migrationsDir): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_.+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const sql = readFileSync(join(dir, file), 'utf8');
      return {
        version: Number(file.slice(0, 4)),
        name: file,
        checksum: createHash('sha256').update(sql).digest('hex').slice(0, 16),
        statements: splitStatements(sql),
      };
    });
}

/** Split on `;` at line ends outside quotes; strip `--` comment lines. */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!;
    if (quote) {
      cur += ch;
      if (ch === '\\') { cur += sql[++i] ?? ''; continue; }
      if (ch === quote) quote = null;
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`') { quote = ch; cur += ch; continue; }
    if (ch === '-' && sql[i + 1] === '-') { while (i < sql.length && sql[i] !== '\n') i++; cur += '\n'; continue; }
    if (ch === ';') { if (cur.trim()) out.push(cur.trim()); cur = ''; continue; }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** Apply pending migrations in order and record each in schema_migrations. */
export async function migrate(client: ClickHouseClient, log: Logger, migrations = loadMigrations()): Promise<number[]> {
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS schema_migrations (
      version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = ReplacingMergeTree ORDER BY version COMMENT 'Migrations applied from schemas/migrations'`,
  });
  const rs = await client.query({ query: 'SELECT version, checksum, name FROM schema_migrations FINAL', format: 'JSONEachRow' });
  const applied = new Map((await rs.json<{ version: number; checksum: string; name: string }>()).map((r) => [Number(r.version), r]));
  const done: number[] = [];
  for (const m of migrations) {
    const prev = applied.get(m.version);
    if (prev) {
      if (prev.checksum !== m.checksum) log.warn({ migration: m.name, applied: prev.checksum, now: m.checksum }, 'applied migration was edited since; add a new migration instead');
      continue;
    }
    // Statements are idempotent (IF NOT EXISTS), so a crash half-way is repaired by rerunning.
    for (const q of m.statements) await client.command({ query: q });
    await client.insert({ table: 'schema_migrations', values: [{ version: m.version, name: m.name, checksum: m.checksum }], format: 'JSONEachRow' });
    log.info({ migration: m.name }, 'applied migration');
    done.push(m.version);
  }
  return done;
}
