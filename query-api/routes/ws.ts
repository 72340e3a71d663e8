// /api/v1/ws: subscribe/unsubscribe to channels; events are fanned out from Kafka.
// Client -> server: {"op":"subscribe","channel":"ticks","symbol":"BTC/USDT","interval":"1m"},
// {"op":"unsubscribe",...}, {"op":"ping"}. Server -> client: {"op":"subscribed","channel":...},
// {"op":"event","channel":...,"data":{...}}, {"op":"error","message":...}, {"op":"pong"}.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { CHANNEL_KINDS, type ChannelKind, type ClientState } from '../fanout.ts';
import { parseSymbol } from '../symbols.ts';
import { INTERVALS } from '../../schemas/topics.ts';

const MAX_CHANNELS_PER_CLIENT = 200;
const MAX_FRAME_BYTES = 4096;

export function parseClientMessage(raw: string, userId: string | null): { op: 'subscribe' | 'unsubscribe'; channel: string } | { op: 'ping' } | { error: string } {
  if (raw.length > MAX_FRAME_BYTES) return { error: `message over ${MAX_FRAME_BYTES} bytes` };
  let m: unknown;
  try { m = JSON.parse(raw); } catch { return { error: 'message is not JSON' }; }
  if (typeof m !== 'object' || m === null) return { error: 'message must be a JSON object' };
  const o = m as Record<string, unknown>;
  if (o.op === 'ping') return { op: 'ping' };
  if (o.op !== 'subscribe' && o.op !== 'unsubscribe') return { error: 'op must be subscribe, unsubscribe or ping' };
  const kind = o.channel;
  if (typeof kind !== 'string' || !(CHANNEL_KINDS as readonly string[]).includes(kind)) return { error: `channel must be one of ${CHANNEL_KINDS.join(', ')}` };
  if (kind === 'alerts') {
    if (!userId) return { error: 'the alerts channel needs an authenticated user' };
    return { op: o.op, channel: `alerts:${userId}` };
  }
  if (typeof o.symbol !== 'string') return { error: 'symbol is required' };
  let symbol: string;
  try { symbol = parseSymbol(o.symbol); } catch (e) { return { error: (e as Error).message }; }
  let interval = '';
  if ((kind as ChannelKind) === 'candles' || kind === 'indicators' || kind === 'signals') {
    const iv = o.interval ?? '1m';
    if (typeof iv !== 'string' || !(INTERVALS as readonly string[]).includes(iv)) return { error: `interval must be one of ${INTERVALS.join(', ')}` };
    interval = `:${iv}`;
  }
  return { op: o.op, channel: `${kind}:${symbol}${interval}` };
}

export const wsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const fanout = app.deps.fanout;

  app.get('/ws', { websocket: true, schema: { tags: ['ws'], summary: 'WebSocket for real-time ticks, candles, indicators, signals, predictions and your alert triggers', hide: false } }, (socket, req) => {
    if (!fanout) { socket.close(1011, 'fan-out is not running on this instance'); return; }
    const userId = req.user?.id ?? null;
    const client: ClientState = { socket, channels: new Set(), userId, sent: 0, connectedAt: Date.now() };
    fanout.add(client);
    let alive = true;
    socket.on('pong', () => { alive = true; });
    const heartbeat = setInterval(() => {
      if (!alive) { socket.terminate(); return; }
      alive = false;
      socket.ping();
    }, 30_000);
    socket.on('message', (data: Buffer) => {
      const msg = parseClientMessage(data.toString(), userId);
      if ('error' in msg) { socket.send(JSON.stringify({ op: 'error', message: msg.error })); return; }
      if (msg.op === 'ping') { socket.send(JSON.stringify({ op: 'pong', time: Date.now() })); return; }
      if (msg.op === 'subscribe') {
        if (client.channels.size >= MAX_CHANNELS_PER_CLIENT) { socket.send(JSON.stringify({ op: 'error', message: `at most ${MAX_CHANNELS_PER_CLIENT} channels per connection` })); return; }
        fanout.subscribe(client, msg.channel);
        socket.send(JSON.stringify({ op: 'subscribed', channel: msg.channel }));
      } else {
        fanout.unsubscribe(client, msg.channel);
        socket.send(JSON.stringify({ op: 'unsubscribed', channel: msg.channel }));
      }
    });
    socket.on('close', () => { clearInterval(heartbeat); fanout.remove(client); });
    socket.on('error', () => { clearInterval(heartbeat); fanout.remove(client); });
  });

  app.get('/ws/info', {
    schema: {
      tags: ['ws'],
      summary: 'WebSocket connection information: clients, channels, delivery rate',
      response: {
        200: Type.Object({
          path: Type.String(),
          clients: Type.Integer(),
          channels: Type.Array(Type.Object({ name: Type.String(), subscribers: Type.Integer() })),
          channel_kinds: Type.Array(Type.String()),
          delivered_total: Type.Integer(),
          delivered_per_second: Type.Number(),
          max_buffered_bytes: Type.Integer(),
        }),
      },
    },
  }, async () => {
    const info = fanout?.info() ?? { clients: 0, channels: [], delivered_total: 0, delivered_per_second: 0, max_buffered_bytes: 0 };
    return { path: '/api/v1/ws', channel_kinds: [...CHANNEL_KINDS], ...info };
  });
};
