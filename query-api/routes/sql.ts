// /api/v1/sql: read-only SQL into the running pipeline's store. With the embedded store (chDB
// binds its data directory to one process) this is how analysts reach the tables. Every query
// runs with readonly=1 and row, byte and time limits.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { HttpError } from '../context.ts';

export const sqlRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { readOnlyQuery } = app.deps;
  app.post('/sql', {
    schema: {
      tags: ['sql'],
      summary: 'Run a read-only SQL query against the pipeline\'s ClickHouse tables',
      body: Type.Object({
        query: Type.String({ minLength: 1, maxLength: 100_000 }),
        params: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), { description: 'Values for {name:Type} placeholders' })),
        max_rows: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ rows: Type.Array(Type.Record(Type.String(), Type.Unknown())), row_count: Type.Integer(), elapsed_ms: Type.Number() }) },
    },
  }, async (req) => {
    const started = performance.now();
    try {
      const rows = await readOnlyQuery(req.body.query, req.body.params ?? {}, req.body.max_rows ?? 10_000);
      return { rows, row_count: rows.length, elapsed_ms: Math.round((performance.now() - started) * 100) / 100 };
    } catch (err) {
      throw new HttpError(400, `query failed: ${(err as Error).message.split('\n')[0]}`);
    }
  });
};
