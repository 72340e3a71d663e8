// Whale Alert REST API v1 (https://docs.whale-alert.io): GET /v1/transactions?api_key=...&start=...
// &min_value=..., large on-chain transfers. The free plan allows 10 requests per minute, a
// min_value of at least 500,000 USD and a start at most one hour back; the one-minute default
// with a 10-minute look-back stays well inside all three.
import { Type, type Static } from '@sinclair/typebox';
import { resource, type ProxySource } from '../proxy-source.ts';

const Party = Type.Object({
  address: Type.String(),
  owner: Type.Optional(Type.String()),
  owner_type: Type.Optional(Type.String()),
});
const Transaction = Type.Object({
  blockchain: Type.String(),
  symbol: Type.String(),
  id: Type.Optional(Type.String()),
  transaction_type: Type.String(),
  hash: Type.String(),
  from: Party,
  to: Party,
  timestamp: Type.Integer(),
  amount: Type.Number(),
  amount_usd: Type.Number(),
  transaction_count: Type.Optional(Type.Integer()),
});
export const WhaleAlertResponse = Type.Object({
  result: Type.Literal('success'),
  cursor: Type.Optional(Type.String()),
  count: Type.Integer({ minimum: 0 }),
  // Absent when count is 0.
  transactions: Type.Optional(Type.Array(Transaction)),
});

const party = (p: Static<typeof Party>) => ({ address: p.address, owner: p.owner ?? null, owner_type: p.owner_type ?? null });

export const whaleAlert: ProxySource = {
  name: 'whale_alert',
  envName: 'WHALE_ALERT',
  defaultUrl: 'https://api.whale-alert.io',
  key: 'required',
  defaultIntervalMs: 60_000,
  rateLimitFloorMs: 6_000,
  settings: {
    MIN_VALUE: { default: '500000', pattern: /^[0-9]{1,12}$/, expect: 'a USD amount (the free plan needs at least 500000)' },
    LOOKBACK_S: { default: '600', pattern: /^([1-9][0-9]{0,4})$/, expect: 'seconds between 1 and 99999 (the free plan allows 3600)' },
  },
  errorMessage: (body) => {
    const m = (body as { message?: unknown } | null)?.message;
    return typeof m === 'string' ? m : null;
  },
  resources: [
    resource<Static<typeof WhaleAlertResponse>>({
      resource: 'transactions',
      schema: WhaleAlertResponse,
      request: ({ apiKey, settings, now }) => ({
        path: '/v1/transactions',
        query: { api_key: apiKey ?? '', min_value: settings.MIN_VALUE!, start: String(Math.floor(now / 1000) - Number(settings.LOOKBACK_S)), limit: '100' },
        headers: {},
        params: { min_value: settings.MIN_VALUE!, lookback_s: settings.LOOKBACK_S! },
      }),
      normalize: (body) => {
        const txs = body.transactions ?? [];
        return {
          item_count: txs.length,
          payload: {
            cursor: body.cursor ?? null,
            items: txs.map((t) => ({
              blockchain: t.blockchain, symbol: t.symbol, type: t.transaction_type, hash: t.hash,
              from: party(t.from), to: party(t.to), timestamp: t.timestamp * 1000, amount: t.amount, amount_usd: t.amount_usd,
            })),
          },
        };
      },
    }),
  ],
};
