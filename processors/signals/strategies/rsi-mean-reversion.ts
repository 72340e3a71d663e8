// RSI mean reversion: BUY while RSI is below the oversold level, SELL while above overbought.
// Strength grows with the distance past the level.
import { indicatorNames } from '../../indicators/indicator-set.ts';
import {
  StrategyIndicatorFeed, StrategyParamError, clampStrength, fmt, hold, numberParam, resolveStrategyParams,
  strategyInstance, type StrategyDefinition, type StrategyParamSpec,
} from '../strategy.ts';

const params: readonly StrategyParamSpec[] = [
  { name: 'period', type: 'integer', default: 14, min: 2, max: 200, description: 'RSI period (candles).' },
  { name: 'oversold', type: 'number', default: 30, min: 1, max: 50, description: 'BUY below this RSI.' },
  { name: 'overbought', type: 'number', default: 70, min: 50, max: 99, description: 'SELL above this RSI; greater than oversold.' },
];

export const rsiMeanReversion: StrategyDefinition = {
  name: 'rsi_mean_reversion',
  description: 'RSI mean reversion: BUY when RSI is below the oversold level, SELL when above the overbought level.',
  params,
  create(input) {
    const p = resolveStrategyParams('rsi_mean_reversion', params, input);
    const period = numberParam(p, 'period');
    const oversold = numberParam(p, 'oversold');
    const overbought = numberParam(p, 'overbought');
    if (oversold >= overbought) {
      throw new StrategyParamError(`rsi_mean_reversion: param "oversold" (${oversold}) must be less than "overbought" (${overbought})`);
    }
    const name = indicatorNames.rsi(period);
    const feed = new StrategyIndicatorFeed({ rsi: [period] });

    return strategyInstance('rsi_mean_reversion', p, feed, (_candle, values) => {
      const rsi = values[name];
      if (rsi === undefined) return hold(`warming up: ${name} not ready`);
      if (rsi < oversold) {
        const strength = clampStrength(0.5 + (0.5 * (oversold - rsi)) / oversold);
        return { side: 'BUY', strength, reasons: [`${name} ${fmt(rsi)} below oversold ${fmt(oversold)}`] };
      }
      if (rsi > overbought) {
        const strength = clampStrength(0.5 + (0.5 * (rsi - overbought)) / (100 - overbought));
        return { side: 'SELL', strength, reasons: [`${name} ${fmt(rsi)} above overbought ${fmt(overbought)}`] };
      }
      return hold(`${name} ${fmt(rsi)} between ${fmt(oversold)} and ${fmt(overbought)}`);
    });
  },
};
