// /api/v1/alerts: the authenticated user's alerts. Writes are AlertEvents (CREATED, UPDATED,
// DELETED; key = alert id) on alerts.events.v1; reads come from the `alerts` and
// `alert_triggers` projections, always filtered by the caller's user id, so another user's alert
// is simply not found (404). A write answers once the sink has projected its event (bounded wait,
// see projection.ts), so a read right after it sees the change; header x-tickflow-projected says
// whether that happened within the wait.
import { Literals } from '../schema-literals.ts';
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { HttpError } from '../context.ts';
import { requireUser } from '../auth.ts';
import { parseSymbol, SymbolCatalog } from '../symbols.ts';
import { waitForProjection } from '../projection.ts';
import { parseTime, TimeParam } from '../candle-source.ts';
import { ALERT_TYPES, parseAlertDefinition } from '../../processors/alerts/alert-rules.ts';
import { INTERVALS } from '../../schemas/topics.ts';
import type { AlertDefinition, AlertEvent } from '../../schemas/generated/events.ts';

export const ALERT_LIST_DEFAULT_LIMIT = 100;
export const ALERT_LIST_MAX_LIMIT = 1000;
export const ALERT_HISTORY_DEFAULT_LIMIT = 100;
export const ALERT_HISTORY_MAX_LIMIT = 1000;

/** The params each alert type takes (as parsed by processors/alerts/alert-rules.ts), with an example. */
export const ALERT_TYPE_DOCS: Record<(typeof ALERT_TYPES)[number], { description: string; params: Array<{ name: string; type: string; required: boolean; description: string }>; example: Record<string, string> }> = {
  price_above: { description: 'Last tick price crosses above threshold', params: [{ name: 'threshold', type: 'number > 0', required: true, description: 'Price level' }], example: { threshold: '100000' } },
  price_below: { description: 'Last tick price crosses below threshold', params: [{ name: 'threshold', type: 'number > 0', required: true, description: 'Price level' }], example: { threshold: '1000' } },
  percent_change: {
    description: 'Price moved by at least percent within window_ms',
    params: [
      { name: 'percent', type: 'number in (0, 1000]', required: true, description: 'Move size in percent' },
      { name: 'window_ms', type: 'integer in [1000, 604800000]', required: true, description: 'Look-back window' },
      { name: 'direction', type: 'up | down | either', required: false, description: 'Default either' },
    ],
    example: { percent: '2', window_ms: '60000', direction: 'either' },
  },
  volume_spike: {
    description: 'A final candle\'s volume is at least multiplier x the mean of the previous lookback candles',
    params: [
      { name: 'multiplier', type: 'number in (0, 1000000]', required: true, description: 'Spike factor' },
      { name: 'lookback', type: 'integer in [1, 1000]', required: true, description: 'Candles averaged' },
    ],
    example: { multiplier: '3', lookback: '20' },
  },
  indicator_threshold: {
    description: 'An indicator value crosses above or below threshold',
    params: [
      { name: 'indicator', type: 'indicator name (rsi_14, macd, bb_upper, ...)', required: true, description: 'See /market/indicators' },
      { name: 'op', type: 'above | below', required: true, description: 'Crossing direction' },
      { name: 'threshold', type: 'number', required: true, description: 'Level' },
    ],
    example: { indicator: 'rsi_14', op: 'above', threshold: '70' },
  },
  strategy_signal: {
    description: 'A strategy emits the given side',
    params: [
      { name: 'strategy', type: 'strategy name (see /signals/strategies)', required: true, description: 'Strategy' },
      { name: 'side', type: 'BUY | SELL', required: true, description: 'Side' },
    ],
    example: { strategy: 'rsi_mean_reversion', side: 'BUY' },
  },
  prediction: {
    description: 'A model prediction in the given direction with at least min_confidence',
    params: [
      { name: 'direction', type: 'UP | DOWN | FLAT', required: true, description: 'Predicted direction' },
      { name: 'min_confidence', type: 'number in [0, 1]', required: true, description: 'Confidence floor' },
      { name: 'horizon', type: 'integer in [1, 100000]', required: false, description: 'Only this horizon (candles ahead)' },
    ],
    example: { direction: 'UP', min_confidence: '0.7' },
  },
};

const AlertIdParams = Type.Object({ alert_id: Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$', description: 'Alert id' }) });
const ParamsInput = Type.Record(Type.String({ maxLength: 64 }), Type.Union([Type.String({ maxLength: 200 }), Type.Number(), Type.Boolean()]), { description: 'Type-specific params; see GET /alerts/types', maxProperties: 20 });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const AlertFields = {
  alert_type: Literals(ALERT_TYPES),
  symbol: Type.String({ maxLength: 50, description: 'Market, e.g. BTC/USDT or BTC-USDT' }),
  exchange: Type.Optional(Nullable(Type.String({ pattern: '^[a-z0-9_.-]{1,40}$', description: 'One exchange; null or absent: any' }))),
  interval: Type.Optional(Nullable(Literals(INTERVALS))),
  params: Type.Optional(ParamsInput),
  cooldown_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86_400_000, default: 0 })),
  repeat: Type.Optional(Type.Boolean({ default: false, description: 'False: fire once, then deactivate' })),
  active: Type.Optional(Type.Boolean({ default: true })),
  note: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
};
const CreateBody = Type.Object({ ...AlertFields, params: ParamsInput }, { additionalProperties: false });
const UpdateBody = Type.Partial(Type.Object(AlertFields), { additionalProperties: false, minProperties: 1 });

export const AlertSchema = Type.Object({
  alert_id: Type.String(),
  user_id: Type.String(),
  alert_type: Type.String(),
  symbol: Type.String(),
  exchange: Nullable(Type.String()),
  interval: Nullable(Type.String()),
  params: Type.Record(Type.String(), Type.String()),
  cooldown_ms: Type.Integer(),
  repeat: Type.Boolean(),
  active: Type.Boolean(),
  note: Nullable(Type.String()),
  updated_at: Type.String({ format: 'date-time' }),
  version: Type.String({ description: 'event_id of the AlertEvent that defined this version' }),
});
export type Alert = Static<typeof AlertSchema>;

const TriggerSchema = Type.Object({
  event_id: Type.String(), alert_id: Type.String(), alert_type: Type.String(), symbol: Type.String(),
  value: Type.Number(), threshold: Nullable(Type.Number()), message: Type.String(), triggered_at: Type.String({ format: 'date-time' }),
});

interface AlertRow { alert_id: string; user_id: string; kind: string; alert_type: string; symbol: string; exchange: string | null; interval: string | null; params: Record<string, string>; cooldown_ms: string; repeat: boolean; active: boolean; note: string | null; event_id: string; t: string }

const toAlert = (r: AlertRow): Alert => ({
  alert_id: r.alert_id, user_id: r.user_id, alert_type: r.alert_type, symbol: r.symbol, exchange: r.exchange, interval: r.interval,
  params: r.params, cooldown_ms: Number(r.cooldown_ms), repeat: Boolean(r.repeat), active: Boolean(r.active), note: r.note,
  updated_at: new Date(Number(r.t)).toISOString(), version: r.event_id,
});

const ALERT_COLUMNS = 'alert_id, user_id, kind, alert_type, symbol, exchange, interval, params, cooldown_ms, repeat, active, note, event_id, toUnixTimestamp64Milli(event_time) AS t';

export const alertsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { clickhouse, config, publisher } = app.deps;
  const symbols = new SymbolCatalog(clickhouse, config.market.symbols);
  app.addHook('preHandler', requireUser);

  async function load(userId: string, alertId: string, includeDeleted = false): Promise<AlertRow | null> {
    const rs = await clickhouse.query({
      query: `SELECT ${ALERT_COLUMNS} FROM alerts FINAL WHERE user_id = {user:String} AND alert_id = {id:String}`,
      query_params: { user: userId, id: alertId }, format: 'JSONEachRow',
    });
    const [row] = await rs.json<AlertRow>();
    if (!row || (!includeDeleted && row.kind === 'DELETED')) return null;
    return row;
  }

  async function mustLoad(userId: string, alertId: string, includeDeleted = false): Promise<AlertRow> {
    const row = await load(userId, alertId, includeDeleted);
    if (!row) throw new HttpError(404, `alert ${alertId} not found`);
    return row;
  }

  /** Validates like the trigger processor will, publishes, and waits for the projection. */
  async function write(userId: string, alertId: string, kind: AlertEvent['kind'], def: AlertDefinition, prevTime: number | null): Promise<{ event: AlertEvent; projected: boolean }> {
    if (!publisher) throw new HttpError(503, 'alert writes need Kafka, and this API instance runs without it');
    // The projection keeps the row with the latest event_time, so each version must be later.
    const now = Math.max(Date.now(), (prevTime ?? 0) + 1);
    const event: AlertEvent = { event_id: `alert:${alertId}:${kind}:${randomUUID()}`, event_type: `alert.${kind.toLowerCase()}`, schema_version: 1, event_time: now, ingest_time: now, alert_id: alertId, user_id: userId, kind, definition: def };
    if (kind !== 'DELETED') {
      const parsed = parseAlertDefinition(event, def);
      if (!parsed.ok) throw new HttpError(400, `body: ${parsed.reason}`);
    }
    const { rejected } = await publisher.publish('alertEvents', [{ key: alertId, value: event }]);
    if (rejected) throw new HttpError(400, 'body: the alert does not fit the alerts.events.v1 schema');
    return { event, projected: await waitForProjection(clickhouse, 'alerts', event.event_id) };
  }

  async function definitionFrom(body: Partial<Static<typeof CreateBody>>, base: AlertDefinition | null): Promise<AlertDefinition> {
    let symbol = base?.symbol ?? '';
    if (body.symbol !== undefined) {
      symbol = parseSymbol(body.symbol);
      await symbols.require(symbol);
    }
    const params = body.params !== undefined ? Object.fromEntries(Object.entries(body.params).map(([k, v]) => [k, String(v)])) : (base?.params ?? {});
    return {
      alert_type: body.alert_type ?? base?.alert_type ?? '',
      symbol,
      exchange: body.exchange !== undefined ? body.exchange : (base?.exchange ?? null),
      interval: body.interval !== undefined ? body.interval : (base?.interval ?? null),
      params,
      cooldown_ms: body.cooldown_ms ?? base?.cooldown_ms ?? 0,
      repeat: body.repeat ?? base?.repeat ?? false,
      active: body.active ?? base?.active ?? true,
      note: body.note !== undefined ? body.note : (base?.note ?? null),
    };
  }

  const rowDefinition = (r: AlertRow): AlertDefinition => ({ alert_type: r.alert_type, symbol: r.symbol, exchange: r.exchange, interval: r.interval, params: r.params, cooldown_ms: Number(r.cooldown_ms), repeat: Boolean(r.repeat), active: Boolean(r.active), note: r.note });
  const entity = (e: AlertEvent): Alert => ({ ...toAlert({ ...e.definition!, cooldown_ms: String(e.definition!.cooldown_ms), alert_id: e.alert_id, user_id: e.user_id, kind: e.kind, event_id: e.event_id, t: String(e.event_time) }) });

  app.post('/', {
    schema: {
      tags: ['alerts'], summary: 'Create an alert (an AlertEvent CREATED on alerts.events.v1)', security: [{ bearer: [] }],
      body: CreateBody,
      response: { 201: AlertSchema },
    },
  }, async (req, reply) => {
    const def = await definitionFrom(req.body, null);
    const { event, projected } = await write(req.user!.id, randomUUID(), 'CREATED', def, null);
    return reply.code(201).header('x-tickflow-projected', String(projected)).send(entity(event));
  });

  app.get('/', {
    schema: {
      tags: ['alerts'], summary: 'Your alerts', security: [{ bearer: [] }],
      querystring: Type.Object({
        symbol: Type.Optional(Type.String({ maxLength: 50 })),
        alert_type: Type.Optional(Literals(ALERT_TYPES)),
        active: Type.Optional(Type.Boolean()),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: ALERT_LIST_MAX_LIMIT, default: ALERT_LIST_DEFAULT_LIMIT, description: `Default ${ALERT_LIST_DEFAULT_LIMIT}, max ${ALERT_LIST_MAX_LIMIT}` })),
        offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ alerts: Type.Array(AlertSchema), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }) },
    },
  }, async (req) => {
    const q = req.query;
    const symbol = q.symbol ? parseSymbol(q.symbol) : '';
    const where = `user_id = {user:String} AND kind != 'DELETED'
      AND ({symbol:String} = '' OR symbol = {symbol:String})
      AND ({type:String} = '' OR alert_type = {type:String})
      AND ({active:Int8} = -1 OR active = ({active:Int8} = 1))`;
    const params = { user: req.user!.id, symbol, type: q.alert_type ?? '', active: q.active === undefined ? -1 : q.active ? 1 : 0, limit: q.limit ?? ALERT_LIST_DEFAULT_LIMIT, offset: q.offset ?? 0 };
    const rs = await clickhouse.query({ query: `SELECT ${ALERT_COLUMNS} FROM alerts FINAL WHERE ${where} ORDER BY event_time DESC, alert_id LIMIT {limit:UInt32} OFFSET {offset:UInt32}`, query_params: params, format: 'JSONEachRow' });
    const count = await clickhouse.query({ query: `SELECT count() AS n FROM alerts FINAL WHERE ${where}`, query_params: params, format: 'JSONEachRow' });
    return { alerts: (await rs.json<AlertRow>()).map(toAlert), total: Number((await count.json<{ n: string }>())[0]?.n ?? 0), limit: params.limit, offset: params.offset };
  });

  // Static paths before /:alert_id (find-my-way prefers static segments anyway).
  app.get('/summary', {
    schema: {
      tags: ['alerts'], summary: 'Summary of your alerts and their triggers', security: [{ bearer: [] }],
      response: {
        200: Type.Object({
          total: Type.Integer(), active: Type.Integer(), inactive: Type.Integer(),
          by_type: Type.Record(Type.String(), Type.Integer()), by_symbol: Type.Record(Type.String(), Type.Integer()),
          triggers: Type.Object({ total: Type.Integer(), last_24h: Type.Integer(), last_triggered_at: Nullable(Type.String({ format: 'date-time' })) }),
        }),
      },
    },
  }, async (req) => {
    const user = req.user!.id;
    const rs = await clickhouse.query({ query: `SELECT alert_type, symbol, active FROM alerts FINAL WHERE user_id = {user:String} AND kind != 'DELETED'`, query_params: { user }, format: 'JSONEachRow' });
    const rows = await rs.json<{ alert_type: string; symbol: string; active: boolean }>();
    const tr = await clickhouse.query({
      query: `SELECT count() AS total, countIf(event_time >= now64(3) - INTERVAL 1 DAY) AS day, toUnixTimestamp64Milli(max(event_time)) AS last
              FROM alert_triggers FINAL WHERE user_id = {user:String}`,
      query_params: { user }, format: 'JSONEachRow',
    });
    const [t] = await tr.json<{ total: string; day: string; last: string }>();
    const by = (k: 'alert_type' | 'symbol') => rows.reduce<Record<string, number>>((a, r) => { a[r[k]] = (a[r[k]] ?? 0) + 1; return a; }, {});
    const active = rows.filter((r) => Boolean(r.active)).length;
    const total = Number(t?.total ?? 0);
    return { total: rows.length, active, inactive: rows.length - active, by_type: by('alert_type'), by_symbol: by('symbol'), triggers: { total, last_24h: Number(t?.day ?? 0), last_triggered_at: total > 0 ? new Date(Number(t!.last)).toISOString() : null } };
  });

  app.get('/types', {
    schema: {
      tags: ['alerts'], summary: 'Alert types and the params each takes', security: [{ bearer: [] }],
      response: {
        200: Type.Object({
          types: Type.Array(Type.Object({
            type: Type.String(), description: Type.String(),
            params: Type.Array(Type.Object({ name: Type.String(), type: Type.String(), required: Type.Boolean(), description: Type.String() })),
            example: Type.Record(Type.String(), Type.String()),
          })),
          intervals: Type.Array(Type.String()),
        }),
      },
    },
  }, async () => ({ types: ALERT_TYPES.map((type) => ({ type, ...ALERT_TYPE_DOCS[type] })), intervals: [...INTERVALS] }));

  app.get('/:alert_id', {
    schema: { tags: ['alerts'], summary: 'One of your alerts', security: [{ bearer: [] }], params: AlertIdParams, response: { 200: AlertSchema } },
  }, async (req) => toAlert(await mustLoad(req.user!.id, req.params.alert_id)));

  app.put('/:alert_id', {
    schema: {
      tags: ['alerts'], summary: 'Update one of your alerts (fields not given keep their value; an AlertEvent UPDATED)', security: [{ bearer: [] }],
      params: AlertIdParams, body: UpdateBody, response: { 200: AlertSchema },
    },
  }, async (req, reply) => {
    const row = await mustLoad(req.user!.id, req.params.alert_id);
    // Given params replace the whole set; without them the old set is kept (and re-validated).
    const def = await definitionFrom(req.body, rowDefinition(row));
    const { event, projected } = await write(req.user!.id, row.alert_id, 'UPDATED', def, Number(row.t));
    return reply.header('x-tickflow-projected', String(projected)).send(entity(event));
  });

  app.delete('/:alert_id', {
    schema: {
      tags: ['alerts'], summary: 'Delete one of your alerts (an AlertEvent DELETED); its trigger history stays readable', security: [{ bearer: [] }],
      params: AlertIdParams, response: { 200: Type.Object({ alert_id: Type.String(), deleted: Type.Literal(true), deleted_at: Type.String({ format: 'date-time' }) }) },
    },
  }, async (req, reply) => {
    const row = await mustLoad(req.user!.id, req.params.alert_id);
    const { event, projected } = await write(req.user!.id, row.alert_id, 'DELETED', { ...rowDefinition(row), active: false }, Number(row.t));
    return reply.header('x-tickflow-projected', String(projected)).send({ alert_id: row.alert_id, deleted: true as const, deleted_at: new Date(event.event_time).toISOString() });
  });

  app.get('/:alert_id/history', {
    schema: {
      tags: ['alerts'], summary: 'Trigger history of one of your alerts (also after it was deleted), newest first', security: [{ bearer: [] }],
      params: AlertIdParams,
      querystring: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: ALERT_HISTORY_MAX_LIMIT, default: ALERT_HISTORY_DEFAULT_LIMIT, description: `Default ${ALERT_HISTORY_DEFAULT_LIMIT}, max ${ALERT_HISTORY_MAX_LIMIT}` })),
        start: Type.Optional(TimeParam('Earliest trigger time')),
        end: Type.Optional(TimeParam('Latest trigger time; default now')),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ alert_id: Type.String(), deleted: Type.Boolean(), triggers: Type.Array(TriggerSchema) }) },
    },
  }, async (req) => {
    const row = await mustLoad(req.user!.id, req.params.alert_id, true);
    const end = parseTime('end', req.query.end, Date.now());
    const start = parseTime('start', req.query.start, 0);
    const rs = await clickhouse.query({
      query: `SELECT event_id, alert_id, alert_type, symbol, value, threshold, message, toUnixTimestamp64Milli(event_time) AS t
              FROM alert_triggers FINAL
              WHERE user_id = {user:String} AND alert_id = {id:String}
                AND event_time >= fromUnixTimestamp64Milli({start:Int64}) AND event_time <= fromUnixTimestamp64Milli({end:Int64})
              ORDER BY event_time DESC LIMIT {limit:UInt32}`,
      query_params: { user: req.user!.id, id: row.alert_id, start, end, limit: req.query.limit ?? ALERT_HISTORY_DEFAULT_LIMIT },
      format: 'JSONEachRow',
    });
    const triggers = (await rs.json<{ event_id: string; alert_id: string; alert_type: string; symbol: string; value: number; threshold: number | null; message: string; t: string }>())
      .map(({ t, ...r }) => ({ ...r, triggered_at: new Date(Number(t)).toISOString() }));
    return { alert_id: row.alert_id, deleted: row.kind === 'DELETED', triggers };
  });
};
