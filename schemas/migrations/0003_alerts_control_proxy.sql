CREATE TABLE IF NOT EXISTS alerts
(
    alert_id String,
    user_id String COMMENT 'Owner; the API never shows an alert to another user',
    kind LowCardinality(String) COMMENT 'Last lifecycle event: CREATED, UPDATED or DELETED',
    deleted Bool MATERIALIZED kind = 'DELETED',
    alert_type LowCardinality(String),
    symbol LowCardinality(String),
    exchange Nullable(String),
    interval Nullable(String),
    params Map(String, String),
    cooldown_ms UInt64,
    repeat Bool,
    active Bool,
    note Nullable(String),
    event_id String,
    event_time DateTime64(3, 'UTC') COMMENT 'When this version of the definition was written',
    ingest_time DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(event_time)
ORDER BY (user_id, alert_id)
COMMENT 'Current alert definitions, projected from the compacted alerts.events.v1. Query with FINAL.';

CREATE TABLE IF NOT EXISTS alert_triggers
(
    event_id String,
    alert_id String,
    user_id String,
    alert_type LowCardinality(String),
    symbol LowCardinality(String),
    value Float64 COMMENT 'The value that fired the alert',
    threshold Nullable(Float64),
    message String,
    event_time DateTime64(3, 'UTC'),
    ingest_time DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (user_id, alert_id, event_time, event_id)
COMMENT 'Alert trigger history from alerts.triggers.v1. Query with FINAL.';

CREATE TABLE IF NOT EXISTS commands
(
    event_id String,
    target LowCardinality(String),
    command LowCardinality(String),
    params_json String,
    requested_by String,
    event_time DateTime64(3, 'UTC'),
    ingest_time DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (target, event_time, event_id)
COMMENT 'Operator and API commands from control.commands.v1 (the audit trail).';

CREATE TABLE IF NOT EXISTS control_events
(
    event_id String,
    source LowCardinality(String) COMMENT 'Emitter, e.g. ingest:binance',
    kind LowCardinality(String) COMMENT 'heartbeat, exchange.status, connection.down, connection.up, failover, job.progress, job.finished',
    command_id Nullable(String),
    payload_json String,
    event_time DateTime64(3, 'UTC'),
    ingest_time DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (source, kind, event_time, event_id)
COMMENT 'Heartbeats, connection changes (the holes in history), failovers and job progress from control.events.v1.';

CREATE TABLE IF NOT EXISTS proxy_snapshots
(
    event_id String,
    source LowCardinality(String),
    resource LowCardinality(String),
    params Map(String, String),
    item_count UInt32,
    payload_json String,
    event_time DateTime64(3, 'UTC'),
    ingest_time DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (source, resource, event_time, event_id)
COMMENT 'Third-party snapshots (Fear & Greed, CoinMarketCap, Whale Alert, NewsAPI, CoinGecko) from proxy.snapshots.v1.';
