import type { KyselyPlugin } from 'kysely';
import { PreferencesCache } from '@crm/delivery';
import { getRoutingPreferencesMany, upsertClientContact, upsertPreferences } from '@crm/db';
import { createLogger, metricsRegistry } from '@crm/observability';
import { createRedisConnection, waitForRedis } from '@crm/queue';
import { createTestDatabase, createTestRedis, startPrivateRedis, testPiiKeys, type TestDatabase, type TestRedis } from '@crm/testing';

// The cache against the real PostgreSQL and Redis, under this file's own database and key prefix.

let t: TestDatabase;
let r: TestRedis;
let lines: Record<string, unknown>[];
let cache: PreferencesCache;
let clients = 0;
const keys = testPiiKeys;
const logger = () => createLogger({ service: 'preferences-cache-test', level: 'debug', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });

beforeAll(async () => {
  [t, r] = await Promise.all([createTestDatabase(), createTestRedis()]);
});
afterAll(async () => {
  await Promise.all([t.destroy(), r.destroy()]);
});
beforeEach(() => {
  lines = [];
  cache = new PreferencesCache({ db: t.db, redis: r.redis, prefix: r.prefix, ttlSeconds: 120, logger: logger() });
});

/** A client of this test's own, stored with some preferences (and, when asked, contact details). */
async function storedClient(extra: { email?: string; phone?: string } = {}): Promise<string> {
  const clientId = `client-${++clients}`;
  await upsertPreferences(t.db, keys, { clientId, channels: ['whatsapp', 'email'], timezone: 'Europe/Lisbon', quietHours: { start: '22:00', end: '07:30' }, optOuts: ['sms'], batching: false, ...extra });
  return clientId;
}

/** The counter's value for `result`. */
async function counted(result: 'hit' | 'miss'): Promise<number> {
  const metric = await metricsRegistry.getSingleMetric('crm_preferences_cache_total')!.get();
  return metric.values.find((value) => value.labels.result === result)?.value ?? 0;
}

async function counts(): Promise<{ hit: number; miss: number }> {
  return { hit: await counted('hit'), miss: await counted('miss') };
}

/** A promise and the function that settles it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

describe('PreferencesCache', () => {
  it('misses once (reading PostgreSQL and storing the entry), then hits; counts both and logs the counts at debug', async () => {
    const clientId = await storedClient({ email: 'ada@example.com' });
    const before = await counts();

    const first = await cache.getMany([clientId]);
    expect(first.get(clientId)).toEqual({
      channels: ['whatsapp', 'email'], optOuts: ['sms'], timezone: 'Europe/Lisbon', quietHours: { start: '22:00', end: '07:30' },
      batching: false, language: 'en', hasEmail: true, hasPhone: false, emailSuppressed: false,
    });
    expect(await counts()).toEqual({ hit: before.hit, miss: before.miss + 1 });
    expect(await r.redis.exists(cache.entryKey(clientId))).toBe(1);

    // Changed behind the cache's back (no invalidation): the cached value answers.
    await t.db.updateTable('crm_client_preferences').set({ batching: true }).where('client_id', '=', clientId).execute();
    const second = await cache.getMany([clientId]);
    expect(second).toEqual(first);
    expect(await counts()).toEqual({ hit: before.hit + 1, miss: before.miss + 1 });

    expect(lines.filter((line) => line.msg === 'preferences cache').map(({ hits, misses }) => ({ hits, misses }))).toEqual([{ hits: 0, misses: 1 }, { hits: 1, misses: 0 }]);
    const text = await metricsRegistry.getSingleMetricAsString('crm_preferences_cache_total');
    expect(text).toMatch(/crm_preferences_cache_total\{result="hit"\} \d+/);
  });

  it('stores entries with the configured TTL', async () => {
    const clientId = await storedClient();
    await cache.getMany([clientId]);
    const pttl = await r.redis.pttl(cache.entryKey(clientId));
    expect(pttl).toBeGreaterThan(118_000);
    expect(pttl).toBeLessThanOrEqual(120_000);
  });

  it('answers a batch with one MGET: hits, misses and unknown clients together; unknown clients are not cached', async () => {
    const [a, b] = [await storedClient(), await storedClient({ phone: '+14155550123' })];
    await cache.getMany([a]);
    const before = await counts();
    const answer = await cache.getMany([a, b, 'never-seen', b]);
    expect([...answer.keys()].sort()).toEqual([a, b].sort());
    expect(answer.get(b)).toMatchObject({ hasPhone: true, hasEmail: false });
    expect(await counts()).toEqual({ hit: before.hit + 1, miss: before.miss + 2 });
    expect(await r.redis.exists(cache.entryKey('never-seen'))).toBe(0);
    expect(await r.redis.exists(cache.entryKey(b))).toBe(1);
    expect(await cache.getMany([])).toEqual(new Map());
  });

  it('invalidate drops the entry: the next read sees the committed change', async () => {
    const clientId = await storedClient();
    expect((await cache.getMany([clientId])).get(clientId)?.channels).toEqual(['whatsapp', 'email']);
    await upsertPreferences(t.db, keys, { clientId, channels: ['sms'] });
    await cache.invalidate([clientId]);
    expect(await r.redis.exists(cache.entryKey(clientId))).toBe(0);
    expect(await r.redis.exists(cache.generationKey(clientId))).toBe(1);
    expect((await cache.getMany([clientId])).get(clientId)?.channels).toEqual(['sms']);
    // Filled again after the invalidation, at the new generation.
    expect(await r.redis.exists(cache.entryKey(clientId))).toBe(1);
    await cache.invalidate([]);
  });

  it('never stores a value read before a committed change once that change has invalidated (the stale-fill race)', async () => {
    const clientId = await storedClient();
    // PostgreSQL answers (the old row) but the answer is held until the writer has committed and invalidated.
    const read = deferred();
    const release = deferred();
    const slowRead: KyselyPlugin = {
      transformQuery: (args) => args.node,
      transformResult: async (args) => {
        read.resolve();
        await release.promise;
        return args.result;
      },
    };
    const slow = new PreferencesCache({ db: t.db.withPlugin(slowRead), redis: r.redis, prefix: r.prefix, ttlSeconds: 120, redisTimeoutMs: 5_000 });
    const reader = slow.getMany([clientId]);
    await read.promise;

    await upsertPreferences(t.db, keys, { clientId, channels: ['sms'], optOuts: [] });
    await cache.invalidate([clientId]);
    release.resolve();

    // The reader itself answers what it read (before the change)...
    expect((await reader).get(clientId)?.channels).toEqual(['whatsapp', 'email']);
    // ...but did not store it: the entry is absent, and the next read sees the change.
    expect(await r.redis.exists(cache.entryKey(clientId))).toBe(0);
    expect((await cache.getMany([clientId])).get(clientId)).toMatchObject({ channels: ['sms'], optOuts: [] });
    expect(JSON.parse((await r.redis.get(cache.entryKey(clientId)))!)).toMatchObject({ channels: ['sms'] });
  });

  it('a reader that read no generation (never invalidated) cannot fill after a first invalidation either', async () => {
    const clientId = await storedClient();
    expect(await r.redis.exists(cache.generationKey(clientId))).toBe(0);
    const read = deferred();
    const release = deferred();
    const slow = new PreferencesCache({
      db: t.db.withPlugin({ transformQuery: (args) => args.node, transformResult: async (args) => (read.resolve(), await release.promise, args.result) }),
      redis: r.redis, prefix: r.prefix, ttlSeconds: 120, redisTimeoutMs: 5_000,
    });
    const reader = slow.getMany([clientId]);
    await read.promise;
    await upsertPreferences(t.db, keys, { clientId, batching: true });
    await cache.invalidate([clientId]);
    // Even if the generation key then expired, a new invalidation starts from Redis's clock, not from 1.
    const generation = Number(await r.redis.get(cache.generationKey(clientId)));
    expect(generation).toBeGreaterThan(Date.now() * 1000 - 60_000_000);
    release.resolve();
    await reader;
    expect(await r.redis.exists(cache.entryKey(clientId))).toBe(0);
    await cache.invalidate([clientId]);
    expect(Number(await r.redis.get(cache.generationKey(clientId)))).toBeGreaterThan(generation);
  });

  it('caches routing facts only: never the email address or the phone number', async () => {
    const clientId = await storedClient({ email: 'private.person@example.com', phone: '+14155550199' });
    await cache.getMany([clientId]);
    const json = (await r.redis.get(cache.entryKey(clientId)))!;
    expect(json).not.toContain('private.person');
    expect(json).not.toContain('@');
    expect(json).not.toContain('4155550199');
    expect(Object.keys(JSON.parse(json) as object).sort()).toEqual(['batching', 'channels', 'emailSuppressed', 'hasEmail', 'hasPhone', 'language', 'optOuts', 'quietHours', 'timezone']);
    // Nor anywhere else under the prefix.
    for (const key of await r.keys()) {
      const type = await r.redis.type(key);
      if (type === 'string') expect(await r.redis.get(key)).not.toContain('private.person');
    }
  });

  it('reads a malformed entry as a miss and replaces it', async () => {
    const clientId = await storedClient();
    await r.redis.set(cache.entryKey(clientId), '{"channels":"email"}');
    expect((await cache.getMany([clientId])).get(clientId)?.channels).toEqual(['whatsapp', 'email']);
    expect(JSON.parse((await r.redis.get(cache.entryKey(clientId)))!)).toMatchObject({ channels: ['whatsapp', 'email'] });
  });

  it('with ttlSeconds 0 reads PostgreSQL every time and stores nothing (invalidate still works)', async () => {
    const clientId = await storedClient();
    const off = new PreferencesCache({ db: t.db, redis: r.redis, prefix: r.prefix, ttlSeconds: 0 });
    const before = await counts();
    expect(await off.getMany([clientId])).toEqual(await getRoutingPreferencesMany(t.db, [clientId]));
    expect(await r.redis.exists(off.entryKey(clientId))).toBe(0);
    expect(await counts()).toEqual(before);
    await off.invalidate([clientId]);
    expect(await r.redis.exists(off.generationKey(clientId))).toBe(1);
  });

  it('with Redis down answers from PostgreSQL, logs a warning, and invalidate does not throw', async () => {
    const clientId = await storedClient();
    await upsertClientContact(t.db, keys, { clientId, email: 'down@example.com' });
    // Nothing listens on port 1: the fail-fast connection refuses every command at once.
    const down = createRedisConnection({ url: 'redis://127.0.0.1:1', role: 'producer' });
    try {
      const broken = new PreferencesCache({ db: t.db, redis: down, prefix: r.prefix, ttlSeconds: 120, logger: logger() });
      const before = await counts();
      expect((await broken.getMany([clientId])).get(clientId)).toMatchObject({ channels: ['whatsapp', 'email'], hasEmail: true });
      expect(await counts()).toEqual({ hit: before.hit, miss: before.miss + 1 });
      await expect(broken.invalidate([clientId])).resolves.toBeUndefined();
      const warnings = lines.filter((line) => line.level === 'warn');
      expect(warnings.map((line) => line.msg)).toEqual([
        'preferences cache read failed: reading PostgreSQL',
        'preferences cache invalidation failed: the old entries stay until their TTL',
      ]);
      expect(JSON.stringify(lines)).not.toContain('down@example.com');
    } finally {
      down.disconnect();
    }
  });

  it('with Redis not answering (paused) gives up after the timeout and answers from PostgreSQL', async () => {
    const clientId = await storedClient();
    const privateRedis = await startPrivateRedis();
    const connection = createRedisConnection({ url: privateRedis.url, role: 'producer' });
    try {
      await waitForRedis(connection);
      const paused = new PreferencesCache({ db: t.db, redis: connection, prefix: 'crm-paused', ttlSeconds: 120, redisTimeoutMs: 100, logger: logger() });
      await privateRedis.redis.call('CLIENT', 'PAUSE', '2000', 'ALL');
      const started = Date.now();
      expect((await paused.getMany([clientId])).get(clientId)).toMatchObject({ channels: ['whatsapp', 'email'] });
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(lines.some((line) => line.level === 'warn' && /did not answer within 100 ms/.test(JSON.stringify(line.err)))).toBe(true);
    } finally {
      connection.disconnect();
      await privateRedis.stop();
    }
  });
});
