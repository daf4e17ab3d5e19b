import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Fastify from 'fastify';
import type { FastifyServerOptions, RouteOptions } from 'fastify';
import { signTrackingToken } from '@crm/core';
import { twilioSignature } from '@crm/providers';
import { startTestIngest, testWebhooks, type TestIngest } from '../../services/ingest/test/support/test-ingest';
import { OPENAPI_PATH, openApiJson } from '../src/openapi';

/** Every route the app registers, as Fastify's own onRoute hook sees it (independently of @fastify/swagger). */
const mockRoutes: { method: string; url: string }[] = [];

// buildApp creates its Fastify instance itself: the factory is wrapped to add the hook first.
jest.mock('fastify', () => {
  const actual = jest.requireActual<typeof Fastify & Record<string, unknown>>('fastify');
  const withRouteList = ((options?: FastifyServerOptions) => {
    const app = actual(options);
    app.addHook('onRoute', (route: RouteOptions) => {
      for (const method of Array.isArray(route.method) ? route.method : [route.method]) mockRoutes.push({ method, url: route.url });
    });
    return app;
  }) as typeof Fastify;
  return Object.assign(withRouteList, actual, { default: withRouteList, fastify: withRouteList });
});

interface Operation {
  security?: Record<string, string[]>[];
  responses: Record<string, { $ref?: string }>;
}
interface Spec {
  paths: Record<string, Record<string, Operation>>;
  components: { responses: Record<string, { content: Record<string, { schema: { $ref: string } }> }>; schemas: Record<string, unknown> };
}

const root = join(__dirname, '..', '..');
const TRACKING_SECRET = 'openapi-test-tracking-secret';
let ingest: TestIngest;
let text: string;
let spec: Spec;

beforeAll(async () => {
  ingest = await startTestIngest('openapi-test', {
    email: { trackingSecret: TRACKING_SECRET, machineOpenWindowMs: 5_000, attachmentMaxTotalBytes: 1_048_576 },
    webhooks: testWebhooks,
  });
  text = await openApiJson(ingest.app);
  spec = JSON.parse(text) as Spec;
});
afterAll(() => ingest.close());

/** The OpenAPI path of a Fastify URL: `:id` → `{id}`, a trailing wildcard → `{token}` (the tracking routes). */
const openApiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\/\*$/, '/{token}');

/** The routes the document must describe: not HEAD duplicates, not Swagger UI's own, not Bull Board's internals. */
const documentedRoutes = () =>
  mockRoutes.filter(({ method, url }) => method !== 'HEAD' && url !== '/docs' && !url.startsWith('/docs/') && !url.startsWith('/admin/queues/'));

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1', () => {
    // @apidevtools/swagger-parser's resolver is ESM only, which jest cannot load: Node itself validates.
    const validate = "require('@apidevtools/swagger-parser').validate(JSON.parse(require('node:fs').readFileSync(0, 'utf8')))" +
      ".then((api) => process.stdout.write(JSON.stringify({ openapi: api.openapi, info: api.info })), (error) => { process.stderr.write(error.message); process.exit(1); })";
    const result = spawnSync(process.execPath, ['-e', validate], { cwd: __dirname, input: text, encoding: 'utf8' });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toMatchObject({ openapi: '3.1.0', info: { title: 'crm-engine', version: expect.stringMatching(/^\d+\.\d+\.\d+/) } });
  });

  it('describes every route Fastify has, with its methods, and no other', () => {
    const routes = documentedRoutes();
    expect(routes.length).toBeGreaterThan(30);
    const missing = routes.filter(({ method, url }) => spec.paths[openApiPath(url)]?.[method.toLowerCase()] === undefined);
    expect(missing).toEqual([]);
    const known = new Set(routes.map(({ method, url }) => `${method.toLowerCase()} ${openApiPath(url)}`));
    const extra = Object.entries(spec.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`)).filter((operation) => !known.has(operation));
    expect(extra).toEqual([]);
    expect(spec.paths['/admin/queues']?.get).toBeDefined();
  });

  it('gives every /api route the bearer API key and a problem response for 4xx, and describes the problem once', () => {
    const api = Object.entries(spec.paths).filter(([path]) => path.startsWith('/api/'));
    expect(api.length).toBeGreaterThan(10);
    for (const [path, item] of api) {
      for (const [method, operation] of Object.entries(item)) {
        const where = `${method} ${path}`;
        expect({ where, security: operation.security }).toEqual({ where, security: [{ bearerAuth: [] }] });
        const problem = Object.entries(operation.responses).find(([status, response]) => status.startsWith('4') && response.$ref === '#/components/responses/Problem');
        expect({ where, problem: problem !== undefined }).toEqual({ where, problem: true });
      }
    }
    expect(spec.components.responses.Problem!.content['application/problem+json']!.schema).toEqual({ $ref: '#/components/schemas/Problem' });
    expect(spec.components.schemas.Problem).toBeDefined();
  });

  it('puts the operator pages behind the operator login, and webhooks, tracking and health behind nothing', () => {
    expect(spec.paths['/dashboard']!.get!.security).toEqual([{ operatorBasic: [] }, { operatorSession: [] }]);
    expect(spec.paths['/admin/queues']!.get!.security).toEqual([{ operatorBasic: [] }, { operatorSession: [] }]);
    for (const [path, method] of [['/webhooks/whatsapp', 'post'], ['/t/o/{token}', 'get'], ['/health', 'get'], ['/login', 'post']] as const) {
      expect({ path, security: spec.paths[path]![method]!.security }).toEqual({ path, security: undefined });
    }
  });

  it('is served with Swagger UI at /docs, from its own assets', async () => {
    const json = await ingest.app.inject({ method: 'GET', url: '/docs/json' });
    expect(json.statusCode).toBe(200);
    expect(json.json()).toMatchObject({ openapi: '3.1.0' });
    const yaml = await ingest.app.inject({ method: 'GET', url: '/docs/yaml' });
    expect([yaml.statusCode, yaml.body.startsWith('openapi: 3.1.0')]).toEqual([200, true]);
    const page = await ingest.app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(assets.length).toBeGreaterThan(0);
    // No CDN: every asset is this server's.
    expect(assets.filter((asset) => /^(https?:)?\/\//.test(asset))).toEqual([]);
    for (const asset of assets) {
      const response = await ingest.app.inject({ method: 'GET', url: asset.startsWith('/') ? asset : `/docs/${asset.replace(/^\.\//, '')}` });
      expect({ asset, status: response.statusCode }).toEqual({ asset, status: 200 });
    }
  });

  it('documents the routes without changing what they answer', async () => {
    const get = (url: string) => ingest.app.inject({ method: 'GET', url, headers: ingest.auth });
    const json = await get('/api/crm/templates/welcome/preview');
    expect(json.statusCode).toBe(200);
    expect(json.json()).toMatchObject({ messageType: 'welcome', channel: 'email', validation: expect.any(Object) });
    const html = await get('/api/crm/templates/welcome/preview?format=html');
    expect([html.statusCode, html.headers['content-type'], html.body.startsWith('<!doctype html>')]).toEqual([200, 'text/html; charset=utf-8', true]);
    const csv = await get('/api/crm/analytics/export.csv');
    expect([csv.statusCode, csv.headers['content-type']]).toEqual([200, 'text/csv; charset=utf-8']);
    const pdf = await get('/api/crm/analytics/report.pdf');
    expect([pdf.statusCode, pdf.headers['content-type'], pdf.rawPayload.subarray(0, 5).toString()]).toEqual([200, 'application/pdf', '%PDF-']);
    const metrics = await get('/metrics');
    expect([metrics.statusCode, metrics.headers['content-type']?.toString().startsWith('text/plain')]).toEqual([200, true]);
    const pixel = await get('/t/o/not-a-token');
    expect([pixel.statusCode, pixel.headers['content-type'], pixel.json().code]).toEqual([404, 'application/problem+json; charset=utf-8', 'not_found']);
    const communicationId = '7d9f1c2e-0b1a-4c3d-8e9f-0a1b2c3d4e5f';
    const gif = await get(`/t/o/${signTrackingToken(TRACKING_SECRET, { k: 'o', c: communicationId })}`);
    expect([gif.statusCode, gif.headers['content-type'], gif.rawPayload.subarray(0, 6).toString()]).toEqual([200, 'image/gif', 'GIF89a']);
    const click = await get(`/t/c/${signTrackingToken(TRACKING_SECRET, { k: 'c', c: communicationId, u: 'https://example.com/plan' })}`);
    expect([click.statusCode, click.headers.location]).toEqual([302, 'https://example.com/plan']);
    const handshake = await get(`/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${testWebhooks.whatsappVerifyToken}&hub.challenge=1158201444`);
    expect([handshake.statusCode, handshake.headers['content-type'], handshake.body]).toEqual([200, 'text/plain; charset=utf-8', '1158201444']);
    const inbound = await ingest.app.inject({
      method: 'POST',
      url: '/webhooks/twilio/inbound',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilioSignature(testWebhooks.twilioAuthToken, `${testWebhooks.publicBaseUrl}/webhooks/twilio/inbound`, { AccountSid: 'AC1' }),
      },
      payload: 'AccountSid=AC1',
    });
    expect([inbound.statusCode, inbound.headers['content-type'], inbound.body.includes('<Response')]).toEqual([200, 'text/xml; charset=utf-8', true]);
    const health = await get('/health');
    expect(health.json()).toEqual({ status: 'ok' });
  });

  it('is what docs/openapi.json holds', () => {
    const onDisk = readFileSync(join(root, OPENAPI_PATH), 'utf8');
    if (onDisk !== text) throw new Error(`${OPENAPI_PATH} is out of date: run npm run openapi (and commit the file)`);
  });
});
