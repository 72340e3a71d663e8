import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgressBar, runCli, type CandleQuery, type CliOutput } from '../../../processors/ml/cli.ts';
import { listArtifacts } from '../../../processors/backtest/artifacts.ts';
import { ModelRegistry } from '../../../processors/ml/model-registry.ts';
import { syntheticCandles } from './synthetic-candles.ts';

class Capture implements CliOutput {
  text = '';
  constructor(readonly isTTY = false, readonly columns = 120) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

describe('ML CLI', () => {
  let root: string;
  let file: string;
  const candles = syntheticCandles({ count: 420, seed: 4 });

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tickflow-cli-'));
    file = path.join(root, 'candles.json');
    // Minimal rows (only open_time and OHLCV), as an analyst might export them.
    await writeFile(file, JSON.stringify(candles.map(({ open_time, open, high, low, close, volume }) => ({ open_time, open, high, low, close, volume }))));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('train --candles prints progress lines when stdout is not a terminal', async () => {
    const out = new Capture(false);
    const err = new Capture(false);
    const code = await runCli(
      ['train', '--symbol', 'BTC/USDT', '--interval', '1m', '--candles', file, '--epochs', '3', '--lookback', '4', '--hidden-units', '8', '--in-process', '--job-id', 'cli-train', '--models-dir', path.join(root, 'models'), '--artifacts-dir', path.join(root, 'artifacts')],
      { stdout: out, stderr: err },
    );
    expect(err.text).toBe('');
    expect(code).toBe(0);
    expect(out.text).not.toContain('\r');
    const lines = out.text.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('progress ')).map((l) => l.split(' ')[1])).toEqual(['0%', '33%', '67%', '100%']);
    expect(out.text).toMatch(/^completed .* epochs 3\/3/m);
    const models = await new ModelRegistry(path.join(root, 'models')).list();
    expect(models).toHaveLength(1);
    expect((await readdir(path.join(root, 'artifacts', 'cli-train'))).sort()).toContain('equity.png');
  });

  it('draws a \\r progress bar on a terminal and uses an injected candle loader', async () => {
    const out = new Capture(true);
    const queries: CandleQuery[] = [];
    const code = await runCli(
      ['train', '--symbol', 'BTC/USDT', '--interval', '1m', '--from', '2024-01-01T00:00:00Z', '--epochs', '2', '--lookback', '4', '--hidden-units', '8', '--in-process', '--json', '--models-dir', path.join(root, 'models2'), '--artifacts-dir', path.join(root, 'artifacts')],
      {
        stdout: out,
        stderr: new Capture(),
        loadCandles: async (q) => {
          queries.push(q);
          return candles;
        },
      },
    );
    expect(code).toBe(0);
    expect(queries).toEqual([{ symbol: 'BTC/USDT', interval: '1m', from: Date.UTC(2024, 0, 1), to: undefined }]);
    expect(out.text).toContain('\r\x1b[2K[');
    expect(out.text).toMatch(/\r\x1b\[2K\[#{28}\] 100% epoch 2\/2/);
    const json = JSON.parse(out.text.slice(out.text.lastIndexOf('\n{') + 1));
    expect(json).toMatchObject({ status: 'completed', epochs_run: 2 });
  });

  it('backtest runs a walk-forward and saves its artifacts', async () => {
    const out = new Capture(false);
    const code = await runCli(
      ['backtest', '--symbol', 'BTC/USDT', '--interval', '1m', '--candles', file, '--train-size', '250', '--test-size', '80', '--epochs', '2', '--lookback', '4', '--run-id', 'cli-wf', '--artifacts-dir', path.join(root, 'artifacts')],
      { stdout: out, stderr: new Capture() },
    );
    expect(code).toBe(0);
    expect(out.text).toMatch(/^2 windows: directional accuracy/m);
    const files = (await listArtifacts(path.join(root, 'artifacts'))).filter((a) => a.run_id === 'cli-wf').map((a) => a.name);
    expect(files.sort()).toEqual(['equity.csv', 'equity.png', 'metrics.json', 'predictions.csv']);
  });

  it('backtest --strategy uses the injected strategy resolver', async () => {
    const out = new Capture(false);
    const seen: Array<[string, Record<string, string>]> = [];
    const code = await runCli(
      ['backtest', '--symbol', 'BTC/USDT', '--interval', '1m', '--candles', file, '--strategy', 'every_n', '--param', 'n=10', '--fee-bps', '5', '--monte-carlo-runs', '50', '--run-id', 'cli-strategy', '--json', '--artifacts-dir', path.join(root, 'artifacts')],
      {
        stdout: out,
        stderr: new Capture(),
        resolveStrategy: (name, params) => {
          seen.push([name, params]);
          if (name !== 'every_n') return undefined;
          const n = Number(params['n']);
          return (_c, i) => (i % n === 0 ? ((i / n) % 2 === 0 ? 'BUY' : 'SELL') : 'HOLD');
        },
      },
    );
    expect(code).toBe(0);
    expect(seen).toEqual([['every_n', { n: '10' }]]);
    const json = JSON.parse(out.text.slice(out.text.indexOf('{')));
    expect(json.metrics.trades).toBe(21);
    expect(json.monte_carlo.runs).toBe(50);
    expect(json.artifacts.map((a: { name: string }) => a.name).sort()).toEqual(['equity.csv', 'equity.png', 'metrics.json', 'trades.csv']);
  });

  it('usage errors exit 2 with a message', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['train', '--interval', '1m', '--candles', 'x.json'], /--symbol is required/],
      [['fly'], /unknown command/],
      [['train', '--symbol', 'BTC/USDT', '--interval', '1m'], /no candle source/],
      [['train', '--symbol', 'BTC/USDT', '--interval', '1m', '--candles', 'x.json', '--bogus'], /Unknown option/],
      [['backtest', '--symbol', 'BTC/USDT', '--interval', '1m', '--candles', 'x.json', '--mode', 'sideways'], /--mode must be/],
    ];
    for (const [argv, message] of cases) {
      const err = new Capture();
      expect(await runCli(argv, { stdout: new Capture(), stderr: err })).toBe(2);
      expect(err.text).toMatch(message);
    }
  });

  it('ProgressBar prints each distinct line once off a terminal', () => {
    const out = new Capture(false);
    const bar = new ProgressBar(out);
    bar.update(0.5, 'half');
    bar.update(0.5, 'half');
    bar.update(1, 'done');
    bar.finish();
    expect(out.text).toBe('progress 50% half\nprogress 100% done\n');
  });
});
