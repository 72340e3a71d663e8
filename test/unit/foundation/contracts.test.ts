import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import avro from 'avsc';
import { generateTypes } from '../../../schemas/codegen.ts';
import { TOPICS, DLQ_SCHEMA } from '../../../schemas/topics.ts';
import { loadMigrations, splitStatements } from '../../../runtime/clickhouse.ts';

const ENVELOPE = ['event_id', 'event_type', 'schema_version', 'event_time', 'ingest_time'];

describe('contracts', () => {
  it('generated types are up to date with the Avro files (run: npx tsx schemas/codegen.ts)', () => {
    expect(readFileSync('schemas/generated/events.ts', 'utf8')).toBe(generateTypes());
  });

  it('every topic has a parseable Avro schema carrying the event envelope', () => {
    const files = new Set(readdirSync('schemas/avro'));
    for (const spec of [...Object.values(TOPICS).map((t) => t.schema), DLQ_SCHEMA]) {
      expect(files.has(spec), spec).toBe(true);
      const schema = JSON.parse(readFileSync(`schemas/avro/${spec}`, 'utf8')) as { fields: Array<{ name: string }> };
      avro.Type.forSchema(schema as avro.Schema);
      expect(schema.fields.slice(0, 5).map((f) => f.name), spec).toEqual(ENVELOPE);
    }
  });

  it('topic names are versioned and every projected table is created by a migration', () => {
    const ddl = loadMigrations().flatMap((m) => m.statements).join('\n');
    for (const t of Object.values(TOPICS)) {
      expect(t.name).toMatch(/\.v\d+$/);
      if (t.table) expect(ddl, t.table).toMatch(new RegExp(`CREATE TABLE IF NOT EXISTS ${t.table}\\b`));
    }
  });

  it('every projected table has the columns of its Avro record (or maps them explicitly)', () => {
    const ddl = loadMigrations().flatMap((m) => m.statements);
    for (const [id, t] of Object.entries(TOPICS)) {
      if (!t.table || id === 'alertEvents') continue; // alerts flattens its definition record
      const stmt = ddl.find((s) => new RegExp(`CREATE TABLE IF NOT EXISTS ${t.table}\\b`).test(s))!;
      const schema = JSON.parse(readFileSync(`schemas/avro/${t.schema}`, 'utf8')) as { fields: Array<{ name: string }> };
      for (const f of schema.fields) {
        if (f.name === 'event_type' || (f.name === 'schema_version' && t.table !== 'ticks')) continue;
        expect(stmt, `${t.table}.${f.name}`).toMatch(new RegExp(`[\\n,(]\\s*${f.name}\\s`));
      }
    }
  });

  it('migrations are numbered in order and split into statements outside quotes', () => {
    const ms = loadMigrations();
    expect(ms.map((m) => m.version)).toEqual([...ms.map((m) => m.version)].sort((a, b) => a - b));
    expect(splitStatements("CREATE TABLE a (x String COMMENT 'a;b');\n-- c;\nSELECT 1;")).toEqual(["CREATE TABLE a (x String COMMENT 'a;b')", 'SELECT 1']);
  });
});

describe('package-lock', () => {
  it('locks every optional platform library of chdb, so npm ci accepts it (node infra/complete-lockfile.cjs)', () => {
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { optionalDependencies?: Record<string, string> }> };
    const wanted = Object.keys(lock.packages['node_modules/chdb']!.optionalDependencies ?? {});
    expect(wanted.length).toBeGreaterThan(0);
    for (const name of wanted) expect(lock.packages[`node_modules/${name}`], name).toBeDefined();
  });
});

import { serializeSends } from '../../../runtime/kafka.ts';
import type { Producer } from 'kafkajs';

describe('serializeSends', () => {
  it('never lets two sends of the shared producer overlap, and keeps their order', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const order: number[] = [];
    const fake = {
      send: async (r: { topic: string }) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((res) => setTimeout(res, 5));
        order.push(Number(r.topic));
        inFlight--;
        if (r.topic === '3') throw new Error('broker said no');
        return [];
      },
      sendBatch: async () => [],
    } as unknown as Producer;
    const p = serializeSends(fake);
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map((i) => p.send({ topic: String(i), messages: [] })));
    expect(maxInFlight).toBe(1);
    expect(order).toEqual([1, 2, 3, 4, 5]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  });
});
