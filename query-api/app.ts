// The one Fastify application: shared things registered once as decorators, one plugin per
// route group under /api/v1, JSON Schema on every route (validation, serialization, OpenAPI).
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { HttpError, type ApiDeps } from './context.ts';
import { marketRoutes } from './routes/market.ts';
import { wsRoutes } from './routes/ws.ts';
import { sqlRoutes } from './routes/sql.ts';
import { adminRoutes } from './routes/admin.ts';
import { installReadCache } from './read-cache.ts';
import { mlRoutes } from './routes/ml.ts';
import { predictionRoutes } from './routes/predictions.ts';
import { signalsBacktestRoutes } from './routes/signals-backtest.ts';
import { httpDuration } from '../runtime/metrics.ts';
import { identify, loadJwtSecret, requireAdmin } from './auth.ts';
import rateLimit from '@fastify/rate-limit';
import { alertsRoutes } from './routes/alerts.ts';
import { exchangesRoutes } from './routes/exchanges.ts';
import { proxyRoutes } from './routes/proxy.ts';
import { signalsRoutes } from './routes/signals.ts';
import { monitoringRoutes } from './routes/monitoring.ts';
import { createMonitoring } from './monitoring/monitoring.ts';
import { HealthStatusSchema } from './health-model.ts';

export const OPENAPI_PATH = '/api/v1/openapi.json';

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  // pino's Logger is a FastifyBaseLogger; the cast only widens the generic.
  const loggerInstance = deps.log.child({ component: 'api' }) as unknown as FastifyBaseLogger;
  const app = Fastify({
    loggerInstance,
    // No per-request log lines (incoming/completed, default error handler, 404s).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 256 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('deps', deps);
  // One health model, SLO engine and ops-alert channel for every route that reports health.
  const monitoring = createMonitoring(deps);
  app.decorate('monitoring', monitoring);
  app.addHook('onReady', async () => monitoring.start());
  app.addHook('onClose', async () => monitoring.close());
  app.decorateRequest('user', null);
  app.addHook('onRequest', identify(loadJwtSecret(deps.config.home, process.env.API_JWT_SECRET)));

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; validationContext?: string }, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.message, statusCode: err.statusCode });
    if (err.validation) return reply.code(400).send({ error: `${err.validationContext ?? 'request'}: ${err.message}`, statusCode: 400 });
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message, statusCode: err.statusCode });
    req.log.error({ err, url: req.url }, 'request failed');
    return reply.code(500).send({ error: 'internal error', statusCode: 500 });
  });
  // Every documented route also declares the error body its 4xx and 5xx answers carry.
  // Lenient on purpose (optional fields, extra fields kept): it documents, it must never turn a
  // route's own error body into a serialization failure.
  const ErrorBody = Type.Object({
    error: Type.Optional(Type.String({ description: 'What is wrong, naming the field for invalid input' })),
    statusCode: Type.Optional(Type.Integer()),
  }, { additionalProperties: true });
  app.addHook('onRoute', (route) => {
    const schema = route.schema as { hide?: boolean; response?: Record<string, unknown> } | undefined;
    if (!schema || schema.hide || !schema.response) return;
    schema.response = { '4xx': ErrorBody, '5xx': ErrorBody, ...schema.response };
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}`, statusCode: 404 }));

  app.addHook('onResponse', async (req, reply) => {
    httpDuration.observe({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    const route = req.routeOptions.url ?? '';
    // Dumps take as long as asked and the WebSocket upgrade lives as long as the connection.
    monitoring.slo.recordRequest(reply.statusCode, reply.elapsedTime, Date.now(), route.startsWith('/api/v1/monitoring/crash-dumps/') || route === '/api/v1/ws');
    monitoring.requests.add(Date.now(), reply.statusCode < 500 ? 1 : 0, 1, reply.elapsedTime);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Tickflow API', version: '1.0.0', description: 'Reads of the Tickflow pipeline\'s ClickHouse projections, commands onto its Kafka topics, and a WebSocket fan-out.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  // Per client: the authenticated user when there is a token, else the address. Runs as a
  // preHandler so identify() has set req.user. Default API_RATE_LIMIT_PER_MINUTE=600.
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: deps.config.api.rateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (req) => (req.user ? `user:${req.user.id}` : `ip:${req.ip}`),
  });
  installReadCache(app as unknown as FastifyInstance, deps.config.api.readCacheMs);

  app.get('/', {
    schema: {
      tags: ['health'], summary: 'Health check (unversioned)',
      response: {
        200: Type.Object({
          service: Type.String(), status: HealthStatusSchema, version: Type.String(), api: Type.String(), openapi: Type.String(),
          checked_at: Type.String({ format: 'date-time' }),
          reasons: Type.Array(Type.String()),
          components: Type.Array(Type.Object({ name: Type.String(), status: HealthStatusSchema })),
        }),
      },
    },
  }, async () => {
    const h = await monitoring.health.report();
    return {
      service: 'tickflow', status: h.status, version: '0.1.0', api: '/api/v1', openapi: OPENAPI_PATH,
      checked_at: h.checked_at, reasons: h.reasons, components: h.components.map((c) => ({ name: c.name, status: c.status })),
    };
  });

  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());

  await app.register(async (v1) => {
    await v1.register(marketRoutes, { prefix: '/market' });
    await v1.register(wsRoutes);
    await v1.register(mlRoutes);
    await v1.register(predictionRoutes, { prefix: '/predictions' });
    await v1.register(signalsBacktestRoutes, { prefix: '/signals' });
    await v1.register(alertsRoutes, { prefix: '/alerts' });
    await v1.register(exchangesRoutes, { prefix: '/exchanges' });
    await v1.register(proxyRoutes, { prefix: '/proxy' });
    await v1.register(signalsRoutes, { prefix: '/signals' });
    await v1.register(monitoringRoutes, { prefix: '/monitoring' });
    // Analyst SQL reads every user's rows, so it is an admin route.
    await v1.register(async (admin) => { admin.addHook('preHandler', requireAdmin); await admin.register(sqlRoutes); });
    await v1.register(adminRoutes, { prefix: '/admin' });
  }, { prefix: '/api/v1' });

  return app as unknown as FastifyInstance;
}
