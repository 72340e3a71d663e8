// Identity: bearer JWTs (HS256) with a subject (the user id) and a role ('user' or 'admin').
// The secret is API_JWT_SECRET, or a random one kept in $TICKFLOW_HOME/jwt-secret (mode 0600)
// so a local install can mint tokens with `npm run token -- --user alice --role admin`.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './context.ts';

export const ROLES = ['user', 'admin'] as const;
export type ApiRole = (typeof ROLES)[number];
export interface ApiUser { id: string; role: ApiRole }

declare module 'fastify' {
  interface FastifyRequest {
    user: ApiUser | null;
  }
}

export function loadJwtSecret(home: string, fromEnv: string | undefined): Buffer {
  if (fromEnv) return Buffer.from(fromEnv);
  const file = join(home, 'jwt-secret');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600 });
  }
  return Buffer.from(readFileSync(file, 'utf8').trim());
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

export function signToken(secret: Buffer, user: ApiUser, ttlSeconds = 30 * 86400, now = Date.now()): string {
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const body = b64({ sub: user.id, role: user.role, iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + ttlSeconds });
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** Verify a token; throws HttpError(401) with the reason. */
export function verifyToken(secret: Buffer, token: string, now = Date.now()): ApiUser {
  const parts = token.split('.');
  if (parts.length !== 3) throw new HttpError(401, 'malformed bearer token');
  const [head, body, sig] = parts as [string, string, string];
  const expected = createHmac('sha256', secret).update(`${head}.${body}`).digest();
  const given = Buffer.from(sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new HttpError(401, 'invalid token signature');
  let h: { alg?: string };
  let claims: { sub?: unknown; role?: unknown; exp?: unknown };
  try {
    h = JSON.parse(Buffer.from(head, 'base64url').toString()) as { alg?: string };
    claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as typeof claims;
  } catch {
    throw new HttpError(401, 'malformed bearer token');
  }
  if (h.alg !== 'HS256') throw new HttpError(401, 'unsupported token algorithm');
  if (typeof claims.exp !== 'number' || claims.exp * 1000 < now) throw new HttpError(401, 'token expired');
  if (typeof claims.sub !== 'string' || !/^[A-Za-z0-9._@-]{1,128}$/.test(claims.sub)) throw new HttpError(401, 'token has no valid subject');
  if (claims.role !== 'user' && claims.role !== 'admin') throw new HttpError(401, 'token has no valid role');
  return { id: claims.sub, role: claims.role };
}

/** Reads the bearer token if there is one; routes decide with requireUser / requireAdmin. */
export function identify(secret: Buffer) {
  return async (req: FastifyRequest): Promise<void> => {
    req.user = null;
    const h = req.headers.authorization;
    if (!h) {
      // Browsers cannot set headers on a WebSocket: the upgrade may carry ?token= instead.
      const token = (req.query as Record<string, unknown> | undefined)?.token;
      if (req.headers.upgrade?.toLowerCase() === 'websocket' && typeof token === 'string') req.user = verifyToken(secret, token);
      return;
    }
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m) throw new HttpError(401, 'authorization header must be "Bearer <token>"');
    req.user = verifyToken(secret, m[1]!);
  };
}

/** preHandler: 401 without a valid token. */
export async function requireUser(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (!req.user) throw new HttpError(401, 'authentication required: send Authorization: Bearer <token>');
}

/** preHandler: 401 without a token, 403 without the admin role. */
export async function requireAdmin(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (!req.user) throw new HttpError(401, 'authentication required: send Authorization: Bearer <token>');
  if (req.user.role !== 'admin') throw new HttpError(403, 'admin role required');
}
