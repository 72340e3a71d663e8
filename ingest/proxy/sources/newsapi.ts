// NewsAPI (https://newsapi.org/docs/endpoints/everything): GET /v2/everything?q=crypto, key in the
// X-Api-Key header. The Developer plan allows 100 requests a day, so the default is one request
// every 15 minutes (96 a day).
import { Type, type Static } from '@sinclair/typebox';
import { resource, type ProxySource } from '../proxy-source.ts';

const NullableString = Type.Union([Type.String(), Type.Null()]);
const Article = Type.Object({
  source: Type.Object({ id: NullableString, name: Type.String() }),
  author: NullableString,
  title: Type.String(),
  description: NullableString,
  url: Type.String(),
  urlToImage: Type.Optional(NullableString),
  publishedAt: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' }),
  content: Type.Optional(NullableString),
});
export const NewsApiResponse = Type.Object({
  status: Type.Literal('ok'),
  totalResults: Type.Integer({ minimum: 0 }),
  articles: Type.Array(Article),
});

export const newsApi: ProxySource = {
  name: 'newsapi',
  envName: 'NEWSAPI',
  defaultUrl: 'https://newsapi.org',
  key: 'required',
  defaultIntervalMs: 900_000,
  rateLimitFloorMs: 864_000,
  settings: {
    QUERY: { default: 'crypto', pattern: /^.{1,500}$/, expect: 'a search query of 1 to 500 characters' },
    LANGUAGE: { default: 'en', pattern: /^[a-z]{2}$/, expect: 'a two-letter language code' },
    PAGE_SIZE: { default: '20', pattern: /^([1-9]|[1-9][0-9]|100)$/, expect: 'an integer between 1 and 100' },
  },
  errorMessage: (body) => {
    const b = body as { code?: unknown; message?: unknown } | null;
    return typeof b?.message === 'string' ? (typeof b.code === 'string' ? `${b.code}: ${b.message}` : b.message) : null;
  },
  resources: [
    resource<Static<typeof NewsApiResponse>>({
      resource: 'articles',
      schema: NewsApiResponse,
      request: ({ apiKey, settings }) => {
        const params = { q: settings.QUERY!, language: settings.LANGUAGE!, sortBy: 'publishedAt', pageSize: settings.PAGE_SIZE! };
        return { path: '/v2/everything', query: params, headers: { 'X-Api-Key': apiKey ?? '' }, params };
      },
      normalize: (body) => ({
        item_count: body.articles.length,
        payload: {
          total_results: body.totalResults,
          items: body.articles.map((a) => ({
            source: a.source.name, author: a.author, title: a.title, description: a.description, url: a.url,
            image_url: a.urlToImage ?? null, published_at: Date.parse(a.publishedAt),
          })),
        },
      }),
    }),
  ],
};
