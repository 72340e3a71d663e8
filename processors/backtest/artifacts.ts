// Run artifacts on disk, one folder per run:
//   <root>/<run_id>/metrics.json   what the run measured (plus run_id, kind, created_at)
//   <root>/<run_id>/equity.csv     time,iso_time,equity,drawdown
//   <root>/<run_id>/equity.png     line chart of the equity curve (RGB PNG, drawn here)
//   <root>/<run_id>/<extra files>  e.g. loss.csv, trades.csv, predictions.csv
// The PNG is rasterized and encoded without dependencies: filter-0 scanlines, zlib deflate,
// CRC32 per chunk.
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { maxDrawdown, type EquityPoint } from './strategy-backtest.ts';

export type RunKind = 'training' | 'walk_forward' | 'strategy_backtest';

export interface RunArtifactsInput {
  kind: RunKind;
  /** JSON-serializable. */
  metrics: object;
  equity: readonly EquityPoint[];
  /** Extra files: name -> contents (name must be a plain file name). */
  files?: Record<string, string>;
  chart?: { width?: number; height?: number };
}

export type ArtifactKind = 'metrics' | 'equity_curve' | 'chart' | 'data' | 'other';

export interface ArtifactFile {
  run_id: string;
  name: string;
  /** `<run_id>/<name>`, relative to the artifacts root. */
  relative_path: string;
  path: string;
  kind: ArtifactKind;
  content_type: string;
  size_bytes: number;
  created_at: string;
}

export const ARTIFACT_FILES = { metrics: 'metrics.json', equity: 'equity.csv', chart: 'equity.png' } as const;

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function runDir(root: string, runId: string): string {
  if (!SAFE_NAME.test(runId)) throw new Error(`invalid run id: ${JSON.stringify(runId)}`);
  return path.join(root, runId);
}

export async function saveRunArtifacts(root: string, runId: string, input: RunArtifactsInput, now: Date = new Date()): Promise<ArtifactFile[]> {
  const dir = runDir(root, runId);
  for (const name of Object.keys(input.files ?? {})) {
    if (!SAFE_NAME.test(name) || (Object.values(ARTIFACT_FILES) as string[]).includes(name)) throw new Error(`invalid artifact file name: ${name}`);
  }
  await mkdir(dir, { recursive: true });
  const files: Array<[string, string | Buffer]> = [
    [ARTIFACT_FILES.equity, equityCsv(input.equity)],
    [ARTIFACT_FILES.chart, renderEquityChart(input.equity, input.chart)],
  ];
  for (const [name, content] of Object.entries(input.files ?? {})) files.push([name, content]);
  // metrics.json last: readers may take its presence to mean the run's files are all there.
  files.push([ARTIFACT_FILES.metrics, JSON.stringify({ run_id: runId, kind: input.kind, created_at: now.toISOString(), ...input.metrics }, null, 2)]);
  for (const [name, content] of files) {
    const tmp = path.join(dir, `.${name}.tmp`);
    await writeFile(tmp, content);
    await rename(tmp, path.join(dir, name));
  }
  return (await listArtifacts(root)).filter((a) => a.run_id === runId);
}

/** Every artifact file under the root, newest run first, then by name. */
export async function listArtifacts(root: string): Promise<ArtifactFile[]> {
  let runs: string[];
  try {
    runs = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory() && SAFE_NAME.test(d.name)).map((d) => d.name);
  } catch (error) {
    if (typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT') return [];
    throw error;
  }
  const out: ArtifactFile[] = [];
  for (const runId of runs) {
    const dir = path.join(root, runId);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (!entry.isFile() || entry.name.startsWith('.')) continue;
      const file = path.join(dir, entry.name);
      const info = await stat(file);
      const { kind, content_type } = classify(entry.name);
      out.push({
        run_id: runId,
        name: entry.name,
        relative_path: `${runId}/${entry.name}`,
        path: file,
        kind,
        content_type,
        size_bytes: info.size,
        // birthtime is 0 on file systems that do not record it.
        created_at: new Date(info.birthtimeMs > 0 ? info.birthtimeMs : info.mtimeMs).toISOString(),
      });
    }
  }
  const runCreated = new Map<string, string>();
  for (const a of out) if ((runCreated.get(a.run_id) ?? '') < a.created_at) runCreated.set(a.run_id, a.created_at);
  return out.sort((a, b) => runCreated.get(b.run_id)!.localeCompare(runCreated.get(a.run_id)!) || a.run_id.localeCompare(b.run_id) || a.name.localeCompare(b.name));
}

function classify(name: string): { kind: ArtifactKind; content_type: string } {
  if (name === ARTIFACT_FILES.metrics) return { kind: 'metrics', content_type: 'application/json' };
  if (name === ARTIFACT_FILES.equity) return { kind: 'equity_curve', content_type: 'text/csv' };
  if (name.endsWith('.png')) return { kind: 'chart', content_type: 'image/png' };
  if (name.endsWith('.csv')) return { kind: 'data', content_type: 'text/csv' };
  if (name.endsWith('.json')) return { kind: 'data', content_type: 'application/json' };
  return { kind: 'other', content_type: 'application/octet-stream' };
}

export function equityCsv(equity: readonly EquityPoint[]): string {
  let peak = -Infinity;
  const lines = ['time,iso_time,equity,drawdown'];
  for (const p of equity) {
    peak = Math.max(peak, p.equity);
    const drawdown = peak > 0 ? 1 - p.equity / peak : 0;
    lines.push(`${p.time},${new Date(p.time).toISOString()},${p.equity},${drawdown}`);
  }
  return lines.join('\n') + '\n';
}

/** Rows of objects as CSV with the given columns (values are numbers or plain strings). */
export function toCsv(columns: readonly string[], rows: ReadonlyArray<Record<string, string | number | boolean | null>>): string {
  const cell = (v: string | number | boolean | null | undefined): string => {
    if (v === null || v === undefined) return '';
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// PNG encoding

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** 8-bit RGB PNG from width*height*3 bytes, row-major, top row first. */
export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  if (rgb.length !== width * height * 3) throw new Error(`expected ${width * height * 3} RGB bytes, got ${rgb.length}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering
  ihdr[12] = 0; // no interlace
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    raw.set(rgb.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

// ---------------------------------------------------------------------------------------------
// Line chart rasterizer

type Rgb = readonly [number, number, number];

class Canvas {
  readonly pixels: Uint8Array;
  constructor(readonly width: number, readonly height: number, background: Rgb) {
    this.pixels = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.pixels.set(background, i * 3);
  }
  set(x: number, y: number, color: Rgb): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    this.pixels.set(color, (yi * this.width + xi) * 3);
  }
  rect(x0: number, y0: number, w: number, h: number, color: Rgb): void {
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) this.set(x, y, color);
  }
  /** Bresenham line, `thickness` pixels square brush; every `dash`-th run of pixels skipped when dashed. */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, thickness = 1, dash = 0): void {
    let x = Math.round(x0);
    let y = Math.round(y0);
    const xe = Math.round(x1);
    const ye = Math.round(y1);
    const dx = Math.abs(xe - x);
    const dy = -Math.abs(ye - y);
    const sx = x < xe ? 1 : -1;
    const sy = y < ye ? 1 : -1;
    let err = dx + dy;
    let step = 0;
    for (;;) {
      if (!dash || Math.floor(step / dash) % 2 === 0) this.rect(x - Math.floor((thickness - 1) / 2), y - Math.floor((thickness - 1) / 2), thickness, thickness, color);
      step++;
      if (x === xe && y === ye) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y += sy;
      }
    }
  }
  /** Text in the 3x5 pixel font below, scaled. Unknown characters leave a gap. */
  text(x: number, y: number, value: string, color: Rgb, scale = 2): void {
    let cx = x;
    for (const ch of value) {
      const glyph = FONT[ch];
      if (glyph) {
        glyph.forEach((row, gy) => {
          for (let gx = 0; gx < 3; gx++) if (row[gx] === '1') this.rect(cx + gx * scale, y + gy * scale, scale, scale, color);
        });
      }
      cx += 4 * scale;
    }
  }
}

export function textWidth(value: string, scale = 2): number {
  return value.length * 4 * scale - scale;
}

const FONT: Record<string, readonly string[]> = {
  '0': ['111', '101', '101', '101', '111'],
  '1': ['010', '110', '010', '010', '111'],
  '2': ['111', '001', '111', '100', '111'],
  '3': ['111', '001', '111', '001', '111'],
  '4': ['101', '101', '111', '001', '001'],
  '5': ['111', '100', '111', '001', '111'],
  '6': ['111', '100', '111', '101', '111'],
  '7': ['111', '001', '001', '001', '001'],
  '8': ['111', '101', '111', '101', '111'],
  '9': ['111', '101', '111', '001', '111'],
  '.': ['000', '000', '000', '000', '010'],
  '-': ['000', '000', '111', '000', '000'],
  '+': ['000', '010', '111', '010', '000'],
  '%': ['101', '001', '010', '100', '101'],
  ':': ['000', '010', '000', '010', '000'],
  ' ': ['000', '000', '000', '000', '000'],
  D: ['110', '101', '101', '101', '110'],
};

const WHITE: Rgb = [255, 255, 255];
const GRID: Rgb = [228, 231, 236];
const AXIS: Rgb = [120, 126, 136];
const LINE: Rgb = [31, 119, 180];
const BASELINE: Rgb = [214, 96, 77];
const LABEL: Rgb = [60, 64, 72];

function formatValue(v: number): string {
  const abs = Math.abs(v);
  const digits = abs >= 1000 ? 0 : abs >= 10 ? 2 : abs >= 1 ? 3 : 4;
  return v.toFixed(digits);
}

/** YYYY-MM-DD, or YYYY-MM-DD HH:MM (UTC) when the chart spans under two days. */
function formatDate(ms: number, spanMs: number): string {
  if (!Number.isFinite(ms)) return '';
  const iso = new Date(ms).toISOString();
  return spanMs < 2 * 86_400_000 ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : iso.slice(0, 10);
}

/**
 * Equity line chart: light grid, axes, the curve, a dashed line at the starting equity,
 * min/max/start values on the y axis, first/last dates under the x axis, and the max
 * drawdown (as DD -x.x%) top right. Works for any number of points (even none).
 */
export function renderEquityChart(equity: readonly EquityPoint[], size: { width?: number; height?: number } = {}): Buffer {
  const width = Math.max(120, Math.round(size.width ?? 800));
  const height = Math.max(80, Math.round(size.height ?? 400));
  const canvas = new Canvas(width, height, WHITE);
  const left = 96;
  const right = width - 16;
  const top = 28;
  const bottom = height - 32;
  const values = equity.map((p) => p.equity).filter((v) => Number.isFinite(v));
  let min = values.length ? Math.min(...values) : 0;
  let max = values.length ? Math.max(...values) : 1;
  if (max - min < 1e-12) {
    const pad = Math.abs(max) * 0.01 || 1;
    min -= pad;
    max += pad;
  }
  const yOf = (v: number): number => bottom - ((v - min) / (max - min)) * (bottom - top);
  const xOf = (i: number): number => (equity.length > 1 ? left + (i / (equity.length - 1)) * (right - left) : (left + right) / 2);

  for (let g = 0; g <= 4; g++) {
    const y = top + ((bottom - top) * g) / 4;
    canvas.line(left, y, right, y, GRID);
  }
  for (let g = 1; g < 8; g++) {
    const x = left + ((right - left) * g) / 8;
    canvas.line(x, top, x, bottom, GRID);
  }
  canvas.line(left, top, left, bottom, AXIS);
  canvas.line(left, bottom, right, bottom, AXIS);

  const start = equity[0]?.equity;
  if (start !== undefined && Number.isFinite(start)) canvas.line(left, yOf(start), right, yOf(start), BASELINE, 1, 6);

  let prev: [number, number] | null = null;
  equity.forEach((p, i) => {
    if (!Number.isFinite(p.equity)) return;
    const point: [number, number] = [xOf(i), yOf(p.equity)];
    if (prev) canvas.line(prev[0], prev[1], point[0], point[1], LINE, 2);
    else canvas.rect(Math.round(point[0]) - 1, Math.round(point[1]) - 1, 2, 2, LINE);
    prev = point;
  });

  const label = (v: number): void => {
    const text = formatValue(v);
    canvas.text(left - 8 - textWidth(text), Math.round(yOf(v)) - 5, text, LABEL);
  };
  label(max);
  label(min);
  if (start !== undefined && Number.isFinite(start) && Math.abs(yOf(start) - yOf(max)) > 14 && Math.abs(yOf(start) - yOf(min)) > 14) label(start);
  const firstTime = equity[0]?.time ?? Number.NaN;
  const lastTime = equity[equity.length - 1]?.time ?? Number.NaN;
  const firstDate = formatDate(firstTime, lastTime - firstTime);
  const lastDate = formatDate(lastTime, lastTime - firstTime);
  canvas.text(left, bottom + 10, firstDate, LABEL);
  canvas.text(right - textWidth(lastDate), bottom + 10, lastDate, LABEL);
  if (values.length) {
    const dd = `DD -${(maxDrawdown(values) * 100).toFixed(1)}%`;
    canvas.text(right - textWidth(dd), 8, dd, BASELINE);
  }
  return encodePng(width, height, canvas.pixels);
}
