import fastifyRateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from '@crm/observability';
import type { IngestDeps } from './app';
import { requiresApiKey } from './auth';
import { ProblemError } from './problem';

/** Prefix of the API rate limit's Redis keys: `crm-rl:api:<API key id>` (ids only, never a key). */
export const API_RATE_LIMIT_KEY_PREFIX = 'crm-rl:api:';

/**
 * How long a counter may take to answer before the request goes through uncounted, in ms: a
 * Redis that hangs (a connection that queues commands while reconnecting) must not hang the API.
 */
export const API_RATE_LIMIT_REDIS_TIMEOUT_MS = 500;

/** A warning about an unreachable Redis is logged at most this often, in ms. */
const WARN_INTERVAL_MS = 10_000;

/**
 * A fixed window per key: the first request of a window starts its expiry; answers the count so
 * far and the window's remaining ms. One round trip, atomic.
 */
const FIXED_WINDOW_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if current == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`;
const COMMAND = 'crmApiRateLimit';
type WithCommand = Redis & { [COMMAND]: (key: string, windowMs: number) => Promise<[number, number]> };

/**
 * The counters of @fastify/rate-limit in Redis (shared by every ingest replica). An error or a
 * slow answer is reported to `onError` and fails the call, which the plugin (`skipOnError`)
 * treats as "let the request through".
 */
function redisWindowStore(redis: Redis, onError: (error: Error) => void): new () => FastifyRateLimitStore {
  if (typeof (redis as unknown as Partial<WithCommand>)[COMMAND] !== 'function') {
    redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: FIXED_WINDOW_SCRIPT });
  }
  const counters = redis as unknown as WithCommand;
  return class RedisWindowStore implements FastifyRateLimitStore {
    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
      let settled = false;
      const settle = (error: Error | null, result?: { current: number; ttl: number }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) onError(error);
        callback(error, result);
      };
      const timer = setTimeout(() => settle(new Error(`Redis did not answer within ${API_RATE_LIMIT_REDIS_TIMEOUT_MS} ms`)), API_RATE_LIMIT_REDIS_TIMEOUT_MS);
      counters[COMMAND](`${API_RATE_LIMIT_KEY_PREFIX}${key}`, timeWindow).then(
        ([current, ttl]) => settle(null, { current: Number(current), ttl: Number(ttl) }),
        (error: unknown) => settle(error instanceof Error ? error : new Error(String(error))),
      );
    }

    child(): FastifyRateLimitStore {
      return this;
    }
  };
}

/** Warns that requests go through uncounted, at most once per {@link WARN_INTERVAL_MS}, with how many did since. */
function redisWarner(logger: Logger): (error: Error) => void {
  let lastWarnedAt = 0;
  let skipped = 0;
  return (error) => {
    skipped += 1;
    const now = Date.now();
    if (now - lastWarnedAt < WARN_INTERVAL_MS) return;
    logger.warn({ err: { message: error.message }, requestsLetThrough: skipped }, 'API rate limit: Redis is not answering; requests go through uncounted');
    lastWarnedAt = now;
    skipped = 0;
  };
}

/** `1 s`, `1 min`, `2 h`: a window for people. */
function windowText(windowMs: number): string {
  if (windowMs % 3_600_000 === 0) return `${windowMs / 3_600_000} h`;
  if (windowMs % 60_000 === 0) return `${windowMs / 60_000} min`;
  return `${windowMs / 1_000} s`;
}

/**
 * Limits requests to `/api/…` per API key (`deps.apiRateLimit`, from `API_RATE_LIMIT`) with
 * @fastify/rate-limit and a fixed window counted in Redis, so every ingest replica shares one
 * budget per key. The count runs after authentication (`preValidation`): a request without a
 * valid key gets its 401 and spends nothing. Over the limit: 429 `rate_limited` with
 * `Retry-After` (seconds) and `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset`;
 * every counted answer carries the last three. Webhooks, tracking, health and the operator pages
 * are not limited. If Redis fails or is slow the request goes through and a warning is logged
 * (an API that stops because its limiter's store did would be worse than no limit for a while).
 * Without `deps.redis` or with no limit configured, nothing is registered.
 */
export async function registerApiRateLimit(app: FastifyInstance, deps: IngestDeps): Promise<void> {
  const limit = deps.apiRateLimit ?? null;
  if (limit === null) return;
  if (!deps.redis) {
    deps.logger.warn('API rate limit configured but no Redis connection given: /api requests are not limited');
    return;
  }
  const detailWindow = windowText(limit.windowMs);
  await app.register(fastifyRateLimit, {
    global: true,
    hook: 'preValidation',
    max: limit.max,
    timeWindow: limit.windowMs,
    store: redisWindowStore(deps.redis, redisWarner(deps.logger)),
    skipOnError: true,
    enableDraftSpec: true,
    keyGenerator: (request) => request.apiKey?.id ?? '',
    // Only authenticated /api requests are counted; everything else passes untouched.
    allowList: (request) => request.apiKey === null || !requiresApiKey(request.routeOptions.url ?? request.url),
    errorResponseBuilder: (_request, context) =>
      new ProblemError('rate_limited', `this API key made more than ${limit.max} requests in ${detailWindow}; retry in ${context.after} (Retry-After)`, [
        { field: 'authorization', in: 'header', message: `the API key is over its limit of ${limit.max} requests per ${detailWindow}` },
      ]),
  });
}
