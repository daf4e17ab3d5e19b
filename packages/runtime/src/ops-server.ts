import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql, type Kysely } from 'kysely';
import { migrationState, type Database } from '@crm/db';
import { metricsRegistry, type Logger } from '@crm/observability';

/** What `/ready` checks: PostgreSQL answers, Redis answers, and the schema has every migration. */
export interface ReadinessDeps {
  readonly db: Kysely<Database>;
  /** Resolves when Redis answers (e.g. `() => connection.ping()`). */
  readonly redisPing: () => Promise<unknown>;
  /** How long each check may take before it counts as failed, in ms. @defaultValue 2000 */
  readonly timeoutMs?: number;
}

/** The answer of a readiness check; `pendingMigrations` names the missing migrations. */
export interface Readiness {
  readonly ready: boolean;
  readonly postgres: boolean;
  readonly redis: boolean;
  readonly migrations: boolean;
  readonly pendingMigrations: readonly string[];
  /** What is not ready, for the problem's `detail` (e.g. `redis did not answer`); `null` when ready. */
  readonly detail: string | null;
}

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The readiness of a service, as ingest's `/ready` and every worker's ops server answer it:
 * PostgreSQL and Redis answer (each within `timeoutMs`), and the migrations applied are every
 * one in `migrations/` (a service started against an older schema is not ready).
 *
 * @example
 * const readiness = await checkReadiness({ db, redisPing: () => redis.ping() });
 */
export async function checkReadiness(deps: ReadinessDeps): Promise<Readiness> {
  const ms = deps.timeoutMs ?? 2_000;
  const [postgres, redis, state] = await Promise.all([
    within(sql`SELECT 1`.execute(deps.db), ms).then(() => true, () => false),
    within(Promise.resolve().then(deps.redisPing), ms).then(() => true, () => false),
    within(migrationState(deps.db), ms).catch(() => null),
  ]);
  const migrations = state?.current ?? false;
  const pendingMigrations = state?.pending ?? [];
  const down = [!postgres && 'postgres', !redis && 'redis'].filter(Boolean).join(' and ');
  const problems = [
    down && `${down} did not answer`,
    postgres && state && !state.current && `migrations not applied: ${state.pending.join(', ')}`,
  ].filter(Boolean);
  return { ready: postgres && redis && migrations, postgres, redis, migrations, pendingMigrations, detail: problems.length > 0 ? problems.join('; ') : null };
}

export interface OpsServerOptions extends ReadinessDeps {
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  readonly logger: Logger;
}

/** A running ops server. */
export interface OpsServer {
  /** `http://host:port` it listens on. */
  readonly url: string;
  close(): Promise<void>;
}

/** Codes ingest documents in docs/api.md (the same answers as its own); others are plain HTTP (`about:blank`). */
const documentedCodes = new Set(['not_found', 'not_ready']);
const problemType = (code: string) => (documentedCodes.has(code) ? `https://github.com/crm-engine/crm-engine/blob/main/docs/api.md#${code.replace(/_/g, '-')}` : 'about:blank');

function send(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  response.end(body);
}

function problem(response: ServerResponse, status: number, code: string, title: string, detail: string, extra: Record<string, unknown> = {}): void {
  send(response, status, 'application/problem+json', JSON.stringify({ type: problemType(code), title, status, detail, code, ...extra }));
}

/**
 * The HTTP server of a worker process, for orchestrators and Prometheus (no auth: bind it to a
 * private address or firewall it, as ingest's own `/health`, `/ready` and `/metrics`):
 *
 * - `GET /health`: 200 `{ status: "ok" }` while the process runs;
 * - `GET /ready`: 200 when {@link checkReadiness} passes, else 503 `not_ready` as
 *   `application/problem+json` naming what failed;
 * - `GET /metrics`: the process's {@link metricsRegistry} in Prometheus text format.
 *
 * Anything else answers 404 (405 for a method other than GET or HEAD), as problem details.
 *
 * @example
 * const ops = await startOpsServer({ host: '127.0.0.1', port: 0, logger, db, redisPing: () => redis.ping() });
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const log = options.logger.child({ component: 'ops-server' });
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      return problem(response, 405, 'method_not_allowed', 'Method not allowed', `${request.method ?? 'this method'} is not allowed here; use GET`);
    }
    if (path === '/health') return send(response, 200, 'application/json; charset=utf-8', JSON.stringify({ status: 'ok' }));
    if (path === '/ready') {
      const readiness = await checkReadiness(options);
      const { ready, detail, ...checks } = readiness;
      if (ready) return send(response, 200, 'application/json; charset=utf-8', JSON.stringify({ status: 'ready', ...checks }));
      return problem(response, 503, 'not_ready', 'A dependency is not available', detail ?? 'not ready', checks);
    }
    if (path === '/metrics') return send(response, 200, metricsRegistry.contentType, await metricsRegistry.metrics());
    return problem(response, 404, 'not_found', 'Not found', `${path} is not a route of this server (GET /health, /ready or /metrics)`);
  };
  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      log.error({ err: { name: (error as Error | null)?.name, message: (error as Error | null)?.message } }, 'ops request failed');
      if (!response.headersSent) problem(response, 503, 'not_ready', 'A dependency is not available', 'the check could not be completed');
      else response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
