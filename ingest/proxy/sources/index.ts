// The proxy source catalogue, in start order. A new source is a file beside this one plus one line here.
import type { ProxySource } from '../proxy-source.ts';
import { fearGreed } from './fear-greed.ts';
import { coinMarketCap } from './coinmarketcap.ts';
import { whaleAlert } from './whale-alert.ts';
import { newsApi } from './newsapi.ts';
import { coinGecko } from './coingecko.ts';

export const PROXY_SOURCES: readonly ProxySource[] = [fearGreed, coinMarketCap, whaleAlert, newsApi, coinGecko];
