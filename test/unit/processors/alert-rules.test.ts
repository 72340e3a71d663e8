import { describe, it, expect } from 'vitest';
import { AlertRules, parseAlertDefinition } from '../../../processors/alerts/alert-rules.ts';
import { alertEvent, definition } from './alert-fixtures.ts';

const parse = (type: string, params: Record<string, string>, overrides = {}) =>
  parseAlertDefinition({ alert_id: 'a1', user_id: 'u1', event_time: 5, event_id: 'e1' }, definition(type, params, overrides));

describe('parseAlertDefinition', () => {
  it('parses every alert type from the string params', () => {
    const conditions = [
      parse('price_above', { threshold: '100000' }),
      parse('price_below', { threshold: '90000.5' }),
      parse('percent_change', { percent: '5', window_ms: '3600000' }),
      parse('percent_change', { percent: '2', window_ms: '60000', direction: 'down' }),
      parse('volume_spike', { multiplier: '3', lookback: '20' }),
      parse('indicator_threshold', { indicator: 'rsi_14', op: 'below', threshold: '30' }),
      parse('strategy_signal', { strategy: 'macd_crossover', side: 'buy' }),
      parse('prediction', { direction: 'up', min_confidence: '0.8', horizon: '4' }),
    ].map((r) => (r.ok ? r.rule.condition : r.reason));
    expect(conditions).toEqual([
      { type: 'price_above', threshold: 100000 },
      { type: 'price_below', threshold: 90000.5 },
      { type: 'percent_change', percent: 5, windowMs: 3600000, direction: 'either' },
      { type: 'percent_change', percent: 2, windowMs: 60000, direction: 'down' },
      { type: 'volume_spike', multiplier: 3, lookback: 20 },
      { type: 'indicator_threshold', indicator: 'rsi_14', op: 'below', threshold: 30 },
      { type: 'strategy_signal', strategy: 'macd_crossover', side: 'BUY' },
      { type: 'prediction', direction: 'UP', minConfidence: 0.8, horizon: 4 },
    ]);
    const rule = parse('price_above', { threshold: '1' }, { cooldown_ms: 60000, repeat: false, exchange: 'binance' });
    expect(rule).toMatchObject({ ok: true, rule: { alertId: 'a1', userId: 'u1', cooldownMs: 60000, repeat: false, exchange: 'binance', definedAt: 5, definitionEventId: 'e1' } });
  });

  it('reports bad params and definitions with a reason naming the field', () => {
    const reason = (r: ReturnType<typeof parse>): string => (r.ok ? 'ok' : r.reason);
    expect(reason(parse('price_above', {}))).toBe('price_above: param "threshold" is required');
    expect(reason(parse('price_above', { threshold: 'lots' }))).toBe('price_above: param "threshold" must be a number, got "lots"');
    expect(reason(parse('price_above', { threshold: '-3' }))).toBe('price_above: param "threshold" must be > 0, got -3');
    expect(reason(parse('price_above', { threshold: '1', treshold: '2' }))).toBe('price_above: unknown param "treshold"');
    expect(reason(parse('percent_change', { percent: '5', window_ms: '1.5' }))).toMatch(/"window_ms" must be >= 1000/);
    expect(reason(parse('percent_change', { percent: '5', window_ms: '1500.5' }))).toMatch(/"window_ms" must be an integer/);
    expect(reason(parse('percent_change', { percent: '5', window_ms: '60000', direction: 'sideways' }))).toMatch(/"direction" must be one of up, down, either/);
    expect(reason(parse('volume_spike', { multiplier: '0', lookback: '20' }))).toMatch(/"multiplier" must be > 0/);
    expect(reason(parse('indicator_threshold', { indicator: 'RSI 14', op: 'above', threshold: '1' }))).toMatch(/"indicator" must be an indicator name/);
    expect(reason(parse('indicator_threshold', { indicator: 'rsi_14', op: '>', threshold: '1' }))).toMatch(/"op" must be one of above, below/);
    expect(reason(parse('strategy_signal', { strategy: 'x', side: 'HOLD' }))).toMatch(/"side" must be one of BUY, SELL/);
    expect(reason(parse('prediction', { direction: 'UP', min_confidence: '1.5' }))).toMatch(/"min_confidence" must be <= 1/);
    expect(reason(parse('moon_phase', {}))).toMatch(/alert_type "moon_phase" is not one of price_above/);
    expect(reason(parse('price_above', { threshold: '1' }, { symbol: '' }))).toBe('symbol is empty');
    expect(reason(parse('price_above', { threshold: '1' }, { interval: '2m' }))).toMatch(/interval "2m"/);
    expect(reason(parse('price_above', { threshold: '1' }, { cooldown_ms: -1 }))).toMatch(/cooldown_ms/);
  });
});

describe('AlertRules projection', () => {
  it('creates, updates (upsert), deletes, indexes by symbol and reports rejected definitions', () => {
    const rules = new AlertRules();
    const created = alertEvent('a1', 'CREATED', definition('price_above', { threshold: '10' }));
    expect(rules.apply(created).status).toBe('created');
    expect(rules.apply(created).status).toBe('unchanged');
    expect(rules.apply(alertEvent('a2', 'UPDATED', definition('price_below', { threshold: '5' }, { symbol: 'ETH/USDT' }))).status).toBe('created');
    expect(rules.forSymbol('BTC/USDT').map((r) => r.alertId)).toEqual(['a1']);
    expect(rules.apply(alertEvent('a1', 'UPDATED', definition('price_above', { threshold: '20' }))).status).toBe('updated');
    expect(rules.get('a1')!.condition).toEqual({ type: 'price_above', threshold: 20 });

    const bad = rules.apply(alertEvent('a1', 'UPDATED', definition('price_above', { threshold: 'x' })));
    expect(bad).toEqual({ status: 'rejected', alertId: 'a1', reason: 'price_above: param "threshold" must be a number, got "x"' });
    expect(rules.get('a1')).toBeUndefined(); // the stale version does not keep firing
    expect(rules.invalid.get('a1')).toMatch(/threshold/);
    expect(rules.apply(alertEvent('a3', 'CREATED', null)).status).toBe('rejected');

    expect(rules.apply(alertEvent('a2', 'DELETED', null))).toEqual({ status: 'deleted', alertId: 'a2', existed: true });
    expect(rules.apply(alertEvent('a2', 'DELETED', null))).toEqual({ status: 'deleted', alertId: 'a2', existed: false });
    expect(rules.forSymbol('ETH/USDT')).toEqual([]);
    expect(rules.size).toBe(0);
  });
});
