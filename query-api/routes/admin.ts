// /api/v1/admin: operator commands for the processors (admin only). POST /admin/replay publishes
// a replay command; its progress and result arrive as control events (replay.started/finished).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { randomUUID } from 'node:crypto';
import { HttpError } from '../context.ts';
import { requireAdmin } from '../auth.ts';

export const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('preHandler', requireAdmin);
  app.post('/replay', {
    schema: {
      tags: ['admin'], summary: 'Rebuild every ClickHouse projection by replaying the topics from the earliest offsets', security: [{ bearer: [] }],
      response: { 202: Type.Object({ command_id: Type.String(), command: Type.Literal('replay'), target: Type.Literal('processors'), status: Type.Literal('accepted'), requested_by: Type.String() }) },
    },
  }, async (req, reply) => {
    const publisher = app.deps.publisher;
    if (!publisher) throw new HttpError(503, 'this API instance has no Kafka producer');
    const now = Date.now();
    const id = `cmd:${randomUUID()}`;
    await publisher.publish('commands', [{ key: 'processors', value: { event_id: id, event_type: 'command', schema_version: 1, event_time: now, ingest_time: now, target: 'processors', command: 'replay', params_json: '{}', requested_by: req.user!.id } }]);
    return reply.code(202).send({ command_id: id, command: 'replay', target: 'processors', status: 'accepted', requested_by: req.user!.id });
  });
};
