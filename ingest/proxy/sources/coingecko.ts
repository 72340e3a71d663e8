// CoinGecko API v3 (https://docs.coingecko.com/v3.0.1/reference/introduction): markets
// (GET /api/v3/coins/markets) and simple price (GET /api/v3/simple/price). Public without a key
// (a Demo key, when set, goes in x-cg-demo-api-key). The keyless tier allows about 5 to 15 calls
// a minute depending on load; one poll makes 2 calls, so the 2-minute default is 1 call a minute.
// With a Demo key the 10,000-calls-a-month cap asks for an interval of at least 9 minutes.
import { Type, type Static } from '@sinclair/typebox';
import { numOrNull, resource, type ProxySource } from '../proxy-source.ts';

const NullableNum = Type.Union([Type.Number(), Type.Null()]);
const Market = Type.Object({
  id: Type.String(),
  symbol: Type.String(),
  name: Type.String(),
  current_price: NullableNum,
  market_cap: NullableNum,
  market_cap_rank: NullableNum,
  total_volume: NullableNum,
  high_24h: Type.Optional(NullableNum),
  low_24h: Type.Optional(NullableNum),
  price_change_percentage_24h: NullableNum,
  circulating_supply: Type.Optional(NullableNum),
  last_updated: Type.Union([Type.String(), Type.Null()]),
});
export const CoinGeckoMarketsResponse = Type.Array(Market);
// { "bitcoin": { "usd": 67000.1, "usd_market_cap": ..., "usd_24h_vol": ..., "usd_24h_change": ..., "last_updated_at": 1711356300 } }
export const CoinGeckoPriceResponse = Type.Record(
  Type.String({ minLength: 1 }),
  Type.Record(Type.String(), NullableNum, { minProperties: 1 }),
  { minProperties: 1 },
);

const keyHeaders = (apiKey: string | null): Record<string, string> => (apiKey ? { 'x-cg-demo-api-key': apiKey, accept: 'application/json' } : { accept: 'application/json' });

export const coinGecko: ProxySource = {
  name: 'coingecko',
  envName: 'COINGECKO',
  defaultUrl: 'https://api.coingecko.com',
  key: 'optional',
  defaultIntervalMs: 120_000,
  rateLimitFloorMs: 24_000,
  settings: {
    IDS: { default: 'bitcoin,ethereum,solana', pattern: /^[a-z0-9-]+(,[a-z0-9-]+)*$/, expect: 'comma-separated CoinGecko coin ids, e.g. bitcoin,ethereum' },
    VS_CURRENCY: { default: 'usd', pattern: /^[a-z]{3,5}$/, expect: 'one lower-case currency, e.g. usd' },
    MARKETS_PER_PAGE: { default: '50', pattern: /^([1-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|250)$/, expect: 'an integer between 1 and 250' },
  },
  errorMessage: (body) => {
    const b = body as { status?: { error_message?: unknown }; error?: unknown } | null;
    if (typeof b?.status?.error_message === 'string') return b.status.error_message;
    return typeof b?.error === 'string' ? b.error : null;
  },
  resources: [
    resource<Static<typeof CoinGeckoMarketsResponse>>({
      resource: 'markets',
      schema: CoinGeckoMarketsResponse,
      request: ({ apiKey, settings }) => {
        const params = { vs_currency: settings.VS_CURRENCY!, order: 'market_cap_desc', per_page: settings.MARKETS_PER_PAGE!, page: '1' };
        return { path: '/api/v3/coins/markets', query: params, headers: keyHeaders(apiKey), params };
      },
      normalize: (body) => ({
        item_count: body.length,
        payload: {
          items: body.map((m) => ({
            id: m.id, symbol: m.symbol, name: m.name, rank: m.market_cap_rank, price: m.current_price, market_cap: m.market_cap,
            volume_24h: m.total_volume, high_24h: numOrNull(m.high_24h), low_24h: numOrNull(m.low_24h),
            change_24h: m.price_change_percentage_24h, circulating_supply: numOrNull(m.circulating_supply),
            last_updated: m.last_updated === null ? null : Date.parse(m.last_updated),
          })),
        },
      }),
    }),
    resource<Static<typeof CoinGeckoPriceResponse>>({
      resource: 'price',
      schema: CoinGeckoPriceResponse,
      request: ({ apiKey, settings }) => {
        const params = { ids: settings.IDS!, vs_currencies: settings.VS_CURRENCY! };
        return {
          path: '/api/v3/simple/price',
          query: { ...params, include_market_cap: 'true', include_24hr_vol: 'true', include_24hr_change: 'true', include_last_updated_at: 'true' },
          headers: keyHeaders(apiKey),
          params,
        };
      },
      normalize: (body) => {
        const items = Object.entries(body).map(([id, v]) => {
          const out: Record<string, number | null | string> = { id };
          for (const [k, x] of Object.entries(v)) out[k] = k === 'last_updated_at' && x !== null ? x * 1000 : x; // seconds -> ms, like every time in Tickflow
          return out;
        });
        return { item_count: items.length, payload: { items } };
      },
    }),
  ],
};
