// Avro serde through the schema registry (Confluent wire format: magic 0, 4-byte schema id, Avro
// body). Every catalogued topic's schema is registered as `<topic>-value` with BACKWARD
// compatibility; decoding resolves whatever writer schema a message carries to our reader schema.
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOPICS, DLQ_SCHEMA, type TopicId, type TopicValue } from '../schemas/topics.ts';
import type { DeadLetter } from '../schemas/generated/events.ts';
import type { KafkaContext } from './kafka.ts';

const avroDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'schemas', 'avro');

export function readSchema(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(avroDir, file), 'utf8')) as Record<string, unknown>;
}

/** A message that cannot be turned into a valid event; it goes to the DLQ with this reason. */
export class DecodeError extends Error {
  constructor(message: string, readonly stage: 'decode' | 'validate') {
    super(message);
    this.name = 'DecodeError';
  }
}

export class RegistryError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'RegistryError';
  }
}

export class EventCodec {
  readonly registry: SchemaRegistry;
  private ids = new Map<string, number>();
  private types = new Map<string, avro.Type>();
  /** Writer-id -> resolver to our reader type, per subject. */
  private resolvers = new Map<string, avro.Type>();
  private writerTypes = new Map<number, avro.Type>();
  /** encodeFor writes framing and body here, then copies out (grown when a record does not fit). */
  private scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(readonly registryUrl: string, private readonly kafka: KafkaContext) {
    this.registry = new SchemaRegistry({ host: registryUrl }, { [SchemaType.AVRO]: { logicalTypes: {} } });
  }

  private subject(topicName: string): string {
    return `${topicName}-value`;
  }

  /** Register every topic's schema (and the DLQ schema per DLQ topic) with BACKWARD compatibility. */
  async registerAll(): Promise<void> {
    // Subjects are independent; registering them concurrently takes seconds off every start.
    await Promise.all((Object.keys(TOPICS) as TopicId[]).flatMap((id) => [
      this.registerSubject(this.kafka.topic(id), TOPICS[id].schema),
      this.registerSubject(this.kafka.dlq(id), DLQ_SCHEMA),
    ]));
  }

  async registerSubject(topicName: string, schemaFile: string): Promise<number> {
    const subject = this.subject(topicName);
    const schema = readSchema(schemaFile);
    await this.setCompatibility(subject, 'BACKWARD');
    const { id } = await this.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject });
    this.ids.set(topicName, id);
    this.types.set(topicName, avro.Type.forSchema(schema as avro.Schema));
    return id;
  }

  async setCompatibility(subject: string, level: 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FULL' | 'NONE'): Promise<void> {
    const r = await fetch(`${this.registryUrl}/config/${encodeURIComponent(subject)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ compatibility: level }),
    });
    if (!r.ok) throw new RegistryError(`setting ${level} on ${subject} failed: ${r.status} ${await r.text()}`, r.status);
  }

  /** Register a new version of a subject's schema; rejected (409) when incompatible. */
  async registerVersion(subject: string, schema: object): Promise<number> {
    const r = await fetch(`${this.registryUrl}/subjects/${encodeURIComponent(subject)}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(schema) }),
    });
    const body = await r.text();
    if (!r.ok) throw new RegistryError(`registry rejected ${subject}: ${r.status} ${body}`, r.status);
    return (JSON.parse(body) as { id: number }).id;
  }

  schemaId(topicName: string): number {
    const id = this.ids.get(topicName);
    if (id === undefined) throw new Error(`schema for ${topicName} is not registered`);
    return id;
  }

  /** Encode one event for a catalogued topic. Throws DecodeError('validate') when it breaks the schema. */
  encode<K extends TopicId>(id: K, value: TopicValue[K]): Buffer {
    return this.encodeFor(this.kafka.topic(id), value);
  }

  encodeDeadLetter(id: TopicId, value: DeadLetter): Buffer {
    return this.encodeFor(this.kafka.dlq(id), value);
  }

  private encodeFor(topicName: string, value: unknown): Buffer {
    const type = this.types.get(topicName);
    if (!type) throw new Error(`schema for ${topicName} is not registered`);
    // The cheap check first; the one that collects the invalid paths only for a bad record.
    if (!type.isValid(value)) {
      const errors: string[] = [];
      type.isValid(value, { errorHook: (path) => errors.push(path.join('.') || '(root)') });
      throw new DecodeError(`does not match ${String((type as { name?: string }).name)}: invalid ${errors.join(', ')}`, 'validate');
    }
    // Framing and body written once into a scratch buffer, then one copy out.
    let end = type.encode(value, this.scratch, 5);
    if (end < 0) {
      this.scratch = Buffer.allocUnsafe(Math.max(2 * this.scratch.length, this.scratch.length - end));
      end = type.encode(value, this.scratch, 5);
    }
    this.scratch.writeUInt8(0, 0);
    this.scratch.writeUInt32BE(this.schemaId(topicName), 1);
    const out = Buffer.allocUnsafe(end);
    this.scratch.copy(out, 0, 0, end);
    return out;
  }

  /** Decode a message of a catalogued topic into our reader schema's shape. */
  async decode<K extends TopicId>(id: K, buf: Buffer | null): Promise<TopicValue[K]> {
    return (await this.decodeFor(this.kafka.topic(id), buf)) as TopicValue[K];
  }

  async decodeFor(topicName: string, buf: Buffer | null): Promise<unknown> {
    if (!buf || buf.length < 5) throw new DecodeError(`message of ${buf?.length ?? 0} bytes is too short for the registry wire format`, 'decode');
    if (buf.readUInt8(0) !== 0) throw new DecodeError(`unknown magic byte ${buf.readUInt8(0)}: not registry-framed Avro`, 'decode');
    const writerId = buf.readUInt32BE(1);
    const reader = this.types.get(topicName);
    if (!reader) throw new Error(`schema for ${topicName} is not registered`);
    const key = `${topicName}#${writerId}`;
    let resolver = this.resolvers.get(key);
    if (!resolver) {
      const writer = await this.writerType(writerId);
      try {
        resolver = reader.createResolver(writer) as avro.Type;
      } catch (err) {
        throw new DecodeError(`writer schema ${writerId} cannot be read as ${topicName}: ${(err as Error).message}`, 'decode');
      }
      this.resolvers.set(key, resolver);
    }
    try {
      return reader.fromBuffer(buf.subarray(5), resolver as unknown as avro.Type, true);
    } catch (err) {
      throw new DecodeError(`Avro body does not decode with schema ${writerId}: ${(err as Error).message}`, 'decode');
    }
  }

  /** The writer schema of a message, fetched from the registry once per id by the client. */
  private async writerType(id: number): Promise<avro.Type> {
    let t = this.writerTypes.get(id);
    if (!t) {
      try {
        t = (await this.registry.getSchema(id)) as unknown as avro.Type;
      } catch (err) {
        // Unknown id: the message is bad. Anything else (registry down): retry, never DLQ.
        const status = (err as { status?: number }).status;
        if (status === 404) throw new DecodeError(`schema id ${id} is not in the registry`, 'decode');
        throw new RegistryError(`schema id ${id} could not be fetched: ${(err as Error).message}`, status);
      }
      this.writerTypes.set(id, t);
    }
    return t;
  }
}
