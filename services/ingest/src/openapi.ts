import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastifySwagger, { type SwaggerTransform, type SwaggerTransformObject } from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { createJsonSchemaTransform, createJsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { JsonValueSchema } from '@crm/core';
import { DASHBOARD_PATH } from './dashboard/html';
import { BULL_BOARD_PATH, LOGIN_PATH, LOGOUT_PATH } from './operator';
import { problemTypes, type ProblemCode } from './problem';

/** Where Swagger UI is served; the document itself is at `${DOCS_PATH}/json` (and `/yaml`). */
export const DOCS_PATH = '/docs';

/** The security schemes of the document, by name. */
export const securitySchemeNames = Object.freeze({ apiKey: 'bearerAuth', operatorBasic: 'operatorBasic', operatorSession: 'operatorSession' });

const PROBLEM_RESPONSE_REF = '#/components/responses/Problem';

/**
 * Schemas written once under components/schemas and referenced: the recursive JSON value (of
 * `variables` and `metadata`), which cannot be inlined. A registry of this module's own, not zod's
 * global one. Each gets an output and an input component (`JsonValue`, `JsonValueInput`).
 */
const componentSchemas = z.registry<{ id: string }>();
componentSchemas.add(JsonValueSchema, { id: 'JsonValue' });
const jsonSchemaTransform = createJsonSchemaTransform({ schemaRegistry: componentSchemas });
const jsonSchemaTransformObject = createJsonSchemaTransformObject({ schemaRegistry: componentSchemas });

/** Tags of the document, in the order Swagger UI shows them. */
const tags = [
  { name: 'communications', description: 'Ask for messages, read them back, cancel them, dry-run the strategy.' },
  { name: 'attachments', description: 'Upload a PDF, PNG or JPEG to send with an email.' },
  { name: 'templates', description: 'Email templates rendered with their sample data.' },
  { name: 'preferences', description: "A client's channels, time zone, quiet hours, opt-outs and contact details." },
  { name: 'clients', description: 'Erasure and export of everything held about a client.' },
  { name: 'analytics', description: 'Delivery and engagement figures, CSV export, PDF report.' },
  { name: 'callbacks', description: 'Subscriptions to signed event callbacks.' },
  { name: 'webhooks', description: 'Provider callbacks (Twilio, WhatsApp Cloud API), authenticated by the provider\'s signature, not by an API key.' },
  { name: 'tracking', description: 'Open pixel, click redirect and unsubscribe links of emails: public, authorised by the signed token in the path.' },
  { name: 'operator', description: 'The operator login, the dashboard (and its copies of the preferences and analytics routes) and Bull Board.' },
  { name: 'ops', description: 'Liveness, readiness and Prometheus metrics: no auth; bind or firewall them in production.' },
];

/** The tag of a route's URL. */
function tagOf(url: string): string {
  const api = /^\/api\/crm\/([a-z]+)/.exec(url);
  if (api) return tags.some((tag) => tag.name === api[1]) ? api[1]! : 'communications';
  if (url.startsWith('/webhooks/')) return 'webhooks';
  if (url.startsWith('/t/') || url.startsWith('/u/')) return 'tracking';
  if (url === '/health' || url === '/ready' || url === '/metrics') return 'ops';
  return 'operator';
}

/** Whether the route is behind the operator login (its form and the logout are not). */
const isOperatorOnly = (url: string): boolean => url.startsWith(DASHBOARD_PATH) || url.startsWith(BULL_BOARD_PATH);

/** Bull Board's own API and static routes: its page is documented, its internals are not. */
const isBullBoardInternal = (url: string): boolean => url.startsWith(`${BULL_BOARD_PATH}/`);

/** Summaries of the routes whose plugins are not under routes/: the operator pages and the dashboard. */
function operatorSummary(method: string, url: string): string | undefined {
  if (url === LOGIN_PATH) {
    return method === 'GET'
      ? 'The operator login form (HTML)'
      : 'Log in: form-encoded username, password and next; sets the session cookie and redirects (303). A wrong login answers the form again with 401, too many failures from one address 429 (HTML)';
  }
  if (url === LOGOUT_PATH) return 'Log out: clears the session cookie and redirects (303) to the login form';
  if (url === BULL_BOARD_PATH) return 'Bull Board: the queues, their jobs and their failures (HTML)';
  if (url.startsWith(`${DASHBOARD_PATH}/api/`)) return `${method} ${url.slice(DASHBOARD_PATH.length)} for the operator's session: the same schemas and answers`;
  if (url.startsWith(DASHBOARD_PATH)) return 'A page or asset of the operator dashboard (see docs/dashboard.md)';
  return undefined;
}

/**
 * The answers of routes that declare none (redirects and HTML pages of plugins outside routes/),
 * as JSON Schema for the document only: Fastify never sees them.
 */
function undeclaredResponses(method: string, url: string): Record<string, unknown> | undefined {
  const page = (description: string) => ({ description, content: { 'text/html': { schema: { type: 'string' } } } });
  const redirect = (description: string) => ({ description, type: 'null' });
  if (url === '/t/c/*') return { 302: redirect('To exactly the URL signed into the token (Location)') };
  if (url === LOGIN_PATH && method === 'POST') {
    return {
      303: redirect('Logged in: the session cookie is set; to `next` if it is a local path, else /dashboard'),
      401: page('A wrong user name or password: the form again'),
      429: page('Too many failed logins from this address: the form again, with Retry-After'),
    };
  }
  if (url === LOGIN_PATH) return { 200: page('The form') };
  if (url === LOGOUT_PATH) return { 303: redirect('To the login form') };
  if (url === `${DASHBOARD_PATH}/`) return { 301: redirect('To /dashboard') };
  if (url.startsWith(`${DASHBOARD_PATH}/assets/`)) return { 200: { description: 'A CSS or JavaScript file', content: { 'text/css': { schema: { type: 'string' } }, 'text/javascript': { schema: { type: 'string' } } } } };
  if (url === BULL_BOARD_PATH || (url.startsWith(DASHBOARD_PATH) && !url.startsWith(`${DASHBOARD_PATH}/api/`))) return { 200: page('The page') };
  return undefined;
}

/**
 * The requests of routes that read them in code rather than by schema (webhooks verify the
 * signature over the raw body first; the login form), for the document only.
 */
function undeclaredRequest(method: string, url: string): FastifySchema {
  const signature = (name: string, description: string) => ({ type: 'object', required: [name], properties: { [name]: { type: 'string', description } } });
  if (url.startsWith('/webhooks/twilio/')) {
    return {
      consumes: ['application/x-www-form-urlencoded'],
      body: { type: 'object', description: "Twilio's parameters (MessageSid, MessageStatus, ErrorCode, From, To, Body, …), form-encoded", additionalProperties: { type: 'string' } },
      headers: signature('x-twilio-signature', "Base64 HMAC-SHA1, with the account's auth token, of the URL Twilio called (PUBLIC_BASE_URL with path and query) followed by the sorted POST parameters. Missing or wrong: 403 invalid_signature."),
    };
  }
  if (url === '/webhooks/whatsapp' && method === 'POST') {
    return {
      body: { type: 'object', description: "Meta's webhook payload: `entry[].changes[].value` with `statuses[]` and `messages[]`" },
      headers: signature('x-hub-signature-256', '`sha256=` and the hex HMAC-SHA256, with the Meta app secret, of the raw body. Missing or wrong: 403 invalid_signature.'),
    };
  }
  if (url === '/webhooks/whatsapp') {
    return {
      querystring: {
        type: 'object',
        required: ['hub.mode', 'hub.verify_token', 'hub.challenge'],
        properties: { 'hub.mode': { const: 'subscribe' }, 'hub.verify_token': { type: 'string' }, 'hub.challenge': { type: 'string' } },
      },
    };
  }
  if (url === LOGIN_PATH && method === 'POST') return { consumes: ['application/x-www-form-urlencoded', 'application/json'] };
  return {};
}

type Operation = Record<string, unknown> & { responses?: Record<string, unknown> };

/**
 * The route's zod schemas as JSON Schema (fastify-type-provider-zod's transform), with its tag,
 * its security, and, where its plugin declares none, a summary, its answers and its request
 * (webhooks' signature headers). Bull Board's internals are hidden; the tracking routes'
 * wildcard becomes a `{token}` parameter.
 */
const transform: SwaggerTransform = (document) => {
  const { route } = document;
  // Bull Board's page is one route under its prefix, `/admin/queues/`; Fastify answers `/admin/queues` with it too.
  const url = document.url === `${BULL_BOARD_PATH}/` ? BULL_BOARD_PATH : document.url;
  if (isBullBoardInternal(url)) return { schema: { hide: true }, url };
  // Routes without a schema (the dashboard's pages, webhooks, tracking) come back without one.
  const { hide, ...transformed } = (jsonSchemaTransform(document).schema as FastifySchema | undefined) ?? {};
  // Bull Board hides its routes; its page is one of ours.
  if (hide && url !== BULL_BOARD_PATH) return { schema: { hide }, url };
  const method = (Array.isArray(route.method) ? route.method[0] : route.method) as string;
  const result: FastifySchema = { ...transformed, tags: [tagOf(url)] };
  if (url.startsWith('/api/')) result.security = [{ [securitySchemeNames.apiKey]: [] }];
  else if (isOperatorOnly(url)) result.security = [{ [securitySchemeNames.operatorBasic]: [] }, { [securitySchemeNames.operatorSession]: [] }];
  const summary = result.summary ?? operatorSummary(method, url);
  if (summary !== undefined) result.summary = summary;
  const responses = result.response === undefined ? undeclaredResponses(method, url) : undefined;
  if (responses) result.response = responses;
  for (const [key, value] of Object.entries(undeclaredRequest(method, url))) {
    if (result[key as keyof FastifySchema] === undefined) Object.assign(result, { [key]: value });
  }
  // The tracking routes take their token as a wildcard (see routes/tracking.ts): a path parameter here.
  if (url.endsWith('/*')) {
    result.params = { type: 'object', required: ['token'], properties: { token: { type: 'string', description: 'The signed token of the link, as the email carries it' } } };
    return { schema: result, url: `${url.slice(0, -1)}{token}` };
  }
  return { schema: result, url };
};

/** RFC 9457 problem details, as every error of the API is answered (see problem.ts). */
const ProblemSchema = z.looseObject({
  type: z.string().describe('A link to the code in docs/api.md'),
  title: z.string().describe("The code's fixed title"),
  status: z.number().int().describe('The HTTP status, repeated'),
  detail: z.string().describe('What is wrong with this request: field names, never their values'),
  code: z.enum(Object.keys(problemTypes) as [ProblemCode, ...ProblemCode[]]).describe('Stable, machine-readable'),
  errors: z
    .array(z.object({
      field: z.string().describe('Dotted path (`recipient.email`, `items.3.messageType`) or a header name'),
      in: z.enum(['body', 'query', 'params', 'header']),
      message: z.string(),
    }))
    .optional()
    .describe('One entry per bad field'),
});

/** The code table in the Problem response's description: `code` (status) title. */
const problemCodes = Object.entries(problemTypes).map(([code, { status, title }]) => `- \`${code}\` (${status}): ${title}`).join('\n');

/**
 * The finished document: the Problem schema and response as components, referenced as `4XX`
 * and `5XX` by every operation that does not describe its own.
 */
const transformObject: SwaggerTransformObject = (document) => {
  if (!('openapiObject' in document)) throw new Error('crm-engine documents OpenAPI 3, not Swagger 2');
  const spec = jsonSchemaTransformObject(document) as typeof document.openapiObject;
  const { $schema: _ignored, ...problem } = z.toJSONSchema(ProblemSchema, { target: 'draft-2020-12' });
  const paths = (spec.paths ?? {}) as Record<string, Record<string, Operation>>;
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      const responses = (operation.responses ??= {});
      // A route's own 4xx answers (the login form's) come first; the other codes are problems.
      responses['4XX'] ??= { $ref: PROBLEM_RESPONSE_REF };
      responses['5XX'] ??= { $ref: PROBLEM_RESPONSE_REF };
    }
  }
  return {
    ...spec,
    components: {
      ...spec.components,
      schemas: { ...spec.components?.schemas, Problem: problem },
      responses: {
        Problem: {
          description: `An RFC 9457 problem (application/problem+json). The codes:\n\n${problemCodes}`,
          content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        },
      },
    },
  } as ReturnType<SwaggerTransformObject>;
};

/** The version of @crm/ingest (its package.json, next to src/ and dist/). */
function packageVersion(): string {
  const { version } = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return version;
}

/**
 * Collects the OpenAPI 3.1 document of every route registered after it (@fastify/swagger, with
 * the zod schemas turned into JSON Schema) and serves Swagger UI at {@link DOCS_PATH}, with its
 * own assets (no CDN: it works offline). Public: the document holds routes and schemas, no
 * secret (docs/api.md). Register it before the routes.
 *
 * @example
 * await registerOpenApi(app);
 * await app.register(healthRoutes, deps);
 * await app.ready();
 * const spec = app.swagger();
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'crm-engine',
        version: packageVersion(),
        description:
          'The HTTP API of crm-engine\'s ingest service. `/api/*` needs an API key (`Authorization: Bearer <key>`); ' +
          'the operator pages need the operator login; webhooks are authenticated by the provider\'s signature, ' +
          'tracking links by their signed token. Every error is an RFC 9457 problem (`application/problem+json`). ' +
          'Prose, limits and examples: docs/api.md.',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      tags,
      components: {
        securitySchemes: {
          [securitySchemeNames.apiKey]: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'API key',
            description: 'An API key (`crm_live_…`, from `npm run apikey:create`): `Authorization: Bearer <API key>`.',
          },
          [securitySchemeNames.operatorBasic]: {
            type: 'http',
            scheme: 'basic',
            description: 'The operator (OPERATOR_USERNAME, OPERATOR_PASSWORD), for scripts. Without OPERATOR_PASSWORD the operator routes answer 503.',
          },
          [securitySchemeNames.operatorSession]: {
            type: 'apiKey',
            in: 'cookie',
            name: 'crm_operator',
            description: 'The session cookie set by POST /login (`__Host-crm_operator` when PUBLIC_BASE_URL is https), valid 12 h.',
          },
        },
      },
    },
    transform,
    transformObject,
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: DOCS_PATH,
    uiConfig: { docExpansion: 'list', deepLinking: true },
    // Swagger UI's own assets only; its React styles are inline.
    staticCSP: "default-src 'self'; base-uri 'self'; img-src 'self' data:; object-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  });
}
