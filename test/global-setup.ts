// Starts the real broker and schema registry once per test run (not per file), or uses
// KAFKA_BROKERS / SCHEMA_REGISTRY_URL when they are set. Files get the addresses via inject().
import type { TestProject } from 'vitest/node';
import { resolve } from 'node:path';
import { ensureKafka, ensureRegistry, type ServiceHandle } from '../infra/launcher.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    registryUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: ServiceHandle[] = [];
  let brokers = process.env.KAFKA_BROKERS;
  let registry = process.env.SCHEMA_REGISTRY_URL;
  const home = resolve(process.env.TICKFLOW_TEST_HOME ?? '.tickflow/test-services');
  const t0 = Date.now();
  if (!brokers) {
    const k = await ensureKafka({ home, port: 0 });
    if (k.started) started.push(k);
    brokers = k.address;
  }
  if (!registry) {
    const r = await ensureRegistry({ home, brokers, port: 0 });
    if (r.started) started.push(r);
    registry = r.address;
  }
  console.error(`[global-setup] Kafka ${brokers}, registry ${registry} ready in ${Date.now() - t0} ms`);
  project.provide('kafkaBrokers', brokers);
  project.provide('registryUrl', registry);
  return async () => {
    if (process.env.TICKFLOW_KEEP_SERVICES === '1') return;
    for (const s of started.reverse()) await s.stop();
  };
}
