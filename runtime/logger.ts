// The one logger: pino, JSON lines to stdout, secrets redacted. The last entries are also kept
// in a bounded ring for GET /api/v1/monitoring/logs.
import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';

export type { Logger };

export interface LogEntry { level: number; time: number; msg: string; [k: string]: unknown }

const RING_SIZE = 2000;
const ring: LogEntry[] = [];

export function recentLogs(minLevel = 0, limit = 200): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = ring.length - 1; i >= 0 && out.length < limit; i--) {
    const e = ring[i]!;
    if (e.level >= minLevel) out.push(e);
  }
  return out.reverse();
}

const ringStream = new Writable({
  write(chunk: Buffer, _enc, done) {
    try {
      ring.push(JSON.parse(chunk.toString()) as LogEntry);
      if (ring.length > RING_SIZE) ring.splice(0, ring.length - RING_SIZE);
    } catch {
      // A line that is not JSON is not ours to keep.
    }
    done();
  },
});

export const REDACT_PATHS = [
  'password', '*.password', 'apiKey', '*.apiKey', 'secret', '*.secret', 'token', '*.token',
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization', '*.headers.authorization',
];

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { pid: process.pid } },
    pino.multistream([
      { level: level as pino.Level, stream: process.stdout },
      { level: 'info', stream: ringStream },
    ]),
  );
}
