// Bollinger Bands: in 'breakout' mode BUY on a close above the upper band and SELL below the lower
// band (momentum); in 'reversion' mode the opposite (fade the move back to the middle).
import { indicatorNames } from '../../indicators/indicator-set.ts';
import {
  StrategyIndicatorFeed, clampStrength, fmt, hold, numberParam, resolveStrategyParams, strategyInstance, stringParam,
  type StrategyDefinition, type StrategyParamSpec,
} from '../strategy.ts';

const params: readonly StrategyParamSpec[] = [
  { name: 'period', type: 'integer', default: 20, min: 2, max: 500, description: 'Bollinger period (candles).' },
  { name: 'std_dev', type: 'number', default: 2, min: 0.5, max: 5, description: 'Band width in standard deviations.' },
  { name: 'mode', type: 'enum', default: 'breakout', options: ['breakout', 'reversion'], description: 'breakout: trade with a close outside the bands; reversion: against it.' },
];

export const bollingerBreakout: StrategyDefinition = {
  name: 'bollinger_breakout',
  description: 'Bollinger Bands breakout: BUY on a close above the upper band, SELL on a close below the lower band (or the opposite in reversion mode).',
  params,
  create(input) {
    const p = resolveStrategyParams('bollinger_breakout', params, input);
    const config = { period: numberParam(p, 'period'), stdDev: numberParam(p, 'std_dev') };
    const reversion = stringParam(p, 'mode') === 'reversion';
    const names = indicatorNames.bollinger(config);
    const feed = new StrategyIndicatorFeed({ bollinger: config });

    return strategyInstance('bollinger_breakout', p, feed, (candle, values) => {
      const upper = values[names.upper];
      const middle = values[names.middle];
      const lower = values[names.lower];
      if (upper === undefined || middle === undefined || lower === undefined) return hold(`warming up: ${names.upper}/${names.lower} not ready`);
      const close = candle.close;
      const halfWidth = upper - middle;
      // Half a band-width past the band is full strength.
      const past = (d: number): number => clampStrength(0.5 + (halfWidth > 0 ? d / halfWidth : 1));
      if (close > upper) {
        const reason = `close ${fmt(close)} above ${names.upper} ${fmt(upper)}`;
        return { side: reversion ? 'SELL' : 'BUY', strength: past(close - upper), reasons: [reason] };
      }
      if (close < lower) {
        const reason = `close ${fmt(close)} below ${names.lower} ${fmt(lower)}`;
        return { side: reversion ? 'BUY' : 'SELL', strength: past(lower - close), reasons: [reason] };
      }
      return hold(`close ${fmt(close)} inside bands ${fmt(lower)}..${fmt(upper)}`);
    });
  },
};
