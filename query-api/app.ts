// The one Fastify application: shared things registered once as decorators, one plugin per
// route group under /api/v1, JSON Schema on every route (validation, serialization, OpenAPI).
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { HttpError, type ApiDeps } from './context.ts';
import { marketRoutes } from './routes/market.ts';
import { wsRoutes } from './routes/ws.ts';
import { sqlRoutes } from './routes/sql.ts';
import { httpDuration } from '../runtime/metrics.ts';
import { identify, loadJwtSecret, requireAdmin } from './auth.ts';

export const OPENAPI_PATH = '/api/v1/openapi.json';

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  // pino's Logger is a FastifyBaseLogger; the cast only widens the generic.
  const loggerInstance = deps.log.child({ component: 'api' }) as unknown as FastifyBaseLogger;
  const app = Fastify({
    loggerInstance,
    disableRequestLogging: true,
    bodyLimit: 256 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('deps', deps);
  app.decorateRequest('user', null);
  app.addHook('onRequest', identify(loadJwtSecret(deps.config.home, process.env.API_JWT_SECRET)));

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; validationContext?: string }, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.message, statusCode: err.statusCode });
    if (err.validation) return reply.code(400).send({ error: `${err.validationContext ?? 'request'}: ${err.message}`, statusCode: 400 });
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message, statusCode: err.statusCode });
    req.log.error({ err, url: req.url }, 'request failed');
    return reply.code(500).send({ error: 'internal error', statusCode: 500 });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}`, statusCode: 404 }));

  app.addHook('onResponse', async (req, reply) => {
    httpDuration.observe({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Tickflow API', version: '1.0.0', description: 'Reads of the Tickflow pipeline\'s ClickHouse projections, commands onto its Kafka topics, and a WebSocket fan-out.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });

  app.get('/', {
    schema: {
      tags: ['health'], summary: 'Health check (unversioned)',
      response: { 200: Type.Object({ service: Type.String(), status: Type.String(), version: Type.String(), api: Type.String(), openapi: Type.String() }) },
    },
  }, async () => ({ service: 'tickflow', status: 'ok', version: '0.1.0', api: '/api/v1', openapi: OPENAPI_PATH }));

  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());

  await app.register(async (v1) => {
    await v1.register(marketRoutes, { prefix: '/market' });
    await v1.register(wsRoutes);
    // Analyst SQL reads every user's rows, so it is an admin route.
    await v1.register(async (admin) => { admin.addHook('preHandler', requireAdmin); await admin.register(sqlRoutes); });
  }, { prefix: '/api/v1' });

  return app as unknown as FastifyInstance;
}
