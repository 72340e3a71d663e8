import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32, encodePng, listArtifacts, PNG_SIGNATURE, renderEquityChart, saveRunArtifacts } from '../../../processors/backtest/artifacts.ts';
import type { EquityPoint } from '../../../processors/backtest/strategy-backtest.ts';

interface PngChunk {
  type: string;
  data: Buffer;
  crcOk: boolean;
}

function readChunks(png: Buffer): PngChunk[] {
  const chunks: PngChunk[] = [];
  let at = 8;
  while (at < png.length) {
    const length = png.readUInt32BE(at);
    const type = png.toString('ascii', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    const crc = png.readUInt32BE(at + 8 + length);
    chunks.push({ type, data, crcOk: crc === crc32(png.subarray(at + 4, at + 8 + length)) });
    at += 12 + length;
  }
  return chunks;
}

/** Decodes an 8-bit RGB, filter-0 PNG (what encodePng writes) to its pixel rows. */
function decode(png: Buffer): { width: number; height: number; rows: Buffer[] } {
  const chunks = readChunks(png);
  const ihdr = chunks[0]!.data;
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  const raw = inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  expect(raw.length).toBe(height * (1 + width * 3));
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    expect(raw[y * (1 + width * 3)]).toBe(0);
    rows.push(raw.subarray(y * (1 + width * 3) + 1, (y + 1) * (1 + width * 3)));
  }
  return { width, height, rows };
}

const equity: EquityPoint[] = Array.from({ length: 300 }, (_, i) => ({ time: Date.UTC(2024, 0, 1) + i * 3_600_000, equity: 10_000 * (1 + 0.1 * Math.sin(i / 30)) + i * 5 }));

describe('PNG encoder', () => {
  it('writes a valid PNG: signature, IHDR, CRCs, inflatable IDAT with the pixels given', () => {
    const rgb = new Uint8Array(3 * 2 * 3);
    rgb.set([255, 0, 0], 0); // top-left red
    rgb.set([0, 0, 255], (1 * 3 + 2) * 3); // bottom-right blue
    const png = encodePng(3, 2, rgb);
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    const chunks = readChunks(png);
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect(chunks.every((c) => c.crcOk)).toBe(true);
    expect([...chunks[0]!.data]).toEqual([0, 0, 0, 3, 0, 0, 0, 2, 8, 2, 0, 0, 0]);
    const { rows } = decode(png);
    expect([...rows[0]!.subarray(0, 3)]).toEqual([255, 0, 0]);
    expect([...rows[1]!.subarray(6, 9)]).toEqual([0, 0, 255]);
  });

  it('crc32 matches the reference value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });
});

describe('run artifacts', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tickflow-artifacts-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('saves metrics JSON, equity CSV and a PNG chart of the stated size, and lists them', async () => {
    const saved = await saveRunArtifacts(root, 'bt-1', {
      kind: 'strategy_backtest',
      metrics: { total_return: 0.12, trades: 3 },
      equity,
      files: { 'trades.csv': 'side,return\nLONG,0.1\n' },
      chart: { width: 640, height: 320 },
    });
    expect(saved.map((a) => a.name).sort()).toEqual(['equity.csv', 'equity.png', 'metrics.json', 'trades.csv']);

    const listed = await listArtifacts(root);
    expect(listed).toEqual(saved);
    for (const a of listed) {
      const info = await stat(path.join(root, a.relative_path));
      expect(a.size_bytes).toBe(info.size);
      expect(a.size_bytes).toBeGreaterThan(0);
      expect(Number.isNaN(Date.parse(a.created_at))).toBe(false);
      expect(a.path).toBe(path.join(root, 'bt-1', a.name));
    }
    expect(Object.fromEntries(listed.map((a) => [a.name, a.kind]))).toEqual({ 'equity.csv': 'equity_curve', 'equity.png': 'chart', 'metrics.json': 'metrics', 'trades.csv': 'data' });

    const metrics = JSON.parse(await readFile(path.join(root, 'bt-1', 'metrics.json'), 'utf8'));
    expect(metrics).toMatchObject({ run_id: 'bt-1', kind: 'strategy_backtest', total_return: 0.12, trades: 3 });
    const csv = (await readFile(path.join(root, 'bt-1', 'equity.csv'), 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('time,iso_time,equity,drawdown');
    expect(csv).toHaveLength(equity.length + 1);
    expect(csv[1]).toBe(`${equity[0]!.time},2024-01-01T00:00:00.000Z,${equity[0]!.equity},0`);

    const png = await readFile(path.join(root, 'bt-1', 'equity.png'));
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    const chunks = readChunks(png);
    expect(chunks[0]!.type).toBe('IHDR');
    expect(chunks[0]!.data.readUInt32BE(0)).toBe(640);
    expect(chunks[0]!.data.readUInt32BE(4)).toBe(320);
    expect(chunks.every((c) => c.crcOk)).toBe(true);
    expect(chunks[chunks.length - 1]!.type).toBe('IEND');
    const { rows } = decode(png);
    // The curve is drawn: some pixels carry the line colour (31, 119, 180); most are background.
    let line = 0;
    let white = 0;
    for (const row of rows) {
      for (let x = 0; x < row.length; x += 3) {
        if (row[x] === 31 && row[x + 1] === 119 && row[x + 2] === 180) line++;
        if (row[x] === 255 && row[x + 1] === 255 && row[x + 2] === 255) white++;
      }
    }
    expect(line).toBeGreaterThan(500);
    expect(white).toBeGreaterThan(640 * 320 * 0.5);
  });

  it('draws empty and flat curves without failing', () => {
    for (const points of [[], [{ time: 0, equity: 100 }], [{ time: 0, equity: 100 }, { time: 1, equity: 100 }]]) {
      const png = renderEquityChart(points, { width: 200, height: 100 });
      expect(decode(png)).toMatchObject({ width: 200, height: 100 });
    }
  });

  it('lists nothing for a missing root and rejects unsafe run ids and names', async () => {
    expect(await listArtifacts(path.join(root, 'missing'))).toEqual([]);
    await expect(saveRunArtifacts(root, '../escape', { kind: 'training', metrics: {}, equity })).rejects.toThrow(/invalid run id/);
    await expect(saveRunArtifacts(root, 'ok', { kind: 'training', metrics: {}, equity, files: { '../x.csv': '' } })).rejects.toThrow(/invalid artifact file name/);
  });
});
