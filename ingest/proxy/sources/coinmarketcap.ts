// CoinMarketCap Pro API (https://coinmarketcap.com/api/documentation/v1/): listings
// (GET /v1/cryptocurrency/listings/latest) and quotes (GET /v2/cryptocurrency/quotes/latest?id=...),
// key in the X-CMC_PRO_API_KEY header. The Basic plan allows 30 requests/minute and 10,000 credits a
// month; one poll costs 2 credits (listings: 1 per 200 coins, quotes: 1 per 100 ids), so the
// 10-minute default spends about 8,640 credits in 30 days, inside the monthly budget.
import { Type, type Static } from '@sinclair/typebox';
import { numOrNull, resource, type ProxySource } from '../proxy-source.ts';

const Num = Type.Number();
const NullableNum = Type.Union([Type.Number(), Type.Null()]);
const Quote = Type.Object({
  price: NullableNum,
  volume_24h: NullableNum,
  percent_change_1h: Type.Optional(NullableNum),
  percent_change_24h: NullableNum,
  percent_change_7d: Type.Optional(NullableNum),
  market_cap: NullableNum,
  last_updated: Type.String(),
});
const Coin = Type.Object({
  id: Num,
  name: Type.String(),
  symbol: Type.String(),
  slug: Type.String(),
  cmc_rank: Type.Optional(NullableNum),
  circulating_supply: Type.Optional(NullableNum),
  total_supply: Type.Optional(NullableNum),
  max_supply: Type.Optional(NullableNum),
  last_updated: Type.String(),
  quote: Type.Record(Type.String(), Quote, { minProperties: 1 }),
});
const Status = Type.Object({
  timestamp: Type.String(),
  error_code: Type.Literal(0),
  error_message: Type.Union([Type.Null(), Type.String()]),
  credit_count: Type.Number(),
});
export const CmcListingsResponse = Type.Object({ status: Status, data: Type.Array(Coin) });
// v2 quotes by id: an object keyed by CMC id. Ids are never 0, so an array of coins (keys 0..) cannot pass for it.
export const CmcQuotesResponse = Type.Object({ status: Status, data: Type.Record(Type.String({ pattern: '^[1-9][0-9]*$' }), Coin, { minProperties: 1, additionalProperties: false }) });

type CoinBody = Static<typeof Coin>;

function compactCoin(c: CoinBody, convert: string): Record<string, unknown> {
  const q = c.quote[convert] ?? Object.values(c.quote)[0]!;
  return {
    id: c.id, symbol: c.symbol, name: c.name, slug: c.slug, rank: numOrNull(c.cmc_rank),
    price: q.price, market_cap: q.market_cap, volume_24h: q.volume_24h,
    change_1h: numOrNull(q.percent_change_1h), change_24h: q.percent_change_24h, change_7d: numOrNull(q.percent_change_7d),
    circulating_supply: numOrNull(c.circulating_supply), max_supply: numOrNull(c.max_supply),
    last_updated: Date.parse(q.last_updated),
  };
}

const keyHeader = (apiKey: string | null): Record<string, string> => ({ 'X-CMC_PRO_API_KEY': apiKey ?? '', Accept: 'application/json' });

export const coinMarketCap: ProxySource = {
  name: 'coinmarketcap',
  envName: 'COINMARKETCAP',
  defaultUrl: 'https://pro-api.coinmarketcap.com',
  key: 'required',
  defaultIntervalMs: 600_000,
  rateLimitFloorMs: 540_000,
  settings: {
    LISTINGS_LIMIT: { default: '100', pattern: /^([1-9][0-9]{0,2}|[1-4][0-9]{3}|5000)$/, expect: 'an integer between 1 and 5000' },
    QUOTE_IDS: { default: '1,1027,5426', pattern: /^[0-9]+(,[0-9]+)*$/, expect: 'comma-separated CoinMarketCap ids, e.g. 1,1027' },
    CONVERT: { default: 'USD', pattern: /^[A-Z]{3,5}$/, expect: 'one currency symbol, e.g. USD' },
  },
  errorMessage: (body) => {
    const m = (body as { status?: { error_message?: unknown } } | null)?.status?.error_message;
    return typeof m === 'string' ? m : null;
  },
  resources: [
    resource<Static<typeof CmcListingsResponse>>({
      resource: 'listings',
      schema: CmcListingsResponse,
      request: ({ apiKey, settings }) => {
        const params = { start: '1', limit: settings.LISTINGS_LIMIT!, convert: settings.CONVERT! };
        return { path: '/v1/cryptocurrency/listings/latest', query: params, headers: keyHeader(apiKey), params };
      },
      normalize: (body) => ({ item_count: body.data.length, payload: { items: body.data.map((c) => compactCoin(c, Object.keys(c.quote)[0]!)) } }),
    }),
    resource<Static<typeof CmcQuotesResponse>>({
      resource: 'quotes',
      schema: CmcQuotesResponse,
      request: ({ apiKey, settings }) => {
        const params = { id: settings.QUOTE_IDS!, convert: settings.CONVERT! };
        return { path: '/v2/cryptocurrency/quotes/latest', query: params, headers: keyHeader(apiKey), params };
      },
      normalize: (body) => {
        const items = Object.values(body.data).map((c) => compactCoin(c, Object.keys(c.quote)[0]!));
        return { item_count: items.length, payload: { items } };
      },
    }),
  ],
};
