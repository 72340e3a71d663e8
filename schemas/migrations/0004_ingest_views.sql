-- Analyst views over the ingest history kept in control_events (the projection of
-- control.events.v1): where the stored market data has holes, and how complete each series is.
CREATE VIEW IF NOT EXISTS connection_events
(
    exchange String, kind String, event_time DateTime64(3, 'UTC'), session Int64, reason String, downtime_ms Nullable(Int64)
)
COMMENT 'Every exchange disconnect and reconnect (the holes in stored history), from control_events.'
AS SELECT
    JSONExtractString(payload_json, 'exchange') AS exchange,
    kind,
    event_time,
    JSONExtractInt(payload_json, 'session') AS session,
    JSONExtractString(payload_json, 'reason') AS reason,
    if(kind = 'connection.up', JSONExtract(payload_json, 'downtimeMs', 'Nullable(Int64)'), NULL) AS downtime_ms
FROM control_events FINAL
WHERE kind IN ('connection.down', 'connection.up');

CREATE VIEW IF NOT EXISTS kline_completeness
(
    exchange String, symbol String, interval String, event_time DateTime64(3, 'UTC'),
    expected UInt64, present UInt64, ratio Float64, complete Bool, open_holes UInt64, closed_holes UInt64
)
COMMENT 'Completeness reports (expected vs present candles, known holes) per exchange, symbol and interval, latest last.'
AS SELECT
    JSONExtractString(payload_json, 'exchange') AS exchange,
    JSONExtractString(payload_json, 'symbol') AS symbol,
    JSONExtractString(payload_json, 'interval') AS interval,
    event_time,
    JSONExtractUInt(payload_json, 'expected') AS expected,
    JSONExtractUInt(payload_json, 'present') AS present,
    JSONExtractFloat(payload_json, 'ratio') AS ratio,
    JSONExtractBool(payload_json, 'complete') AS complete,
    arrayCount(h -> NOT JSONExtractBool(h, 'closed'), JSONExtractArrayRaw(payload_json, 'holes')) AS open_holes,
    arrayCount(h -> JSONExtractBool(h, 'closed'), JSONExtractArrayRaw(payload_json, 'holes')) AS closed_holes
FROM control_events FINAL
WHERE kind = 'completeness';
