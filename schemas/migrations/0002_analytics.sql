-- Analytics projections written by the stream processors.
CREATE TABLE IF NOT EXISTS candles
(
    event_id String,
    exchange LowCardinality(String) COMMENT 'Exchange, or * for the candle over all exchanges',
    symbol LowCardinality(String),
    interval LowCardinality(String) COMMENT '1m, 5m, 15m, 1h, 4h, 1d',
    open_time DateTime64(3, 'UTC'),
    close_time DateTime64(3, 'UTC'),
    open Float64, high Float64, low Float64, close Float64,
    volume Float64,
    trades UInt64 COMMENT 'Ticks aggregated',
    is_final Bool COMMENT 'True once the interval closed',
    revision UInt32 COMMENT 'Bumped when a late tick amends a final candle',
    version UInt64 MATERIALIZED revision * 2 + is_final COMMENT 'Replacing version: later revision, and final over in-progress',
    event_time DateTime64(3, 'UTC'),
    ingest_time DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(open_time)
ORDER BY (symbol, interval, exchange, open_time)
COMMENT 'Candles aggregated from ticks by the candle processor (the one source of candles). Query with FINAL.';

CREATE TABLE IF NOT EXISTS indicators
(
    event_id String,
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    interval LowCardinality(String),
    open_time DateTime64(3, 'UTC') COMMENT 'Open time of the candle the values were computed at',
    close Float64,
    values Map(LowCardinality(String), Float64) COMMENT 'Indicator name (rsi_14, macd, bb_upper, ...) to value',
    event_time DateTime64(3, 'UTC'),
    ingest_time DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(open_time)
ORDER BY (symbol, interval, exchange, open_time)
COMMENT 'Indicator values at candle close from analytics.indicators.v1. Query with FINAL.';

CREATE TABLE IF NOT EXISTS signals
(
    event_id String,
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    interval LowCardinality(String),
    open_time DateTime64(3, 'UTC'),
    strategy LowCardinality(String),
    side LowCardinality(String) COMMENT 'BUY, SELL or HOLD',
    strength Float64 COMMENT '0..1',
    price Float64,
    reasons Array(String),
    event_time DateTime64(3, 'UTC'),
    ingest_time DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(open_time)
ORDER BY (symbol, interval, strategy, exchange, open_time)
COMMENT 'Strategy signals from analytics.signals.v1. Query with FINAL.';

CREATE TABLE IF NOT EXISTS predictions
(
    event_id String,
    symbol LowCardinality(String),
    interval LowCardinality(String),
    horizon UInt32 COMMENT 'Candles ahead',
    model_id String,
    predicted_return Float64 COMMENT 'Predicted log return over the horizon',
    direction LowCardinality(String) COMMENT 'UP, DOWN or FLAT',
    confidence Float64,
    price Float64,
    backend LowCardinality(String) COMMENT 'tfjs backend the model ran on',
    event_time DateTime64(3, 'UTC'),
    ingest_time DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (symbol, horizon, event_time, event_id)
COMMENT 'Model predictions from analytics.predictions.v1. Query with FINAL.';
