import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { IngestDeps } from '../app';
import { requireOperator, type OperatorAccess } from '../operator';
import { problemBody } from '../problem';
import { analyticsRoutes } from '../routes/analytics';
import { preferencesRoutes } from '../routes/preferences';
import { ASSETS_PATH, DASHBOARD_PATH } from './html';
import { overviewPages } from './overview';
import { communicationPages } from './communications';
import { preferencePages } from './preferences';
import { templatePages } from './templates';

const contentTypes: Record<string, string> = { css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8' };

/** The dashboard's static files, read once at start: every .css and .js of public/, and uPlot's. */
function loadAssets(): Map<string, { type: string; body: Buffer }> {
  const publicDir = join(__dirname, '..', '..', 'public');
  const uplotDir = join(require.resolve('uplot/package.json'), '..', 'dist');
  const files = [
    ...readdirSync(publicDir).map((name) => join(publicDir, name)),
    join(uplotDir, 'uPlot.iife.min.js'),
    join(uplotDir, 'uPlot.min.css'),
  ];
  const assets = new Map<string, { type: string; body: Buffer }>();
  for (const file of files) {
    const name = file.slice(file.lastIndexOf('/') + 1);
    const type = contentTypes[name.slice(name.lastIndexOf('.') + 1)];
    if (type) assets.set(name, { type, body: readFileSync(file) });
  }
  return assets;
}

/** The origin a request was made to, as a browser writes it in `Origin`. */
const ownOrigin = (request: FastifyRequest): string => `${request.protocol}://${request.host}`;

/**
 * A write through the dashboard (POST, PUT, DELETE) must come from the dashboard itself: a
 * browser sends `Origin` with every such request, and it must be this site's. The session
 * cookie is SameSite=Strict already; this is the second lock (OWASP: verify the origin).
 * A script using HTTP Basic sends no Origin and is let through: it holds the password.
 */
function sameOriginWrites(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  if (request.method === 'GET' || request.method === 'HEAD') return done();
  const origin = request.headers.origin;
  const basic = /^Basic /i.test(request.headers.authorization ?? '');
  if ((origin === undefined && basic) || origin === ownOrigin(request)) return done();
  const body = problemBody('cross_origin_write', 'origin: a dashboard write must come from the dashboard', [
    { field: 'origin', in: 'header', message: 'must be this site' },
  ]);
  void reply.code(body.status).type('application/problem+json').send(body);
}

/**
 * The operator dashboard at `/dashboard`, behind the operator login ({@link requireOperator}):
 * server-rendered pages (overview, channels and engagement, communications, preferences,
 * templates) with one small script for the charts and the preferences form. The preferences
 * and analytics API routes are mounted again under `/dashboard/api/crm/…` for the operator's
 * session (the same code, schemas and validation as `/api/crm/…`, which needs an API key).
 */
export const dashboardRoutes: FastifyPluginAsync<IngestDeps & { operator: OperatorAccess }> = async (app, deps) => {
  const assets = loadAssets();
  await app.register(async (gated) => {
    gated.addHook('onRequest', requireOperator(deps.operator));
    gated.addHook('onRequest', sameOriginWrites);

    gated.get<{ Params: { name: string } }>(`${ASSETS_PATH}/:name`, async (request, reply) => {
      const asset = assets.get(request.params.name);
      if (!asset) {
        const body = problemBody('not_found', `no asset ${request.params.name}`, [{ field: 'name', in: 'params', message: 'no such asset' }]);
        return reply.code(404).type('application/problem+json').send(body);
      }
      return reply.type(asset.type).header('cache-control', 'private, max-age=300').header('x-content-type-options', 'nosniff').send(asset.body);
    });
    gated.get(`${DASHBOARD_PATH}/`, async (_request, reply) => reply.redirect(DASHBOARD_PATH, 301));

    await gated.register(overviewPages, deps);
    await gated.register(communicationPages, deps);
    await gated.register(preferencePages, deps);
    await gated.register(templatePages, deps);
    // The API's own routes, for the operator's session: exports and the preferences form.
    await gated.register(preferencesRoutes, { ...deps, prefix: DASHBOARD_PATH });
    await gated.register(analyticsRoutes, { ...deps, prefix: DASHBOARD_PATH });
  });
};
