import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Kysely } from 'kysely';
import { ApiKeyRepository, hashApiKey, isApiKeyShaped, type ApiKeyIdentity, type Database } from '@crm/db';
import type { Logger } from '@crm/observability';
import { problemBody } from './problem';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key that authenticated this request (`/api/…` routes); `null` elsewhere. */
    apiKey: ApiKeyIdentity | null;
  }
}

export interface ApiKeyAuthenticatorOptions {
  readonly db: Kysely<Database>;
  readonly logger: Logger;
  /**
   * How long a verified (or refused) key hash is remembered, in ms. A revoked key keeps
   * working for at most this long in each ingest process.
   * @defaultValue 60000
   */
  readonly cacheTtlMs?: number;
  /**
   * `last_used_at` is written at most this often per key and process, in ms.
   * @defaultValue 60000
   */
  readonly touchIntervalMs?: number;
  /**
   * Hashes remembered at most; the oldest entry goes first.
   * @defaultValue 10000
   */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

interface Entry {
  readonly identity: ApiKeyIdentity | null;
  readonly expiresAt: number;
}

/**
 * Verifies API keys without a database round trip per request: the SHA-256 of each key seen
 * is remembered with its answer (who it belongs to, or "no such key") for `cacheTtlMs`.
 * Concurrent first requests with one key share one lookup. Only hashes are held and compared,
 * never keys. `last_used_at` is stamped in the background, at most once per `touchIntervalMs`.
 */
export class ApiKeyAuthenticator {
  readonly #db: Kysely<Database>;
  readonly #logger: Logger;
  readonly #ttl: number;
  readonly #touchInterval: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<ApiKeyIdentity | null>>();
  readonly #touched = new Map<string, number>();

  constructor(options: ApiKeyAuthenticatorOptions) {
    this.#db = options.db;
    this.#logger = options.logger;
    this.#ttl = options.cacheTtlMs ?? 60_000;
    this.#touchInterval = options.touchIntervalMs ?? 60_000;
    this.#max = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Who `key` belongs to, or `null` for a malformed, unknown or revoked key. */
  async authenticate(key: string): Promise<ApiKeyIdentity | null> {
    if (!isApiKeyShaped(key)) return null;
    const hash = hashApiKey(key);
    const cacheKey = hash.toString('base64');
    const now = this.#now();
    const hit = this.#cache.get(cacheKey);
    let identity: ApiKeyIdentity | null;
    if (hit && hit.expiresAt > now) identity = hit.identity;
    else {
      let lookup = this.#inflight.get(cacheKey);
      if (!lookup) {
        lookup = ApiKeyRepository.verifyHash(this.#db, hash).finally(() => this.#inflight.delete(cacheKey));
        this.#inflight.set(cacheKey, lookup);
        identity = await lookup;
        this.#remember(cacheKey, identity);
      } else identity = await lookup;
    }
    if (identity) this.#touch(identity.id);
    return identity;
  }

  /** Forgets every remembered answer (e.g. right after revoking a key in this process). */
  clear(): void {
    this.#cache.clear();
  }

  #remember(cacheKey: string, identity: ApiKeyIdentity | null): void {
    this.#cache.delete(cacheKey);
    if (this.#cache.size >= this.#max) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    this.#cache.set(cacheKey, { identity, expiresAt: this.#now() + this.#ttl });
  }

  #touch(id: string): void {
    const now = this.#now();
    const last = this.#touched.get(id);
    if (last !== undefined && now - last < this.#touchInterval) return;
    this.#touched.set(id, now);
    ApiKeyRepository.touch(this.#db, id).catch((error: unknown) =>
      this.#logger.warn({ apiKeyId: id, err: { message: (error as Error).message } }, 'could not stamp last_used_at'),
    );
  }
}

const BEARER = /^Bearer +([^\s]+) *$/i;

function unauthorized(reply: FastifyReply, detail: string, invalidToken: boolean): FastifyReply {
  const body = problemBody('unauthorized', detail, [{ field: 'authorization', in: 'header', message: detail }]);
  return reply
    .code(401)
    .header('www-authenticate', invalidToken ? 'Bearer realm="crm-engine", error="invalid_token"' : 'Bearer realm="crm-engine"')
    .type('application/problem+json')
    .send(body);
}

/** Whether a request to this route (or, for no route, this path) needs an API key: everything under `/api`. */
export function requiresApiKey(routeOrPath: string): boolean {
  return routeOrPath === '/api' || routeOrPath.startsWith('/api/') || routeOrPath.startsWith('/api?');
}

/**
 * Requires `Authorization: Bearer <key>` on every `/api/…` request, matched route or not,
 * before its body is even parsed: a missing, malformed, unknown or revoked key gets 401 and
 * nothing else happens. Other paths (`/health`, `/ready`, the operator pages with their own
 * login) are left alone.
 */
export function registerApiKeyAuth(app: FastifyInstance, authenticator: ApiKeyAuthenticator): void {
  app.decorateRequest('apiKey', null);
  app.addHook('onRequest', async (request, reply) => {
    if (!requiresApiKey(request.routeOptions.url ?? request.url)) return;
    const header = request.headers.authorization;
    if (header === undefined || header === '') return unauthorized(reply, 'authorization: send Authorization: Bearer <API key>', false);
    const match = BEARER.exec(header);
    if (!match?.[1]) return unauthorized(reply, 'authorization: is not "Bearer <API key>"', false);
    const identity = await authenticator.authenticate(match[1]);
    if (!identity) return unauthorized(reply, 'authorization: the API key is not valid (unknown or revoked)', true);
    request.apiKey = identity;
  });
}
