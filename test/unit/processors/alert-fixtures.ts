// Builders for alert definition events and the market events alerts evaluate.
import type { AlertDefinition, AlertEvent, Prediction, Signal } from '../../../schemas/generated/events.ts';

let sequence = 0;

export function definition(alertType: string, params: Record<string, string>, overrides: Partial<AlertDefinition> = {}): AlertDefinition {
  return {
    alert_type: alertType, symbol: 'BTC/USDT', exchange: null, interval: null, params,
    cooldown_ms: 0, repeat: true, active: true, note: null, ...overrides,
  };
}

export function alertEvent(alertId: string, kind: AlertEvent['kind'], def: AlertDefinition | null, eventTime = 0, userId = 'user-1'): AlertEvent {
  return {
    event_id: `alert-event:${alertId}:${++sequence}`,
    event_type: 'alert_event',
    schema_version: 1,
    event_time: eventTime,
    ingest_time: eventTime,
    alert_id: alertId,
    user_id: userId,
    kind,
    definition: def,
  };
}

export function signal(time: number, strategy: string, side: Signal['side'], overrides: Partial<Signal> = {}): Signal {
  return {
    event_id: `signal:${strategy}:*:BTC/USDT:1h:${time}`,
    event_type: 'signal', schema_version: 1, event_time: time, ingest_time: time,
    exchange: '*', symbol: 'BTC/USDT', interval: '1h', open_time: time, strategy, side,
    strength: 0.7, price: 100, reasons: ['because'], ...overrides,
  };
}

export function prediction(time: number, direction: Prediction['direction'], confidence: number, overrides: Partial<Prediction> = {}): Prediction {
  return {
    event_id: `prediction:BTC/USDT:1h:${time}`,
    event_type: 'prediction', schema_version: 1, event_time: time, ingest_time: time,
    symbol: 'BTC/USDT', interval: '1h', horizon: 4, model_id: 'lstm-1', predicted_return: 0.01,
    direction, confidence, price: 100, backend: 'wasm', ...overrides,
  };
}
