// Moving-average crossover: BUY when the fast average crosses above the slow one, SELL when it
// crosses below, HOLD otherwise (with the current trend as the reason). With min_gap_pct > 0 the
// fast average must clear the slow one by that margin before a cross counts.
import { indicatorNames } from '../../indicators/indicator-set.ts';
import {
  CrossDetector, StrategyIndicatorFeed, StrategyParamError, clampStrength, fmt, hold, numberParam, resolveStrategyParams,
  strategyInstance, stringParam, type StrategyDefinition, type StrategyParamSpec,
} from '../strategy.ts';

const params: readonly StrategyParamSpec[] = [
  { name: 'ma_type', type: 'enum', default: 'ema', options: ['ema', 'sma'], description: 'Moving average kind.' },
  { name: 'fast', type: 'integer', default: 12, min: 2, max: 500, description: 'Fast average period (candles).' },
  { name: 'slow', type: 'integer', default: 26, min: 3, max: 1000, description: 'Slow average period (candles); greater than fast.' },
  { name: 'min_gap_pct', type: 'number', default: 0, min: 0, max: 50, description: 'Gap between the averages (% of the slow one) needed to count as crossed; filters whipsaws. 0: any cross.' },
];

export const maCrossover: StrategyDefinition = {
  name: 'ma_crossover',
  description: 'Moving-average crossover: BUY when the fast average crosses above the slow one, SELL when it crosses below.',
  params,
  create(input) {
    const p = resolveStrategyParams('ma_crossover', params, input);
    const type = stringParam(p, 'ma_type') as 'ema' | 'sma';
    const fast = numberParam(p, 'fast');
    const slow = numberParam(p, 'slow');
    if (fast >= slow) throw new StrategyParamError(`ma_crossover: param "fast" (${fast}) must be less than "slow" (${slow})`);
    const fastName = indicatorNames[type](fast);
    const slowName = indicatorNames[type](slow);
    const feed = new StrategyIndicatorFeed(type === 'ema' ? { ema: [fast, slow] } : { sma: [fast, slow] });
    const minGapPct = numberParam(p, 'min_gap_pct');
    const cross = new CrossDetector();

    return strategyInstance('ma_crossover', p, feed, (_candle, values) => {
      const f = values[fastName];
      const s = values[slowName];
      if (f === undefined || s === undefined) return hold(`warming up: ${fastName} and ${slowName} not ready`);
      const diff = f - s;
      const gapPct = (100 * diff) / Math.abs(s);
      // A fresh cross has a small gap; a 1% gap between the averages is full strength.
      const strength = clampStrength(0.5 + Math.abs(gapPct) / 2);
      const seen = cross.observe(gapPct, minGapPct);
      if (seen === 'first') return hold(`first ${fastName}/${slowName} pair; need a previous one to see a cross`);
      if (seen === 'up') {
        return { side: 'BUY', strength, reasons: [`${fastName} ${fmt(f)} crossed above ${slowName} ${fmt(s)}`] };
      }
      if (seen === 'down') {
        return { side: 'SELL', strength, reasons: [`${fastName} ${fmt(f)} crossed below ${slowName} ${fmt(s)}`] };
      }
      const trend = diff > 0 ? 'above' : diff < 0 ? 'below' : 'equal to';
      return hold(`${fastName} ${fmt(f)} ${trend} ${slowName} ${fmt(s)}, no cross`);
    });
  },
};
