// Final all-exchange (`*`) candles of one symbol and interval from the candles table, in time
// order: the history training jobs, backtests and the predictions processor read.
import type { ClickHouseClient } from '@clickhouse/client';
import type { Candle } from '../../schemas/generated/events.ts';

export interface CandleHistoryQuery {
  symbol: string;
  interval: string;
  /** open_time >= from (ms). */
  from?: number;
  /** open_time < to (ms). */
  to?: number;
  /** The latest `limit` candles of the range (still returned oldest first). */
  limit?: number;
}

interface CandleRow {
  event_id: string; exchange: string; symbol: string; interval: string;
  open_ms: string | number; close_ms: string | number;
  open: number; high: number; low: number; close: number; volume: number;
  trades: string | number; is_final: boolean | number; revision: string | number;
  event_ms: string | number; ingest_ms: string | number;
}

export const MAX_HISTORY_CANDLES = 500_000;

export async function loadFinalCandles(client: ClickHouseClient, q: CandleHistoryQuery): Promise<Candle[]> {
  const rs = await client.query({
    // Epoch-ms columns get their own names: an alias named like a column would replace the
    // column in WHERE and ORDER BY.
    query: `SELECT * FROM (
              SELECT event_id, exchange, symbol, interval,
                     toUnixTimestamp64Milli(open_time) AS open_ms, toUnixTimestamp64Milli(close_time) AS close_ms,
                     open, high, low, close, volume, trades, is_final, revision,
                     toUnixTimestamp64Milli(event_time) AS event_ms, toUnixTimestamp64Milli(ingest_time) AS ingest_ms
              FROM candles FINAL
              WHERE symbol = {s:String} AND interval = {i:String} AND exchange = '*' AND is_final
                AND open_time >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')
                AND open_time < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
              ORDER BY open_time DESC
              LIMIT {limit:UInt32})
            ORDER BY open_ms`,
    query_params: {
      s: q.symbol,
      i: q.interval,
      from: q.from ?? 0,
      // 2299-12-31, the end of DateTime64(3)'s range.
      to: q.to ?? 10_413_705_600_000,
      limit: Math.min(q.limit ?? MAX_HISTORY_CANDLES, MAX_HISTORY_CANDLES),
    },
    format: 'JSONEachRow',
  });
  const rows = await rs.json<CandleRow>();
  return rows.map((r) => ({
    event_id: r.event_id,
    event_type: 'candle',
    schema_version: 1,
    event_time: Number(r.event_ms),
    ingest_time: Number(r.ingest_ms),
    exchange: r.exchange,
    symbol: r.symbol,
    interval: r.interval,
    open_time: Number(r.open_ms),
    close_time: Number(r.close_ms),
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    volume: r.volume,
    trades: Number(r.trades),
    is_final: Boolean(r.is_final),
    revision: Number(r.revision),
  }));
}
