import { describe, expect, it } from 'vitest';
import { isJobCommand, JobParamsError, parseJobParams } from '../../../processors/jobs/job-contract.ts';

describe('job command params', () => {
  it('accepts a valid train.start and names the field of an invalid one', () => {
    const ok = parseJobParams('train.start', JSON.stringify({ job_id: 'train-1', symbol: 'BTC/USDT', epochs: 3 }));
    expect(ok).toMatchObject({ job_id: 'train-1', symbol: 'BTC/USDT', epochs: 3 });
    expect(() => parseJobParams('train.start', JSON.stringify({ job_id: 'train-1', symbol: 'BTC/USDT', epochs: 0 }))).toThrow(/params\/epochs/);
    expect(() => parseJobParams('train.start', JSON.stringify({ job_id: '../x', symbol: 'BTC/USDT' }))).toThrow(/params\/job_id/);
    expect(() => parseJobParams('train.start', JSON.stringify({ job_id: 'a', symbol: 'BTC/USDT', extra: 1 }))).toThrow(JobParamsError);
    expect(() => parseJobParams('train.stop', 'not json')).toThrow('params_json is not JSON');
  });

  it('checks strategy backtest and walk-forward params against their schemas', () => {
    expect(parseJobParams('strategy_backtest.run', JSON.stringify({ job_id: 's', strategy: 'ma_crossover', symbol: 'SOL/USDT', params: { fast: 2 } })).params).toEqual({ fast: 2 });
    expect(() => parseJobParams('backtest.run', JSON.stringify({ job_id: 'w', symbol: 'SOL/USDT', train_size: 5 }))).toThrow(/params\/train_size/);
    expect(() => parseJobParams('strategy_backtest.run', JSON.stringify({ job_id: 's', strategy: 'x', symbol: 'sol' }))).toThrow(/params\/symbol/);
  });

  it('knows which commands are job commands', () => {
    expect(['train.start', 'train.stop', 'backtest.run', 'strategy_backtest.run'].every(isJobCommand)).toBe(true);
    expect(isJobCommand('reconnect')).toBe(false);
  });
});
