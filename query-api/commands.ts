// API writes that are commands: a Command on control.commands.v1 (key = target), answered with
// the command entity once the sink has projected it into `commands` (bounded wait). The effect
// arrives later as ControlEvents whose command_id is the command's id (the exchange ingestor
// answers with command.result), readable in control_events and on /exchanges/status.
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { HttpError, type ApiDeps } from './context.ts';
import { waitForProjection } from './projection.ts';
import type { Command } from '../schemas/generated/events.ts';

export const CommandEntitySchema = Type.Object({
  id: Type.String({ description: 'The command event_id; control events answering it carry it as command_id' }),
  target: Type.String(),
  command: Type.String(),
  params: Type.Record(Type.String(), Type.Unknown()),
  status: Type.Literal('accepted'),
  requested_by: Type.String(),
  requested_at: Type.String({ format: 'date-time' }),
  projected: Type.Boolean({ description: 'True once the command is in the commands table' }),
  effect: Type.String({ description: 'Where its effect is readable' }),
});
export type CommandEntity = Static<typeof CommandEntitySchema>;

export async function issueCommand(deps: Pick<ApiDeps, 'publisher' | 'clickhouse'>, target: string, command: string, params: Record<string, unknown>, requestedBy: string): Promise<CommandEntity> {
  if (!deps.publisher) throw new HttpError(503, 'commands need Kafka, and this API instance runs without it');
  const now = Date.now();
  const cmd: Command = { event_id: `cmd:${randomUUID()}`, event_type: 'command', schema_version: 1, event_time: now, ingest_time: now, target, command, params_json: JSON.stringify(params), requested_by: requestedBy };
  await deps.publisher.publish('commands', [{ key: target, value: cmd }]);
  const projected = await waitForProjection(deps.clickhouse, 'commands', cmd.event_id);
  return {
    id: cmd.event_id, target, command, params, status: 'accepted', requested_by: requestedBy, requested_at: new Date(now).toISOString(), projected,
    effect: `control_events with command_id = '${cmd.event_id}' (kind command.result), and GET /api/v1/exchanges/status`,
  };
}
