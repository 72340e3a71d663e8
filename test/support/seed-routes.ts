// The seed route table (../shared/seed-route-analysis.md), parsed at test time so every listed
// method and path is covered, and the OpenAPI response schema of a route for checking answers.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import Ajv from 'ajv';

export interface SeedRoute { method: string; path: string; group: string }

export function seedRouteFile(): string {
  const candidates = [process.env.SEED_ROUTES_FILE, resolve(process.cwd(), '../shared/seed-route-analysis.md'), '/work/shared/seed-route-analysis.md'].filter((x): x is string => Boolean(x));
  const f = candidates.find((c) => existsSync(c));
  if (!f) throw new Error(`seed-route-analysis.md not found (tried ${candidates.join(', ')}); set SEED_ROUTES_FILE`);
  return f;
}

export function seedRoutes(file = seedRouteFile()): SeedRoute[] {
  const out: SeedRoute[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\|\s*(GET|POST|PUT|DELETE|PATCH|WS)\s*\|\s*`([^`]+)`\s*\|/.exec(line);
    if (!m) continue;
    const path = m[2]!;
    const group = path === '/' ? 'root' : path.split('/')[3] ?? 'root';
    out.push({ method: m[1]!, path, group });
  }
  return out;
}

/** Groups another engineer owns (the ML group and the predictions API, and the signals backtest). */
export function ownedElsewhere(r: SeedRoute): boolean {
  return ['train', 'backtest', 'models', 'artifacts', 'predictions'].includes(r.group) || r.path === '/api/v1/signals/backtest';
}

type OpenApi = { paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema: unknown }> }> }>> };

/** A validator for the declared response of (method, path, status), from the served OpenAPI document. */
export function responseValidator(doc: OpenApi, method: string, path: string, status: number) {
  const op = doc.paths[path]?.[method.toLowerCase()] ?? doc.paths[path.replace(/\/$/, '')]?.[method.toLowerCase()];
  if (!op) throw new Error(`OpenAPI has no ${method} ${path}`);
  const res = op.responses?.[String(status)];
  if (!res?.content) throw new Error(`OpenAPI declares no ${status} body for ${method} ${path}`);
  const [mediaType, { schema }] = Object.entries(res.content)[0]!;
  const ajv = new Ajv.default({ strict: false, allErrors: true, validateFormats: false });
  const validate = ajv.compile(schema as object);
  return { mediaType, validate: (body: unknown) => (validate(body) ? null : ajv.errorsText(validate.errors)) };
}
