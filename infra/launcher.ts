// Local launchers for the real services: Apache Kafka (single KRaft node) from the official jars
// and Apicurio Registry (Confluent-compatible API) from its Maven Central distribution, both
// resolved by `mvn` into a cache outside git and run with the machine's Java 17.
// A second start finds a running service (state file + health check) and reuses it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';

export const KAFKA_VERSION = '4.1.1';
/** 3.0.x is the newest Apicurio line whose build runs on Java 17 (3.1+ needs Java 21). */
export const APICURIO_VERSION = '3.0.9';

const infraDir = dirname(fileURLToPath(import.meta.url));

export interface LaunchLog { info(msg: string): void; warn(msg: string): void }
const consoleLog: LaunchLog = { info: (m) => console.error(`[services] ${m}`), warn: (m) => console.error(`[services] WARN ${m}`) };

export interface ServiceHandle {
  name: 'kafka' | 'registry';
  /** host:port for Kafka, base URL for the registry (Confluent API). */
  address: string;
  /** True when this call started the process (so the caller owns stopping it). */
  started: boolean;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

interface StateFile { pid: number; port: number; controllerPort?: number; version: string; startedAt: string }

export function cacheDir(): string {
  return resolve(process.env.TICKFLOW_CACHE ?? join(homedir(), '.cache', 'tickflow'));
}

function javaBin(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

function mvn(args: string[], log: LaunchLog): void {
  log.info(`mvn ${args.join(' ')}`);
  mkdirSync(cacheDir(), { recursive: true });
  // Run from the cache so Maven's target/ markers never land in the work tree.
  const r = spawnSync('mvn', ['-q', '-B', ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', cwd: cacheDir() });
  if (r.error) throw new Error(`could not run mvn (is Maven installed?): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`mvn failed (exit ${r.status}):\n${(r.stdout + r.stderr).slice(-4000)}`);
}

/** Resolve the Kafka broker jars into the cache (once); returns the libs folder. */
export function resolveKafkaJars(log: LaunchLog = consoleLog): string {
  const libs = join(cacheDir(), `kafka-${KAFKA_VERSION}`, 'libs');
  const marker = join(libs, '.complete');
  if (existsSync(marker)) return libs;
  rmSync(libs, { recursive: true, force: true });
  mvn(['-f', join(infraDir, 'kafka', 'pom.xml'), `-Dkafka.version=${KAFKA_VERSION}`, 'dependency:copy-dependencies', `-DoutputDirectory=${libs}`, '-DincludeScope=runtime'], log);
  // slf4j 1.7 arrives transitively beside 2.0; keep only 2.x so the log4j2 binding is used.
  for (const f of readdirSync(libs)) if (/^slf4j-api-1\./.test(f)) rmSync(join(libs, f));
  writeFileSync(marker, new Date().toISOString());
  return libs;
}

/** Resolve and unpack the Apicurio Registry app (once); returns the folder with the runner jar. */
export function resolveApicurio(log: LaunchLog = consoleLog): string {
  const dir = join(cacheDir(), `apicurio-registry-${APICURIO_VERSION}`);
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return dir;
  rmSync(dir, { recursive: true, force: true });
  mvn(['dependency:unpack', `-Dartifact=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`, `-DoutputDirectory=${dir}`, `-Dmdep.markersDirectory=${dir}.markers`, '-Dmdep.overWriteReleases=true'], log);
  if (!readdirSync(dir).some((f) => f.endsWith('-runner.jar') || f === 'quarkus-run.jar')) throw new Error(`Apicurio ${APICURIO_VERSION} unpacked into ${dir} without a runner jar`);
  writeFileSync(marker, new Date().toISOString());
  return dir;
}

export function resolveAll(log: LaunchLog = consoleLog): void {
  resolveKafkaJars(log);
  resolveApicurio(log);
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ port, host });
    const done = (ok: boolean) => { s.destroy(); res(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** The configured port when free, a free one when it is 0 or taken. */
async function choosePort(wanted: number, what: string, log: LaunchLog): Promise<number> {
  if (wanted === 0) return freePort();
  if (await portOpen(wanted)) {
    const p = await freePort();
    log.warn(`${what} port ${wanted} is in use by another process; using ${p}`);
    return p;
  }
  return wanted;
}

function readState(file: string): StateFile | null {
  try { return JSON.parse(readFileSync(file, 'utf8')) as StateFile; } catch { return null; }
}

async function waitFor(what: string, check: () => Promise<boolean>, pid: number, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    if (!pidAlive(pid)) throw new Error(`${what} exited during start-up; see ${logFile}:\n${tail(logFile)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${what} was not healthy within ${timeoutMs} ms; see ${logFile}:\n${tail(logFile)}`);
}

function tail(file: string, n = 30): string {
  try { return readFileSync(file, 'utf8').split('\n').slice(-n).join('\n'); } catch { return '(no log)'; }
}

async function stopPid(pid: number, stateFile: string): Promise<void> {
  if (pidAlive(pid)) {
    try { process.kill(-pid, 'SIGTERM'); } catch { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
    const deadline = Date.now() + 20_000;
    while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (pidAlive(pid)) { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }
  }
  rmSync(stateFile, { force: true });
}

/** Kafka answers a real ApiVersions request (not just an open port). */
async function kafkaHealthy(port: number): Promise<boolean> {
  if (!(await portOpen(port))) return false;
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1000 }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function ensureKafka(opts: { home: string; port?: number; log?: LaunchLog }): Promise<ServiceHandle> {
  const log = opts.log ?? consoleLog;
  const dir = join(opts.home, 'services', 'kafka');
  const stateFile = join(dir, 'state.json');
  const logFile = join(opts.home, 'logs', 'kafka.log');
  mkdirSync(dir, { recursive: true });
  mkdirSync(dirname(logFile), { recursive: true });

  const prev = readState(stateFile);
  if (prev && pidAlive(prev.pid) && (await kafkaHealthy(prev.port))) {
    log.info(`reusing Kafka ${prev.version} at 127.0.0.1:${prev.port} (pid ${prev.pid})`);
    return { name: 'kafka', address: `127.0.0.1:${prev.port}`, started: false, pid: prev.pid, logFile, stop: () => stopPid(prev.pid, stateFile) };
  }

  const libs = resolveKafkaJars(log);
  // The broker listener and the controller must both be stable across restarts of the same
  // data dir; keep the previous ports when they are free.
  const port = await choosePort(prev?.port ?? opts.port ?? 9092, 'Kafka', log);
  const controllerPort = await choosePort(prev?.controllerPort ?? 0, 'Kafka controller', log);
  const dataDir = join(dir, 'data');
  const props = [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${dataDir}`,
    // A single node cannot replicate internal topics (tulios/kafkajs#1752).
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'num.partitions=3',
    'auto.create.topics.enable=false',
    'log.cleaner.enable=true',
  ].join('\n');
  const propsFile = join(dir, 'server.properties');
  writeFileSync(propsFile, props + '\n');
  const log4j = join(dir, 'log4j2.yaml');
  writeFileSync(log4j, 'Configuration:\n  Appenders:\n    Console:\n      name: STDOUT\n      PatternLayout:\n        pattern: "[%d] %p %m (%c)%n"\n  Loggers:\n    Logger:\n      - name: kafka\n        level: INFO\n      - name: org.apache.kafka\n        level: WARN\n    Root:\n      level: INFO\n      AppenderRef:\n        - ref: STDOUT\n');
  const cp = `${libs}/*`;
  if (!existsSync(join(dataDir, 'meta.properties'))) {
    const fmt = spawnSync(javaBin(), ['-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', propsFile], { encoding: 'utf8' });
    if (fmt.status !== 0) throw new Error(`kafka storage format failed: ${fmt.stdout}${fmt.stderr}`);
  }
  const out = openSync(logFile, 'a');
  const child = spawn(javaBin(), ['-Xms256m', '-Xmx768m', '-XX:+UseG1GC', `-Dlog4j2.configurationFile=${log4j}`, '-cp', cp, 'kafka.Kafka', propsFile], { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  const pid = child.pid!;
  writeFileSync(stateFile, JSON.stringify({ pid, port, controllerPort, version: KAFKA_VERSION, startedAt: new Date().toISOString() } satisfies StateFile));
  log.info(`starting Kafka ${KAFKA_VERSION} on 127.0.0.1:${port} (pid ${pid}, log ${logFile})`);
  await waitFor('Kafka', () => kafkaHealthy(port), pid, logFile, 120_000);
  log.info('Kafka is ready');
  return { name: 'kafka', address: `127.0.0.1:${port}`, started: true, pid, logFile, stop: () => stopPid(pid, stateFile) };
}

/** Kafka cluster ids are 16 random bytes, base64url without padding. */
function clusterId(): string {
  return Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64url');
}

async function registryHealthy(port: number): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(1000) });
    if (!r.ok) return false;
    const c = await fetch(`http://127.0.0.1:${port}/apis/ccompat/v7/subjects`, { signal: AbortSignal.timeout(1000) });
    return c.ok;
  } catch {
    return false;
  }
}

/** Apicurio with KafkaSQL storage: its state lives in a Kafka topic beside the data it describes. */
export async function ensureRegistry(opts: { home: string; brokers: string; port?: number; log?: LaunchLog }): Promise<ServiceHandle> {
  const log = opts.log ?? consoleLog;
  const dir = join(opts.home, 'services', 'registry');
  const stateFile = join(dir, 'state.json');
  const logFile = join(opts.home, 'logs', 'registry.log');
  mkdirSync(dir, { recursive: true });
  mkdirSync(dirname(logFile), { recursive: true });
  const prev = readState(stateFile);
  if (prev && pidAlive(prev.pid) && (await registryHealthy(prev.port))) {
    log.info(`reusing Apicurio Registry ${prev.version} at port ${prev.port} (pid ${prev.pid})`);
    return { name: 'registry', address: `http://127.0.0.1:${prev.port}/apis/ccompat/v7`, started: false, pid: prev.pid, logFile, stop: () => stopPid(prev.pid, stateFile) };
  }
  const app = resolveApicurio(log);
  const jar = readdirSync(app).find((f) => f.endsWith('-runner.jar')) ?? 'quarkus-run.jar';
  const port = await choosePort(prev?.port ?? opts.port ?? 8081, 'schema registry', log);
  const out = openSync(logFile, 'a');
  const child = spawn(javaBin(), [
    // The registry serves few requests (clients cache schemas): C1-only JIT and serial GC
    // start it about 15% faster, which the first start of the pipeline waits for.
    '-Xms128m', '-Xmx512m', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC',
    `-Dquarkus.http.port=${port}`, '-Dquarkus.http.host=127.0.0.1',
    '-Dapicurio.storage.kind=kafkasql',
    `-Dapicurio.kafkasql.bootstrap.servers=${opts.brokers}`,
    '-Dapicurio.kafkasql.topic=_tickflow_registry_journal',
    '-Dquarkus.log.console.json=false',
    '-jar', join(app, jar),
  ], { detached: true, stdio: ['ignore', out, out], cwd: dir });
  child.unref();
  const pid = child.pid!;
  writeFileSync(stateFile, JSON.stringify({ pid, port, version: APICURIO_VERSION, startedAt: new Date().toISOString() } satisfies StateFile));
  log.info(`starting Apicurio Registry ${APICURIO_VERSION} on 127.0.0.1:${port} (pid ${pid}, log ${logFile})`);
  await waitFor('Apicurio Registry', () => registryHealthy(port), pid, logFile, 180_000);
  log.info('schema registry is ready');
  return { name: 'registry', address: `http://127.0.0.1:${port}/apis/ccompat/v7`, started: true, pid, logFile, stop: () => stopPid(pid, stateFile) };
}

export async function serviceStatus(home: string): Promise<Array<{ name: string; running: boolean; port?: number; pid?: number }>> {
  const out = [];
  for (const name of ['kafka', 'registry'] as const) {
    const s = readState(join(home, 'services', name, 'state.json'));
    out.push(s ? { name, running: pidAlive(s.pid), port: s.port, pid: s.pid } : { name, running: false });
  }
  return out;
}

export async function stopServices(home: string): Promise<void> {
  // Registry first: it is a client of the broker.
  for (const name of ['registry', 'kafka'] as const) {
    const stateFile = join(home, 'services', name, 'state.json');
    const s = readState(stateFile);
    if (s) await stopPid(s.pid, stateFile);
  }
}
