// npm run bench [-- --quick] [-- --only=produce,api]   (--only writes results/partial.*, not latest.*)
// Starts (or reuses) Kafka and the registry, runs every scenario in its own child process (chDB
// binds one data dir per process; each scenario has its own topic prefix and chDB dir) with its raw
// baseline in the same run, and writes bench/results/latest.json and latest.md.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execSync } from 'node:child_process';
import { ensureServices, REPO, type ScenarioResult } from './lib.ts';

const ALL = ['produce', 'indicators', 'api', 'fanout', 'latency', 'e2e', 'replay'];
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const scenarios = only ?? ALL;
const resultsDir = join(REPO, 'bench', 'results');

function machine() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  let nproc = String(cpus().length);
  try { nproc = execSync('nproc').toString().trim(); } catch { /* keep */ }
  let load = '';
  try { load = readFileSync('/proc/loadavg', 'utf8').trim(); } catch { /* none */ }
  return { nproc: Number(nproc), memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10, cpu_model: model, node: process.version, loadavg_at_start: load,
    note: 'Kafka broker (4.1, single KRaft node) and Apicurio registry run on the same machine as the bench and the pipeline; the machine is shared (others run tests concurrently), so compare ratios, not absolute numbers.' };
}

// The V8 flags of `npm start` (package.json), so the product runs here as it runs there; the
// baselines share the process and so the flags. BENCH_NODE_FLAGS overrides ('' for none).
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '--max-semi-space-size=64').split(' ').filter(Boolean);

function runScenario(name: string, env: Record<string, string>): Promise<ScenarioResult> {
  const out = join(tmpdir(), `tickflow-bench-${name}-${process.pid}.json`);
  const timeout = quick ? 420_000 : 1_800_000;
  return new Promise((resolve) => {
    const started = Date.now();
    console.error(`\n=== ${name}${quick ? ' (quick)' : ''} ===`);
    const child = spawn(process.execPath, [...NODE_FLAGS, '--import', 'tsx', join(REPO, 'bench', 'scenarios', `${name}.ts`)], {
      cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, ...env, BENCH_OUT: out, BENCH_QUICK: quick ? '1' : '0', BENCH_TIMEOUT_MS: String(timeout) },
    });
    const kill = setTimeout(() => child.kill('SIGKILL'), timeout + 30_000);
    child.on('exit', (code) => {
      clearTimeout(kill);
      let r: ScenarioResult;
      try { r = JSON.parse(readFileSync(out, 'utf8')) as ScenarioResult; rmSync(out, { force: true }); } catch { r = { scenario: name, quick, figures: [], notes: [], error: `exited ${code} without a result` }; }
      r.elapsed_ms ??= Date.now() - started;
      console.error(`=== ${name}: ${r.error ? 'ERROR' : 'done'} in ${Math.round((Date.now() - started) / 1000)} s`);
      resolve(r);
    });
  });
}

function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  return Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en-US') : String(x);
}

function markdown(results: ScenarioResult[], m: ReturnType<typeof machine>, startedAt: string): string {
  const lines = [
    `# Tickflow benchmark results${quick ? ' (--quick)' : ''}`, '',
    `Run ${startedAt}${quick ? '; **quick mode**: short windows and fewer clients, indicative only' : ''}.`, '',
    `Machine: ${m.nproc} cores (nproc), ${m.memory_gib} GiB memory, ${m.cpu_model}, Node ${m.node} (flags: ${NODE_FLAGS.join(" ") || "none"}); load average at start ${m.loadavg_at_start}.`,
    `${m.note}`, '',
    '| scenario | figure | value | baseline | ratio | target | met |', '|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    if (r.error) { lines.push(`| ${r.scenario} | (failed) | - | - | - | - | ERROR |`); continue; }
    for (const f of r.figures) {
      const met = f.met === null ? 'report' : f.met ? 'met' : '**NOT MET**';
      lines.push(`| ${r.scenario} | ${f.figure} | ${fmt(f.value)} ${f.unit} | ${fmt(f.baseline)} | ${f.ratio ?? '-'} | ${f.target} | ${met} |`);
    }
  }
  lines.push('', '## Notes per scenario', '');
  for (const r of results) {
    lines.push(`### ${r.scenario}`, '');
    if (r.error) lines.push('```', r.error.split('\n').slice(0, 8).join('\n'), '```');
    for (const n of r.notes) lines.push(`- ${n}`);
    for (const f of r.figures) if (f.note) lines.push(`- ${f.figure}: ${f.note}`);
    lines.push('');
  }
  return lines.join('\n');
}

async function main() {
  const startedAt = new Date().toISOString();
  const m = machine();
  const services = await ensureServices();
  const env = { KAFKA_BROKERS: services.brokers, SCHEMA_REGISTRY_URL: services.registryUrl };
  const results: ScenarioResult[] = [];
  try {
    for (const s of scenarios) {
      if (!ALL.includes(s)) { results.push({ scenario: s, quick, figures: [], notes: [], error: `unknown scenario (known: ${ALL.join(', ')})` }); continue; }
      results.push(await runScenario(s, env));
    }
  } finally {
    await services.stop();
  }
  mkdirSync(resultsDir, { recursive: true });
  const doc = { started_at: startedAt, finished_at: new Date().toISOString(), quick, machine: m, services: { kafka: services.brokers, registry: services.registryUrl }, results };
  // A partial run (--only) never replaces the results of a complete one.
  const base = only ? 'partial' : 'latest';
  writeFileSync(join(resultsDir, `${base}.json`), JSON.stringify(doc, null, 2) + '\n');
  writeFileSync(join(resultsDir, `${base}.md`), markdown(results, m, startedAt) + '\n');
  console.error(`\nwrote bench/results/${base}.json and bench/results/${base}.md`);
  console.log(markdown(results, m, startedAt));
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
