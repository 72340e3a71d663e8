// MACD crossover: BUY when the MACD line crosses above its signal line (histogram turns positive),
// SELL when it crosses below. With min_hist_pct > 0 the histogram must clear that share of the
// price before a cross counts.
import { indicatorNames } from '../../indicators/indicator-set.ts';
import {
  CrossDetector, StrategyIndicatorFeed, StrategyParamError, clampStrength, fmt, hold, numberParam, resolveStrategyParams,
  strategyInstance, type StrategyDefinition, type StrategyParamSpec,
} from '../strategy.ts';

const params: readonly StrategyParamSpec[] = [
  { name: 'fast', type: 'integer', default: 12, min: 2, max: 200, description: 'Fast EMA period.' },
  { name: 'slow', type: 'integer', default: 26, min: 3, max: 400, description: 'Slow EMA period; greater than fast.' },
  { name: 'signal', type: 'integer', default: 9, min: 2, max: 200, description: 'Signal line EMA period.' },
  { name: 'min_hist_pct', type: 'number', default: 0, min: 0, max: 10, description: 'Histogram (% of the close) needed to count as crossed; filters whipsaws. 0: any cross.' },
];

export const macdCrossover: StrategyDefinition = {
  name: 'macd_crossover',
  description: 'MACD crossover: BUY when the MACD line crosses above its signal line, SELL when it crosses below.',
  params,
  create(input) {
    const p = resolveStrategyParams('macd_crossover', params, input);
    const config = { fast: numberParam(p, 'fast'), slow: numberParam(p, 'slow'), signal: numberParam(p, 'signal') };
    if (config.fast >= config.slow) {
      throw new StrategyParamError(`macd_crossover: param "fast" (${config.fast}) must be less than "slow" (${config.slow})`);
    }
    const names = indicatorNames.macd(config);
    const feed = new StrategyIndicatorFeed({ macd: config });
    const minHistPct = numberParam(p, 'min_hist_pct');
    const cross = new CrossDetector();

    return strategyInstance('macd_crossover', p, feed, (candle, values) => {
      const macd = values[names.macd];
      const signal = values[names.signal];
      const hist = values[names.hist];
      if (macd === undefined || signal === undefined || hist === undefined) {
        return hold(`warming up: ${names.macd}/${names.signal} not ready`);
      }
      const histPct = (100 * hist) / Math.abs(candle.close);
      // A histogram of 0.5% of the price is full strength.
      const strength = clampStrength(0.5 + Math.abs(histPct));
      const zeroLine = macd > 0 ? 'above' : 'below';
      const seen = cross.observe(histPct, minHistPct);
      if (seen === 'first') return hold(`first ${names.hist}; need a previous one to see a cross`);
      if (seen === 'up') {
        return { side: 'BUY', strength, reasons: [`${names.macd} ${fmt(macd)} crossed above ${names.signal} ${fmt(signal)}`, `${names.macd} ${zeroLine} zero`] };
      }
      if (seen === 'down') {
        return { side: 'SELL', strength, reasons: [`${names.macd} ${fmt(macd)} crossed below ${names.signal} ${fmt(signal)}`, `${names.macd} ${zeroLine} zero`] };
      }
      return hold(`${names.hist} ${fmt(hist)}, no cross`);
    });
  },
};
