import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { kindOf, requestFor, type FuzzRequest } from './arbitraries';
import type { FuzzTarget, RouteInfo, StateSnapshot } from './target';

/** What a route answers on success when it is not JSON (by design). */
export function expectedType(route: RouteInfo): RegExp {
  const url = route.url;
  if (url.startsWith('/t/o/')) return /^image\/gif/;
  if (url.startsWith('/u/')) return /^text\/html/;
  if (url === '/webhooks/twilio/inbound') return /^text\/xml/;
  if (url === '/webhooks/whatsapp' && route.method !== 'POST') return /^text\/plain/;
  if (url === '/metrics') return /^text\/plain/;
  if (url.endsWith('.csv')) return /^text\/csv/;
  if (url.endsWith('.pdf')) return /^application\/pdf/;
  if (url.startsWith('/dashboard/assets/') || url.startsWith('/docs/static') || url.startsWith('/admin/queues/static')) return /^(text\/css|application\/javascript|text\/javascript|image\/|application\/json|font\/|text\/html|text\/plain|application\/octet-stream)/;
  if (url.startsWith('/dashboard/api/')) return /^application\/json/;
  if (url.startsWith('/dashboard') || url.startsWith('/admin/queues') || url === '/login' || url.startsWith('/docs')) return /^(text\/html|application\/json|application\/javascript|text\/css|application\/(x-)?yaml|text\/plain)/;
  return /^application\/json/;
}

/** Operator pages (HTML) whose 4xx is an HTML page for the browser rather than problem details (by design). */
const isOperatorPage = (route: RouteInfo): boolean =>
  route.url === '/login' || route.url === '/logout' || (route.url.startsWith('/dashboard') && !route.url.startsWith('/dashboard/api/'));

/**
 * Third-party routes mounted in ingest that answer their own error shape (JSON, not problem
 * details): Bull Board's API and assets and Swagger UI. Reported, not counted as failures.
 */
export const isThirdParty = (route: RouteInfo): boolean =>
  (route.url.startsWith('/admin/queues/') && route.url !== '/admin/queues/') || route.url.startsWith('/docs/');

const leakPatterns: readonly (readonly [string, RegExp])[] = [
  ['a stack frame', /\n\s+at [^\n]*:\d+:\d+/],
  ['a .ts: source location', /\.ts:\d/],
  ['node_modules', /node_modules/],
  ['an internal path', /\/work\/main|\/home\/|\/usr\/src\/app/],
  ['Error: with a stack', /Error: [^\n]*\n\s+at /],
];

const textOf = (request: FuzzRequest): string => `${request.url}\n${JSON.stringify(request.headers)}\n${request.payload ?? ''}`;

/** Every property of one answer that does not hold (empty: all hold). */
export function problemsOf(route: RouteInfo, request: FuzzRequest, response: LightMyRequestResponse): string[] {
  const problems: string[] = [];
  const status = response.statusCode;
  const type = String(response.headers['content-type'] ?? '');
  if (status >= 500) problems.push(`answered ${status}: ${response.body.slice(0, 300)}`);
  const sent = textOf(request);
  const isStatic = /javascript|css|image\//.test(type);
  if (!isStatic) {
    for (const [what, pattern] of leakPatterns) {
      const found = pattern.exec(response.body);
      // What the request itself carried may be echoed back (the handshake's challenge, a field's name).
      if (found && !sent.includes(found[0].trim())) problems.push(`the body shows ${what}: …${response.body.slice(Math.max(0, found.index - 80), found.index + 120)}…`);
    }
  }
  if (request.method === 'HEAD') return problems;
  const allowedPage = isOperatorPage(route) && type.startsWith('text/html');
  const allowedThirdParty = isThirdParty(route) && type.startsWith('application/json');
  if (status >= 400 && status < 500 && !allowedPage && !allowedThirdParty) {
    if (!type.startsWith('application/problem+json')) problems.push(`${status} answered ${type || 'no content type'}, not application/problem+json: ${response.body.slice(0, 200)}`);
    else {
      let code: unknown;
      try {
        code = (JSON.parse(response.body) as { code?: unknown }).code;
      } catch {
        code = undefined;
      }
      if (typeof code !== 'string' || code === '') problems.push(`${status} problem has no code: ${response.body.slice(0, 200)}`);
    }
  }
  if (status >= 200 && status < 300 && status !== 204 && response.body.length > 0 && !expectedType(route).test(type)) {
    problems.push(`${status} answered ${type || 'no content type'}, expected ${expectedType(route).source}`);
  }
  if (route.url.startsWith('/t/c/') && status === 302) {
    const location = String(response.headers.location ?? '');
    if (!location.startsWith('https://example.com/')) problems.push(`click redirected to ${location}, not the signed URL`);
  }
  return problems;
}

const differences = (before: StateSnapshot, after: StateSnapshot): string[] => {
  const changed = Object.keys(after.tables).filter((table) => before.tables[table] !== after.tables[table]).map((table) => `${table}: ${before.tables[table]} → ${after.tables[table]}`);
  if (before.redisKeys !== after.redisKeys) changed.push(`Redis keys: ${before.redisKeys} → ${after.redisKeys}`);
  return changed;
};

/** A replay must write nothing where the API promises idempotency: webhooks (by event id) and requests with an idempotency key. */
function replayMustWriteNothing(route: RouteInfo, request: FuzzRequest): boolean {
  const kind = kindOf(route);
  if (kind === 'twilio' || kind === 'whatsapp') return true;
  if (!/^\/api\/crm\/communications(\/batch)?$/.test(route.url) || request.method !== 'POST') return false;
  const header = request.headers['idempotency-key'];
  if (route.url.endsWith('/batch')) return typeof header === 'string';
  return typeof header === 'string' || /"idempotencyKey":"[^"]/.test(request.payload ?? '');
}

/** Sends one request and checks every property; throws with all that failed. */
export async function check(target: FuzzTarget, route: RouteInfo, request: FuzzRequest): Promise<number> {
  const send = () => target.app.inject({ method: request.method as 'GET', url: request.url, headers: request.headers, ...(request.payload !== undefined && { payload: request.payload }) });
  const before = await target.snapshot();
  const response = await send();
  const problems = problemsOf(route, request, response);
  if (response.statusCode >= 400) {
    const changed = differences(before, await target.snapshot());
    if (changed.length > 0) problems.push(`rejected with ${response.statusCode} but wrote: ${changed.join('; ')}`);
  } else if (request.replay) {
    const between = await target.snapshot();
    const again = await send();
    problems.push(...problemsOf(route, request, again).map((p) => `on replay: ${p}`));
    const changed = differences(between, await target.snapshot());
    if (again.statusCode >= 400 && changed.length > 0) problems.push(`replay rejected with ${again.statusCode} but wrote: ${changed.join('; ')}`);
    else if (replayMustWriteNothing(route, request) && changed.length > 0) problems.push(`replay (${again.statusCode}) wrote again: ${changed.join('; ')}`);
  }
  if (problems.length > 0) throw new Error(`${request.method} ${route.url} → ${response.statusCode}\n  ${problems.join('\n  ')}`);
  return response.statusCode;
}

/** The seed of one route: the run's seed mixed with the route's name, so that routes do not all draw the same cases. */
export function routeSeed(seed: number, route: RouteInfo): number {
  let hash = seed | 0;
  for (const char of `${route.method} ${route.url}`) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) | 0;
  return hash >>> 1;
}

/** The outcome of fuzzing one route. */
export interface RouteResult {
  readonly route: string;
  readonly cases: number;
  readonly ms: number;
  /** How many answers had each status (e.g. `{ 202: 40, 400: 900 }`), to see how deep the cases reached. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Present when a property failed: the shrunk counterexample and how to replay it. */
  readonly failure?: { readonly message: string; readonly counterexample: string; readonly seed: number; readonly path: string };
}

/** The outcome of a whole run. */
export interface FuzzResult {
  readonly seed: number;
  readonly runs: number;
  readonly routes: readonly RouteResult[];
  readonly ms: number;
}

/** Shortens a counterexample for printing: long strings are cut, with their length. */
export function describeRequest(request: FuzzRequest): string {
  return JSON.stringify(request, (_key, value: unknown) => (typeof value === 'string' && value.length > 200 ? `${value.slice(0, 120)}…(${value.length} chars)` : value), 1);
}

/**
 * Fuzzes every route of `target` with `runs` cases in all (shared evenly, at least `minPerRoute`
 * each), with one seed for the whole run; reports each route as it ends.
 */
export async function runFuzz(
  target: FuzzTarget,
  options: { readonly runs: number; readonly seed: number; readonly minPerRoute?: number; readonly only?: (route: RouteInfo) => boolean; readonly onRoute?: (result: RouteResult) => void },
): Promise<FuzzResult> {
  const routes = target.routes.filter(options.only ?? (() => true));
  const perRoute = Math.max(options.minPerRoute ?? 1, Math.ceil(options.runs / Math.max(1, routes.length)));
  const started = Date.now();
  const results: RouteResult[] = [];
  for (const route of routes) {
    const routeStarted = Date.now();
    const statuses: Record<string, number> = {};
    const property = fc.asyncProperty(requestFor(route, target.seed), async (request) => {
      const status = await check(target, route, request);
      statuses[status] = (statuses[status] ?? 0) + 1;
    });
    const seed = routeSeed(options.seed, route);
    const details = await fc.check(property, { numRuns: perRoute, seed, endOnFailure: false, interruptAfterTimeLimit: 600_000 });
    const counterexample = details.counterexample?.[0];
    const result: RouteResult = {
      route: `${route.method} ${route.url}`,
      cases: details.numRuns,
      ms: Date.now() - routeStarted,
      statuses,
      ...(details.failed && {
        failure: {
          message: details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance),
          counterexample: counterexample ? describeRequest(counterexample) : '(none)',
          seed: details.seed,
          path: details.counterexamplePath ?? '',
        },
      }),
    };
    results.push(result);
    options.onRoute?.(result);
  }
  return { seed: options.seed, runs: results.reduce((sum, r) => sum + r.cases, 0), routes: results, ms: Date.now() - started };
}
