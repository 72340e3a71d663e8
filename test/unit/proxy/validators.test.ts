// Each resource's schema accepts the documented sample answers (as the API documentation shows
// them, and as the fixture servers send them) and rejects other shapes; normalizers count items.
import { describe, it, expect } from 'vitest';
import { schemaViolation, type ProxyResource } from '../../../ingest/proxy/proxy-source.ts';
import { PROXY_SOURCES } from '../../../ingest/proxy/sources/index.ts';
import {
  cmcListingsBody, cmcQuotesBody, fearGreedBody, geckoMarketsBody, geckoPriceBody, newsBody, whaleTransactionsBody,
} from '../../../ingest/proxy/fixtures/sample-data.ts';

const res = (source: string, resource: string): ProxyResource => {
  const r = PROXY_SOURCES.find((s) => s.name === source)?.resources.find((x) => x.resource === resource);
  if (!r) throw new Error(`no ${source}/${resource}`);
  return r;
};
const now = Date.parse('2026-12-03T12:00:00Z');

// Samples as the providers' documentation shows them (shortened).
const documented: Record<string, unknown> = {
  'fear_greed/index': {
    name: 'Fear and Greed Index',
    data: [{ value: '40', value_classification: 'Fear', timestamp: '1551157200', time_until_update: '68499' }],
    metadata: { error: null },
  },
  'coinmarketcap/listings': {
    status: { timestamp: '2018-06-02T22:51:28.209Z', error_code: 0, error_message: '', elapsed: 10, credit_count: 1 },
    data: [{
      id: 1, name: 'Bitcoin', symbol: 'BTC', slug: 'bitcoin', cmc_rank: 5, num_market_pairs: 500, circulating_supply: 16950100, total_supply: 16950100,
      max_supply: 21000000, infinite_supply: false, last_updated: '2018-06-02T22:51:28.209Z', date_added: '2013-04-28T00:00:00.000Z', tags: ['mineable'], platform: null,
      quote: { USD: { price: 9283.92, volume_24h: 7155680000, volume_change_24h: -0.152774, percent_change_1h: -0.152774, percent_change_24h: 0.518894, percent_change_7d: 0.986573, market_cap: 852164659250.2758, market_cap_dominance: 51, fully_diluted_market_cap: 952835089431.14, last_updated: '2018-08-09T22:53:32.000Z' } },
    }],
  },
  'coinmarketcap/quotes': {
    status: { timestamp: '2024-06-02T22:51:28.209Z', error_code: 0, error_message: null, elapsed: 10, credit_count: 1, notice: null },
    data: { '1': { id: 1, name: 'Bitcoin', symbol: 'BTC', slug: 'bitcoin', cmc_rank: 1, circulating_supply: 17199862, total_supply: 17199862, max_supply: 21000000, last_updated: '2018-08-09T21:56:28.000Z',
      quote: { USD: { price: 6602.60701122, volume_24h: 4314444687.5194, percent_change_1h: 0.988615, percent_change_24h: 4.37185, percent_change_7d: -12.1352, market_cap: 113563929433.21645, last_updated: '2018-08-09T21:56:28.000Z' } } } },
  },
  'whale_alert/transactions': {
    result: 'success', cursor: '2bc7e46-2bc7e46-5c66c0a7', count: 1,
    transactions: [{ blockchain: 'ethereum', symbol: 'eth', id: '46172230', transaction_type: 'transfer', hash: '0015286d8642f0e0553b7fefa1c168787ae71173cbf82ec2f2a1b2e0ffee72b2',
      from: { address: 'd24400ae8bfebb18ca49be86258a3c749cf46853', owner: 'Gemini', owner_type: 'exchange' }, to: { address: '07ee55aa48bb72dcc6e9d78256648910de513eca', owner_type: 'unknown' },
      timestamp: 1550237797, amount: 1000, amount_usd: 121512.85, transaction_count: 1 }],
  },
  'newsapi/articles': {
    status: 'ok', totalResults: 1,
    articles: [{ source: { id: null, name: 'Gizmodo.com' }, author: 'Kyle Barr', title: 'Crypto is back', description: 'It is.', url: 'https://gizmodo.com/x',
      urlToImage: 'https://i.kinja-img.com/x.jpg', publishedAt: '2024-05-01T17:15:00Z', content: 'Crypto … [+2271 chars]' }],
  },
  'coingecko/markets': [{
    id: 'bitcoin', symbol: 'btc', name: 'Bitcoin', image: 'https://assets.coingecko.com/coins/images/1/large/bitcoin.png', current_price: 70187, market_cap: 1381651251183,
    market_cap_rank: 1, fully_diluted_valuation: 1474623675796, total_volume: 20154184933, high_24h: 70215, low_24h: 68060, price_change_24h: 2126.88,
    price_change_percentage_24h: 3.12502, market_cap_change_24h: 44287678051, market_cap_change_percentage_24h: 3.31157, circulating_supply: 19675987,
    total_supply: 21000000, max_supply: 21000000, ath: 73738, ath_change_percentage: -4.77063, ath_date: '2024-03-14T07:10:36.635Z', atl: 67.81,
    atl_change_percentage: 103455.83335, atl_date: '2013-07-06T00:00:00.000Z', roi: null, last_updated: '2024-04-07T16:49:31.736Z',
  }],
  'coingecko/price': { bitcoin: { usd: 67187.3358936566, usd_market_cap: 1317802988326.25, usd_24h_vol: 31260929299.5248, usd_24h_change: 3.63727894677354, last_updated_at: 1711356300 } },
};

const fromFixtures: Record<string, unknown> = {
  'fear_greed/index': fearGreedBody(7, now),
  'coinmarketcap/listings': cmcListingsBody(1, 10, 'USD', 1, now),
  'coinmarketcap/quotes': cmcQuotesBody([1, 1027, 5426], 'USD', 1, now).body,
  'whale_alert/transactions': whaleTransactionsBody(500_000, 1, now),
  'newsapi/articles': newsBody('crypto', 5, now),
  'coingecko/markets': geckoMarketsBody(10, 1, now),
  'coingecko/price': geckoPriceBody(['bitcoin', 'ethereum', 'solana'], 'usd', 1, now),
};

const expectedCounts: Record<string, [number, number]> = {
  'fear_greed/index': [1, 7], 'coinmarketcap/listings': [1, 10], 'coinmarketcap/quotes': [1, 3], 'whale_alert/transactions': [1, 3],
  'newsapi/articles': [1, 5], 'coingecko/markets': [1, 10], 'coingecko/price': [1, 3],
};

// Shapes each API never answers with on success: its own error envelope and near misses.
const bad: Record<string, unknown[]> = {
  'fear_greed/index': [{ name: 'Fear and Greed Index', data: [], metadata: { error: null } }, { name: 'x', data: [{ value: 40, value_classification: 'Fear', timestamp: '1' }], metadata: { error: null } }, { data: [{ value: 'high', value_classification: 'Fear', timestamp: '1' }] }],
  'coinmarketcap/listings': [{ status: { timestamp: 't', error_code: 1002, error_message: 'API key missing.', credit_count: 0 } }, { status: { timestamp: 't', error_code: 0, error_message: null, credit_count: 1 }, data: [{ id: '1', name: 'Bitcoin' }] }],
  'coinmarketcap/quotes': [{ status: { timestamp: 't', error_code: 0, error_message: null, credit_count: 1 }, data: [] }, { status: { timestamp: 't', error_code: 0, error_message: null, credit_count: 1 }, data: { BTC: [{ id: 1 }] } }],
  'whale_alert/transactions': [{ result: 'error', message: 'invalid api_key' }, { result: 'success', count: 1, transactions: [{ blockchain: 'bitcoin', amount_usd: '5' }] }],
  'newsapi/articles': [{ status: 'error', code: 'apiKeyMissing', message: 'Your API key is missing.' }, { status: 'ok', totalResults: 1, articles: [{ title: 'x' }] }],
  'coingecko/markets': [{ status: { error_code: 429, error_message: 'rate limit' } }, [{ id: 'bitcoin', current_price: '70187' }]],
  'coingecko/price': [{}, { bitcoin: { usd: '67187' } }, []],
};

describe('proxy response validators', () => {
  it('cover every (source, resource) the contract names', () => {
    const names = PROXY_SOURCES.flatMap((s) => s.resources.map((r) => `${s.name}/${r.resource}`));
    expect(names).toEqual(['fear_greed/index', 'coinmarketcap/listings', 'coinmarketcap/quotes', 'whale_alert/transactions', 'newsapi/articles', 'coingecko/markets', 'coingecko/price']);
  });

  for (const name of Object.keys(documented)) {
    const [source, resource] = name.split('/') as [string, string];
    it(`${name}: accepts the documented sample and the fixture answer, and normalizes them`, () => {
      const r = res(source, resource);
      const samples = [documented[name], fromFixtures[name]];
      samples.forEach((body, i) => {
        expect(schemaViolation(r.schema, body)).toBeNull();
        const out = r.normalize(body);
        expect(out.item_count).toBe(expectedCounts[name]![i]);
        const json = JSON.stringify(out.payload);
        expect(json.length).toBeLessThan(JSON.stringify(body).length + 200);
        expect(JSON.parse(json)).toEqual(out.payload);
      });
    });

    it(`${name}: rejects bad shapes with a reason`, () => {
      const r = res(source, resource);
      for (const body of [...bad[name]!, null, 'text', 42]) {
        expect(schemaViolation(r.schema, body)).toMatch(/\S/);
      }
    });
  }

  it('normalizes times to epoch ms and keeps only compact fields', () => {
    const fg = res('fear_greed', 'index').normalize(documented['fear_greed/index']).payload as { items: Array<{ value: number; timestamp: number }>; next_update_s: number };
    expect(fg).toEqual({ items: [{ value: 40, classification: 'Fear', timestamp: 1551157200000 }], next_update_s: 68499 });
    const news = res('newsapi', 'articles').normalize(documented['newsapi/articles']).payload as { items: Array<Record<string, unknown>> };
    expect(news.items[0]).toMatchObject({ source: 'Gizmodo.com', published_at: Date.parse('2024-05-01T17:15:00Z') });
    expect(news.items[0]).not.toHaveProperty('content');
    const price = res('coingecko', 'price').normalize(documented['coingecko/price']).payload as { items: Array<Record<string, unknown>> };
    expect(price.items[0]).toMatchObject({ id: 'bitcoin', usd: 67187.3358936566, last_updated_at: 1711356300000 });
    const q = res('coinmarketcap', 'quotes').normalize(documented['coinmarketcap/quotes']).payload as { items: Array<Record<string, unknown>> };
    expect(q.items[0]).toMatchObject({ id: 1, symbol: 'BTC', price: 6602.60701122, change_24h: 4.37185, rank: 1 });
    const w = res('whale_alert', 'transactions').normalize({ result: 'success', cursor: '0-0-0', count: 0 });
    expect(w).toEqual({ item_count: 0, payload: { cursor: '0-0-0', items: [] } });
  });
});
