// Alternative.me Crypto Fear & Greed Index, GET /fng/?limit=N (https://alternative.me/crypto/fear-and-greed-index/).
// Public, no key. The index changes once a day; alternative.me asks for at most 60 requests per
// minute (over a 10-minute window), so the 10-minute default is far inside it and still sees a new
// value within minutes of its publication.
import { Type, type Static } from '@sinclair/typebox';
import { resource, type ProxySource } from '../proxy-source.ts';

const Entry = Type.Object({
  value: Type.String({ pattern: '^(100|[0-9]{1,2})$' }),
  value_classification: Type.String({ minLength: 1 }),
  timestamp: Type.String({ pattern: '^[0-9]+$' }),
  time_until_update: Type.Optional(Type.String({ pattern: '^-?[0-9]+$' })),
});
export const FearGreedResponse = Type.Object({
  name: Type.String(),
  data: Type.Array(Entry, { minItems: 1 }),
  metadata: Type.Object({ error: Type.Union([Type.Null(), Type.String()]) }),
});
type FearGreedBody = Static<typeof FearGreedResponse>;

export const fearGreed: ProxySource = {
  name: 'fear_greed',
  envName: 'FEAR_GREED',
  defaultUrl: 'https://api.alternative.me',
  key: 'none',
  defaultIntervalMs: 600_000,
  rateLimitFloorMs: 1_000,
  settings: { LIMIT: { default: '7', pattern: /^([1-9][0-9]{0,2})$/, expect: 'a number of days between 1 and 999' } },
  errorMessage: (body) => {
    const e = (body as { metadata?: { error?: unknown } } | null)?.metadata?.error;
    return typeof e === 'string' ? e : null;
  },
  resources: [
    resource<FearGreedBody>({
      resource: 'index',
      schema: FearGreedResponse,
      request: ({ settings }) => ({ path: '/fng/', query: { limit: settings.LIMIT!, format: 'json' }, headers: {}, params: { limit: settings.LIMIT! } }),
      normalize: (body) => ({
        item_count: body.data.length,
        payload: {
          // Newest first, as the API sends it.
          items: body.data.map((d) => ({ value: Number(d.value), classification: d.value_classification, timestamp: Number(d.timestamp) * 1000 })),
          next_update_s: body.data[0]!.time_until_update === undefined ? null : Number(body.data[0]!.time_until_update),
        },
      }),
    }),
  ],
};
