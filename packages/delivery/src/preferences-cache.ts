import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { MessageChannelSchema } from '@crm/core';
import { getRoutingPreferencesMany, type Database, type RoutingPreferences } from '@crm/db';
import { preferencesCacheCounter, type Logger } from '@crm/observability';

export interface PreferencesCacheOptions {
  readonly db: Kysely<Database>;
  /** A command connection (fail-fast, not a blocking worker connection). */
  readonly redis: Redis;
  /** Keys live under `${prefix}:prefs:` (the queue prefix; hash-tagged on Redis Cluster). */
  readonly prefix: string;
  /** 0: no cache (every read goes to PostgreSQL). @defaultValue 3600 */
  readonly ttlSeconds?: number;
  readonly logger?: Logger;
  /**
   * Longest wait for one Redis call, in ms: a slower Redis counts as down (reads go to
   * PostgreSQL), so the cache can delay a send by this much at most. @defaultValue 250
   */
  readonly redisTimeoutMs?: number;
}

/**
 * How long a generation counter outlives its last invalidation, in seconds. Any value is
 * correct (see {@link INVALIDATE_SCRIPT}); a shorter one only makes more fills give way.
 */
const GENERATION_TTL_SECONDS = 86_400;
/** Each kind of Redis error is logged at most this often (an outage would otherwise log every read). */
const WARN_INTERVAL_MS = 10_000;

/**
 * Fill. KEYS: pairs (entry, generation) of each client; ARGV: the TTL in seconds, then per client
 * the generation read before PostgreSQL was asked (`''`: none) and the entry's JSON. An entry
 * is stored only if its generation is still the one read, so a value read from PostgreSQL
 * before a committed change is never stored after that change's invalidation. Answers how many
 * were stored.
 */
const FILL_SCRIPT = `
local ttl = tonumber(ARGV[1])
local stored = 0
for i = 1, #KEYS, 2 do
  local generation = redis.call('GET', KEYS[i + 1]) or ''
  if generation == ARGV[i + 1] then
    redis.call('SET', KEYS[i], ARGV[i + 2], 'EX', ttl)
    stored = stored + 1
  end
end
return stored
`;

/**
 * Invalidate. KEYS: pairs (entry, generation) of each client; ARGV: the generation's TTL in
 * seconds. Deletes the entry and moves the generation to max(old + 1, Redis's clock in µs):
 * strictly increasing while the key lives, and after it expired, larger than any value it ever
 * had (values grow by one per invalidation, far slower than the clock), so a fill that read a
 * generation (or none) before this call can never match the new one.
 */
const INVALIDATE_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
for i = 1, #KEYS, 2 do
  redis.call('DEL', KEYS[i])
  local old = tonumber(redis.call('GET', KEYS[i + 1]) or '0') or 0
  redis.call('SET', KEYS[i + 1], string.format('%.0f', math.max(old + 1, now)), 'EX', tonumber(ARGV[1]))
end
return #KEYS / 2
`;

const sha1 = (script: string) => createHash('sha1').update(script).digest('hex');
const scripts = { fill: { source: FILL_SCRIPT, sha: sha1(FILL_SCRIPT) }, invalidate: { source: INVALIDATE_SCRIPT, sha: sha1(INVALIDATE_SCRIPT) } } as const;

const isChannelList = (value: unknown): value is RoutingPreferences['optOuts'] =>
  Array.isArray(value) && value.every((channel) => MessageChannelSchema.safeParse(channel).success);

/** A cached entry back into routing preferences; `undefined` for anything malformed (read from PostgreSQL instead). */
function parseEntry(json: string): RoutingPreferences | undefined {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const { channels, optOuts, timezone, quietHours, batching, language, hasEmail, hasPhone, emailSuppressed } = value;
  const quiet = quietHours as { start?: unknown; end?: unknown } | null;
  if (
    !(channels === null || isChannelList(channels)) ||
    !isChannelList(optOuts) ||
    !(timezone === null || typeof timezone === 'string') ||
    !(quiet === null || (typeof quiet === 'object' && typeof quiet.start === 'string' && typeof quiet.end === 'string')) ||
    typeof batching !== 'boolean' ||
    typeof language !== 'string' ||
    typeof hasEmail !== 'boolean' ||
    typeof hasPhone !== 'boolean' ||
    typeof emailSuppressed !== 'boolean'
  ) {
    return undefined;
  }
  return {
    channels,
    optOuts,
    timezone,
    quietHours: quiet === null ? null : { start: quiet.start as string, end: quiet.end as string },
    batching,
    language,
    hasEmail,
    hasPhone,
    emailSuppressed,
  };
}

/** The JSON of a cache entry: the routing facts field by field, so nothing else (never email or phone) can slip in. */
function entryOf(preferences: RoutingPreferences): string {
  return JSON.stringify({
    channels: preferences.channels,
    optOuts: preferences.optOuts,
    timezone: preferences.timezone,
    quietHours: preferences.quietHours && { start: preferences.quietHours.start, end: preferences.quietHours.end },
    batching: preferences.batching,
    language: preferences.language,
    hasEmail: preferences.hasEmail,
    hasPhone: preferences.hasPhone,
    emailSuppressed: preferences.emailSuppressed,
  });
}

/**
 * A read-through Redis cache of clients' {@link RoutingPreferences} (channel order, opt-outs,
 * time zone, quiet hours, batching, language, and whether an email address or phone number is on file:
 * never the address or number themselves), in front of `getRoutingPreferencesMany`.
 *
 * - Entries are JSON under `${prefix}:prefs:${clientId}` for `ttlSeconds`. A batch is one MGET;
 *   the misses are read from PostgreSQL with one query and stored with one script. A client
 *   with no row (never seen) is not cached.
 * - Every writer of a client's preferences calls {@link invalidate} after its commit. A
 *   generation counter per client (`${prefix}:prefs-gen:${clientId}`), read with the entries
 *   before PostgreSQL and checked by the fill script, keeps a reader that read the row before
 *   the commit from storing the old value after the invalidation.
 * - Redis slow (see `redisTimeoutMs`) or down: reads go to PostgreSQL and a warning is logged;
 *   the cache never makes a read fail. An invalidation that fails is logged and leaves the
 *   entry to its TTL (the channel workers re-check opt-outs in PostgreSQL when they claim a
 *   send, so a stale entry cannot send on an opted-out channel).
 * - Hits and misses are counted in `crm_preferences_cache_total{result}` and logged at debug.
 *
 * On Redis Cluster the prefix must be hash-tagged (as the queue prefix is) so that a batch's
 * keys share a slot.
 *
 * @example
 * const cache = new PreferencesCache({ db, redis, prefix: config.redis.queuePrefix, ttlSeconds: config.preferences.cacheTtlSeconds, logger });
 * const preferences = await cache.getMany(['client-42', 'client-43']);
 * await cache.invalidate(['client-42']); // after committing a change of client-42's preferences
 */
export class PreferencesCache {
  readonly #options: PreferencesCacheOptions;
  readonly #ttl: number;
  readonly #timeoutMs: number;
  /** When each kind of warning was last logged. */
  readonly #warnedAt = new Map<string, number>();

  constructor(options: PreferencesCacheOptions) {
    this.#options = options;
    this.#ttl = options.ttlSeconds ?? 3600;
    this.#timeoutMs = options.redisTimeoutMs ?? 250;
    if (!Number.isInteger(this.#ttl) || this.#ttl < 0) throw new RangeError('PreferencesCache: ttlSeconds must be a whole number of seconds, 0 or more');
  }

  /** The Redis key of a client's cached entry. */
  entryKey(clientId: string): string {
    return `${this.#options.prefix}:prefs:${clientId}`;
  }

  /** The Redis key of a client's generation counter. */
  generationKey(clientId: string): string {
    return `${this.#options.prefix}:prefs-gen:${clientId}`;
  }

  /** The routing preferences of each known client in `clientIds` (absent from the map: never seen, defaults apply). */
  async getMany(clientIds: readonly string[]): Promise<Map<string, RoutingPreferences>> {
    const ids = [...new Set(clientIds)];
    if (ids.length === 0) return new Map();
    if (this.#ttl === 0) return getRoutingPreferencesMany(this.#options.db, ids);

    let cached: (string | null)[];
    try {
      cached = await this.#redis((redis) => redis.mget(...ids.map((id) => this.entryKey(id)), ...ids.map((id) => this.generationKey(id))));
    } catch (error) {
      this.#warn(error, 'preferences cache read failed: reading PostgreSQL');
      preferencesCacheCounter.inc({ result: 'miss' }, ids.length);
      return getRoutingPreferencesMany(this.#options.db, ids);
    }

    const found = new Map<string, RoutingPreferences>();
    const missed: { readonly id: string; readonly generation: string }[] = [];
    ids.forEach((id, n) => {
      const entry = cached[n];
      const hit = entry === null || entry === undefined ? undefined : parseEntry(entry);
      if (hit) found.set(id, hit);
      else missed.push({ id, generation: cached[ids.length + n] ?? '' });
    });
    if (found.size > 0) preferencesCacheCounter.inc({ result: 'hit' }, found.size);
    if (missed.length > 0) preferencesCacheCounter.inc({ result: 'miss' }, missed.length);
    this.#options.logger?.debug({ hits: found.size, misses: missed.length }, 'preferences cache');
    if (missed.length === 0) return found;

    const read = await getRoutingPreferencesMany(this.#options.db, missed.map((miss) => miss.id));
    const fills = missed.filter((miss) => read.has(miss.id));
    for (const { id } of missed) {
      const preferences = read.get(id);
      if (preferences) found.set(id, preferences);
    }
    if (fills.length > 0) {
      const keys = fills.flatMap(({ id }) => [this.entryKey(id), this.generationKey(id)]);
      const args = [String(this.#ttl), ...fills.flatMap(({ id, generation }) => [generation, entryOf(read.get(id)!)])];
      try {
        await this.#redis((redis) => this.#script(redis, 'fill', keys, args));
      } catch (error) {
        this.#warn(error, 'preferences cache fill failed');
      }
    }
    return found;
  }

  /**
   * Drops the cached entries of these clients: call it after a change of their preferences,
   * opt-outs or contact details has committed. Never throws: a failure is logged, and the old
   * entries then live out their TTL.
   */
  async invalidate(clientIds: readonly string[]): Promise<void> {
    const ids = [...new Set(clientIds)];
    if (ids.length === 0) return;
    // Even with the cache off here: another process may run with it on.
    const keys = ids.flatMap((id) => [this.entryKey(id), this.generationKey(id)]);
    try {
      await this.#redis((redis) => this.#script(redis, 'invalidate', keys, [String(GENERATION_TTL_SECONDS)]));
    } catch (error) {
      this.#warn(error, 'preferences cache invalidation failed: the old entries stay until their TTL', { clients: ids.length });
    }
  }

  /** Runs `call` on the connection, rejecting if it takes longer than the Redis timeout. */
  async #redis<T>(call: (redis: Redis) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    try {
      return await Promise.race([call(this.#options.redis), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #script(redis: Redis, name: keyof typeof scripts, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const script = scripts[name];
    try {
      return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(script.source, keys.length, ...keys, ...args);
    }
  }

  #warn(error: unknown, message: string, detail: Record<string, unknown> = {}): void {
    const now = Date.now();
    if (now - (this.#warnedAt.get(message) ?? -Infinity) < WARN_INTERVAL_MS) return;
    this.#warnedAt.set(message, now);
    this.#options.logger?.warn({ ...detail, err: { name: (error as Error).name, message: (error as Error).message } }, message);
  }
}
