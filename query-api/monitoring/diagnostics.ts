// Crash dumps and system information. Dumps go to CRASH_DUMP_DIR (relative to TICKFLOW_HOME,
// default crash-dumps): a diagnostic report (process.report), a heap snapshot
// (v8.writeHeapSnapshot) and a CPU profile of a requested duration (the inspector's Profiler).
// The folder keeps the newest MAX_DUMPS files.
import { Literals } from '../schema-literals.ts';
import { mkdirSync, readdirSync, statSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import { writeHeapSnapshot } from 'node:v8';
import os from 'node:os';
import { createRequire } from 'node:module';
import { Type, type Static } from '@sinclair/typebox';

export const MAX_DUMPS = 20;
export const CPU_PROFILE_MAX_MS = 60_000;
export const DUMP_KINDS = ['report', 'heap', 'cpu'] as const;
export type DumpKind = (typeof DUMP_KINDS)[number];
const EXT: Record<DumpKind, string> = { report: '.report.json', heap: '.heapsnapshot', cpu: '.cpuprofile' };

export const DumpFileSchema = Type.Object({
  name: Type.String(),
  kind: Literals(DUMP_KINDS),
  path: Type.String(),
  size_bytes: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
});
export type DumpFile = Static<typeof DumpFileSchema>;


export class CrashDumps {
  private profiling = false;
  constructor(readonly dir: string) {}

  list(): DumpFile[] {
    mkdirSync(this.dir, { recursive: true });
    return readdirSync(this.dir).flatMap((name) => {
      const kind = (Object.entries(EXT) as Array<[DumpKind, string]>).find(([, e]) => name.endsWith(e))?.[0];
      if (!kind) return [];
      const st = statSync(join(this.dir, name));
      return [{ name, kind, path: join(this.dir, name), size_bytes: st.size, created_at: st.mtime.toISOString() }];
    }).sort((a, b) => b.created_at.localeCompare(a.created_at) || b.name.localeCompare(a.name));
  }

  private file(kind: DumpKind): string {
    mkdirSync(this.dir, { recursive: true });
    return join(this.dir, `tickflow-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}${EXT[kind]}`);
  }

  private describe(path: string, kind: DumpKind): DumpFile {
    const st = statSync(path);
    this.prune();
    return { name: path.slice(this.dir.length + 1), kind, path, size_bytes: st.size, created_at: st.mtime.toISOString() };
  }

  private prune(): void {
    for (const f of this.list().slice(MAX_DUMPS)) rmSync(f.path, { force: true });
  }

  report(): DumpFile {
    const path = this.file('report');
    process.report.writeReport(path);
    return this.describe(path, 'report');
  }

  heap(): DumpFile {
    const path = this.file('heap');
    writeHeapSnapshot(path);
    return this.describe(path, 'heap');
  }

  get profilingNow(): boolean { return this.profiling; }

  /** Throws if a profile is already running (one at a time: the profiler is per process). */
  async cpuProfile(durationMs: number): Promise<DumpFile> {
    if (this.profiling) throw new Error('a CPU profile is already being recorded');
    this.profiling = true;
    const session = new Session();
    try {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      await new Promise((r) => setTimeout(r, durationMs));
      const { profile } = await session.post('Profiler.stop');
      const path = this.file('cpu');
      writeFileSync(path, JSON.stringify(profile));
      return this.describe(path, 'cpu');
    } finally {
      session.disconnect();
      this.profiling = false;
    }
  }
}

const require = createRequire(import.meta.url);
function packageVersion(name: string): string | null {
  try { return (require(`${name}/package.json`) as { version: string }).version; } catch { return null; }
}

/** tfjs as installed: the native backend only when tfjs-node is present (it rarely installs). */
export function tfjsInfo(): { tfjs: string | null; wasm_backend: string | null; node_backend: string | null; preferred_backend: string } {
  const nodeBackend = packageVersion('@tensorflow/tfjs-node');
  const wasm = packageVersion('@tensorflow/tfjs-backend-wasm');
  return { tfjs: packageVersion('@tensorflow/tfjs'), wasm_backend: wasm, node_backend: nodeBackend, preferred_backend: nodeBackend ? 'tensorflow' : wasm ? 'wasm' : 'cpu' };
}

export function systemInfo() {
  const mem = process.memoryUsage();
  const cpus = os.cpus();
  return {
    node: process.version,
    versions: Object.fromEntries(Object.entries(process.versions).filter(([, v]) => typeof v === 'string')) as Record<string, string>,
    platform: process.platform, arch: process.arch,
    os: { type: os.type(), release: os.release(), hostname: os.hostname(), uptime_s: Math.round(os.uptime()), loadavg: os.loadavg() },
    cpu: { count: cpus.length, model: cpus[0]?.model ?? null },
    memory: { total_bytes: os.totalmem(), free_bytes: os.freemem(), rss_bytes: mem.rss, heap_used_bytes: mem.heapUsed, heap_total_bytes: mem.heapTotal, external_bytes: mem.external },
    process: { pid: process.pid, uptime_s: Math.round(process.uptime()), started_at: new Date(Date.now() - process.uptime() * 1000).toISOString() },
    packages: { fastify: packageVersion('fastify'), kafkajs: packageVersion('kafkajs'), chdb: packageVersion('chdb'), '@clickhouse/client': packageVersion('@clickhouse/client'), 'prom-client': packageVersion('prom-client') },
    tfjs: tfjsInfo(),
  };
}
