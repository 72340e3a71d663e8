-- Market data projections. Every table is rebuilt by replaying its topic; ReplacingMergeTree on
-- the event id (last sort column) hides replayed duplicates from reads that use FINAL.
CREATE TABLE IF NOT EXISTS ticks
(
    event_id String COMMENT 'Deterministic id of the tick (market.ticks.v1 event_id); duplicates collapse on it',
    exchange LowCardinality(String) COMMENT 'ccxt exchange id, e.g. binance',
    symbol LowCardinality(String) COMMENT 'Unified symbol BASE/QUOTE, e.g. BTC/USDT',
    event_time DateTime64(3, 'UTC') COMMENT 'Exchange timestamp of the tick',
    ingest_time DateTime64(3, 'UTC') COMMENT 'When Tickflow produced the event',
    last Float64 COMMENT 'Last traded price',
    bid Nullable(Float64) COMMENT 'Best bid',
    ask Nullable(Float64) COMMENT 'Best ask',
    bid_size Nullable(Float64),
    ask_size Nullable(Float64),
    base_volume Nullable(Float64) COMMENT 'Rolling 24h base volume as the exchange reports it',
    quote_volume Nullable(Float64) COMMENT 'Rolling 24h quote volume as the exchange reports it',
    trade_volume Nullable(Float64) COMMENT 'Base volume traded since the previous tick, where known',
    source LowCardinality(String) COMMENT 'ccxt, synthetic or simulated',
    schema_version UInt16 COMMENT 'Avro schema version the producer wrote'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (symbol, exchange, event_time, event_id)
COMMENT 'Ticker updates from market.ticks.v1. Query with FINAL to hide replayed duplicates.';

CREATE TABLE IF NOT EXISTS latest_ticks
(
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    ingest_time DateTime64(3, 'UTC'),
    last Float64,
    bid Nullable(Float64),
    ask Nullable(Float64),
    base_volume Nullable(Float64),
    quote_volume Nullable(Float64)
)
ENGINE = ReplacingMergeTree(event_time)
ORDER BY (symbol, exchange)
COMMENT 'Latest tick per exchange and symbol, maintained by latest_ticks_mv from ticks. Query with FINAL.';

CREATE MATERIALIZED VIEW IF NOT EXISTS latest_ticks_mv TO latest_ticks AS
SELECT exchange, symbol, event_time, ingest_time, last, bid, ask, base_volume, quote_volume FROM ticks;

CREATE TABLE IF NOT EXISTS klines
(
    event_id String,
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    interval LowCardinality(String) COMMENT '1m, 5m, 15m, 1h, 4h, 1d',
    open_time DateTime64(3, 'UTC'),
    open Float64, high Float64, low Float64, close Float64, volume Float64,
    closed Bool COMMENT 'False while the exchange candle is still forming',
    backfill Bool COMMENT 'True when fetched from REST history to close a gap',
    event_time DateTime64(3, 'UTC'),
    ingest_time DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingest_time)
PARTITION BY toYYYYMM(open_time)
ORDER BY (exchange, symbol, interval, open_time)
COMMENT 'Exchange-provided OHLCV from market.klines.v1; the latest version of each candle wins.';
