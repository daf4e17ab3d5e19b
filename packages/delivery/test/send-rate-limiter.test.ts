import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { busiestWindow, createTestRedis, type TestRedis } from '@crm/testing';
import {
  DEFAULT_RATE_MARGIN_MS,
  InvalidRateLimitError,
  postponeMs,
  rateLimitKey,
  rateLimitKeysFor,
  SendRateLimiter,
  sendRateLimitsFromConfig,
  type LimitKey,
} from '@crm/delivery';

// The limiter against the real Redis, under this file's own key prefix.

let r: TestRedis;
let limiter: SendRateLimiter;
let case_ = 0;

beforeAll(async () => {
  r = await createTestRedis();
  limiter = new SendRateLimiter({ redis: r.redis });
});
afterAll(() => r.destroy());

/** A key of this test's own. */
const key = (name: string): string => `${r.prefix}:ratelimit:t${++case_}:${name}`;


/**
 * How much of a rate of `max` per `windowMs` sorted slots used while work waited: the slots in
 * the whole windows from the first one on (k of them, as many as the busy period spans), per
 * window, over `max`. Fair to bursts (max at once, every window) and to evenly spread slots.
 */
function utilisation(sorted: readonly number[], max: number, windowMs: number): number {
  const windows = Math.floor((sorted.at(-1)! - sorted[0]!) / windowMs);
  const within = sorted.filter((at) => at < sorted[0]! + windows * windowMs).length;
  return within / windows / max;
}

/** Loops that take slots as the messaging worker does: wait for a near one, come back later for a far one. */
async function hammer(redisUrl: string, keysOf: (loop: number) => readonly LimitKey[], options: { durationMs: number; maxWaitMs: number }): Promise<{ slots: number[]; refused: number }> {
  const connections = Array.from({ length: 8 }, () => new Redis(redisUrl, { maxRetriesPerRequest: 3 }));
  const slots: number[] = [];
  let refused = 0;
  const stopAt = Date.now() + options.durationMs;
  try {
    await Promise.all(
      connections.flatMap((redis, c) => {
        const own = new SendRateLimiter({ redis });
        return Array.from({ length: 4 }, async (_, l) => {
          while (Date.now() < stopAt) {
            const keys = keysOf(c * 4 + l);
            const answer = await own.acquire(keys, options.maxWaitMs);
            if (answer.granted) {
              slots.push(answer.slotAtMs);
              await sleep(answer.waitMs);
            } else {
              refused++;
              await sleep(postponeMs(answer.retryInMs, options.maxWaitMs));
            }
          }
        });
      }),
    );
  } finally {
    await Promise.all(connections.map((redis) => redis.quit()));
  }
  return { slots: slots.sort((a, b) => a - b), refused };
}

/** What Redis Cluster hashes of a key: the first non-empty `{…}` section, else the whole key. */
function hashedPart(name: string): string {
  const open = name.indexOf('{');
  const close = open === -1 ? -1 : name.indexOf('}', open + 1);
  return close > open + 1 ? name.slice(open + 1, close) : name;
}

describe('SendRateLimiter', () => {
  it('grants exactly max per sliding window to 8 connections hammering it for 3 s, and uses at least 95 % of the rate', async () => {
    const limit: LimitKey = { key: key('account'), max: 20, windowMs: 1_000 };
    const { slots, refused } = await hammer(r.url, () => [limit], { durationMs: 3_000, maxWaitMs: 1_000 });
    const busiest = busiestWindow(slots, limit.windowMs);
    const used = utilisation(slots, limit.max, limit.windowMs);
    console.log(`limiter, 8 connections x 4 loops, max 20 per 1000 ms, 3 s: ${slots.length} granted, busiest 1000 ms window ${busiest}, utilisation ${(used * 100).toFixed(1)} %, ${refused} refusals`);
    expect(busiest).toBeLessThanOrEqual(limit.max);
    for (let i = 0; i + limit.max < slots.length; i++) expect(slots[i + limit.max]! - slots[i]!).toBeGreaterThanOrEqual(limit.windowMs);
    expect(refused).toBeGreaterThan(0);
    expect(slots.length).toBeGreaterThanOrEqual(60);
    expect(used).toBeGreaterThanOrEqual(0.95);
  }, 20_000);

  it('spreads a provider rate of 20/1s evenly (the policy deliverAttempt uses): never more than 20 in 1000 ms, at least 95 % used', async () => {
    const marginMs = DEFAULT_RATE_MARGIN_MS;
    const limits = { prefix: `${r.prefix}:spread${++case_}`, providers: { twilio: { account: { max: 20, windowMs: 1_000 }, recipient: null } }, marginMs };
    const keys = rateLimitKeysFor(limits, 'twilio', null);
    const { slots, refused } = await hammer(r.url, () => keys, { durationMs: 3_000, maxWaitMs: 1_000 });
    const busiest = busiestWindow(slots, 1_000);
    const used = utilisation(slots, 20, 1_000);
    const gaps = slots.slice(1).map((at, i) => at - slots[i]!);
    console.log(`limiter, spread policy 20/1s + ${marginMs} ms margin, 8 connections x 4 loops, 3 s: ${slots.length} granted, busiest 1000 ms window ${busiest}, utilisation ${(used * 100).toFixed(1)} %, smallest gap ${Math.min(...gaps).toFixed(3)} ms, ${refused} refusals`);
    expect(busiest).toBeLessThanOrEqual(20);
    // Evenly spread: no window of 1000 ms + margin holds more than 20 either, and no two slots are closer than a 20th of it.
    expect(busiestWindow(slots, 1_000 + marginMs)).toBeLessThanOrEqual(20);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual((1_000 + marginMs) / 20 - 0.001);
    expect(used).toBeGreaterThanOrEqual(0.95);
  }, 20_000);

  it('stays exact for the account and every recipient when recipients push account slots out of order', async () => {
    const account: LimitKey = { key: key('account'), max: 20, windowMs: 1_000 };
    // Together the recipients would allow 36 per second: the account's limit binds too.
    const recipients: LimitKey[] = Array.from({ length: 6 }, (_, i) => ({ key: key(`to:client-${i}`), max: 3, windowMs: 500 }));
    const maxWaitMs = 1_000;
    const connections = Array.from({ length: 8 }, () => new Redis(r.url, { maxRetriesPerRequest: 3 }));
    const slots = new Map<string, number[]>([account, ...recipients].map((limit) => [limit.key, []]));
    const stopAt = Date.now() + 2_000;
    let calls = 0;
    try {
      await Promise.all(
        connections.flatMap((redis, c) => {
          const own = new SendRateLimiter({ redis });
          return Array.from({ length: 4 }, async (_, l) => {
            for (let n = c * 4 + l; Date.now() < stopAt; n += 7) {
              const recipient = recipients[n % recipients.length]!;
              const answer = await own.acquire([account, recipient], maxWaitMs);
              calls++;
              if (answer.granted) {
                slots.get(account.key)!.push(answer.slotAtMs);
                slots.get(recipient.key)!.push(answer.slotAtMs);
              }
              // No waiting: ask again at once, to interleave as many calls as possible.
              await sleep(answer.granted ? 0 : 5);
            }
          });
        }),
      );
    } finally {
      await Promise.all(connections.map((redis) => redis.quit()));
    }
    for (const limit of [account, ...recipients]) {
      const sorted = [...slots.get(limit.key)!].sort((a, b) => a - b);
      expect(sorted.length).toBeGreaterThan(limit.max);
      expect(busiestWindow(sorted, limit.windowMs)).toBeLessThanOrEqual(limit.max);
    }
    expect(calls).toBeGreaterThan(200);
  }, 20_000);

  it('grants a slot between earlier future ones when a recipient pushed an account slot ahead, staying exact', async () => {
    const account: LimitKey = { key: key('account'), max: 2, windowMs: 1_000 };
    const a: LimitKey = { key: key('to:client-a'), max: 1, windowMs: 1_000 };
    const b: LimitKey = { key: key('to:client-b'), max: 1, windowMs: 1_000 };
    const first = await limiter.acquire([account, a], 2_000);
    const second = await limiter.acquire([account, a], 2_000);
    const third = await limiter.acquire([account, b], 2_000);
    if (!first.granted || !second.granted || !third.granted) throw new Error('expected three grants');
    // Client a's second slot waits a window; client b's goes now, before it: out of time order.
    expect(second.slotAtMs - first.slotAtMs).toBeGreaterThanOrEqual(1_000);
    expect(third.slotAtMs).toBeLessThan(second.slotAtMs);
    const sorted = [first.slotAtMs, second.slotAtMs, third.slotAtMs].sort((x, y) => x - y);
    expect(busiestWindow(sorted, account.windowMs)).toBeLessThanOrEqual(account.max);
    // And the account is now full, for a client of its own too, until the first slot leaves its window.
    const fourth = await limiter.acquire([account, { key: key('to:client-c'), max: 1, windowMs: 1_000 }], 0);
    expect(fourth).toMatchObject({ granted: false });
    if (!fourth.granted) expect(fourth.retryInMs).toBeGreaterThan(900);
  });

  it('reserves one slot in every key of a call at the earliest time all allow', async () => {
    const account: LimitKey = { key: key('account'), max: 5, windowMs: 1_000 };
    const recipient: LimitKey = { key: key('to:client-1'), max: 1, windowMs: 1_000 };
    const first = await limiter.acquire([account, recipient], 2_000);
    expect(first).toMatchObject({ granted: true, waitMs: 0 });
    // The recipient allows its next slot a window later; the account would allow it now.
    const second = await limiter.acquire([account, recipient], 2_000);
    expect(second.granted).toBe(true);
    if (!second.granted || !first.granted) return;
    expect(second.slotAtMs - first.slotAtMs).toBe(1_000);
    expect(second.waitMs).toBeGreaterThan(900);
    const slotsOf = async (name: string) => (await r.redis.zrange(name, 0, -1, 'WITHSCORES')).filter((_, i) => i % 2 === 1).map((us) => Number(us) / 1_000);
    expect(await slotsOf(account.key)).toEqual([first.slotAtMs, second.slotAtMs]);
    expect(await slotsOf(recipient.key)).toEqual([first.slotAtMs, second.slotAtMs]);
  });

  it('refuses a slot further off than maxWaitMs, says when it is, and reserves nothing', async () => {
    const limit: LimitKey = { key: key('account'), max: 2, windowMs: 1_000 };
    const other: LimitKey = { key: key('to:client-2'), max: 5, windowMs: 1_000 };
    await limiter.acquire([limit], 0);
    await limiter.acquire([limit], 0);
    const before = await r.redis.zrange(limit.key, 0, -1);
    const refused = await limiter.acquire([limit, other], 100);
    expect(refused.granted).toBe(false);
    if (refused.granted) return;
    expect(refused.retryInMs).toBeGreaterThan(100);
    expect(refused.retryInMs).toBeLessThanOrEqual(1_000);
    expect(await r.redis.zrange(limit.key, 0, -1)).toEqual(before);
    expect(await r.redis.exists(other.key)).toBe(0);
    // Waiting that long is enough.
    const granted = await limiter.acquire([limit, other], refused.retryInMs + 50);
    expect(granted.granted).toBe(true);
  });

  it('gives a slot back: released from every key, it goes to the next caller', async () => {
    const account: LimitKey = { key: key('account'), max: 1, windowMs: 1_000 };
    const recipient: LimitKey = { key: key('to:client-r'), max: 1, windowMs: 1_000 };
    const grant = await limiter.acquire([account, recipient], 0);
    if (!grant.granted) throw new Error('the first call is granted');
    expect(grant.ticket).toMatch(/^\d+:/);
    expect(await limiter.acquire([account], 0)).toMatchObject({ granted: false });
    await limiter.release([account, recipient], grant);
    expect(await r.redis.zcard(account.key)).toBe(0);
    expect(await r.redis.zcard(recipient.key)).toBe(0);
    expect(await limiter.acquire([account, recipient], 0)).toMatchObject({ granted: true, waitMs: 0 });
  });

  it('keeps recipients apart: one client at its limit does not hold up another', async () => {
    const account: LimitKey = { key: key('account'), max: 100, windowMs: 1_000 };
    const a: LimitKey = { key: key('to:client-a'), max: 1, windowMs: 6_000 };
    const b: LimitKey = { key: key('to:client-b'), max: 1, windowMs: 6_000 };
    expect(await limiter.acquire([account, a], 0)).toMatchObject({ granted: true, waitMs: 0 });
    expect(await limiter.acquire([account, a], 0)).toMatchObject({ granted: false });
    expect(await limiter.acquire([account, b], 0)).toMatchObject({ granted: true, waitMs: 0 });
    const again = await limiter.acquire([account, a], 0);
    expect(again.granted).toBe(false);
    if (!again.granted) expect(again.retryInMs).toBeGreaterThan(5_000);
  });

  it("takes the earliest time every key allows, even when one key's answer falls in another's busy time", async () => {
    const [seconds, micros] = await r.redis.time();
    // Slot times are microseconds of Redis's clock.
    const base = Number(seconds) * 1_000_000 + Number(micros);
    const account: LimitKey = { key: key('account'), max: 1, windowMs: 1_000 };
    const recipient: LimitKey = { key: key('to:client-x'), max: 1, windowMs: 1_000 };
    // Taken earlier: the recipient's slot 100 ms ahead (free again from base + 1100), the
    // account's 1500 ms ahead (busy from base + 500 to base + 2500).
    await r.redis.zadd(recipient.key, base + 100_000, 'earlier-recipient');
    await r.redis.zadd(account.key, base + 1_500_000, 'earlier-account');
    const answer = await limiter.acquire([account, recipient], 5_000);
    expect(answer).toMatchObject({ granted: true, slotAtMs: (base + 2_500_000) / 1_000 });
  });

  it('places a slot between earlier future ones when the window allows it', async () => {
    // A recipient pushed a slot 1 s ahead on the shared account key; another recipient may
    // still go now, and the account's count stays exact around both.
    const account: LimitKey = { key: key('account'), max: 2, windowMs: 1_000 };
    const a: LimitKey = { key: key('to:a'), max: 1, windowMs: 1_000 };
    const first = await limiter.acquire([account, a], 2_000);
    const later = await limiter.acquire([account, a], 2_000);
    const other = await limiter.acquire([account, { ...a, key: key('to:b') }], 2_000);
    const third = await limiter.acquire([account, { ...a, key: key('to:c') }], 2_000);
    if (!first.granted || !later.granted || !other.granted || !third.granted) throw new Error('all four fit within 2 s');
    expect(later.slotAtMs - first.slotAtMs).toBe(1_000);
    expect(other.slotAtMs - first.slotAtMs).toBeLessThan(100);
    // Two in [first, other] already: the fourth waits until a window after the second of them.
    expect(third.slotAtMs).toBe(other.slotAtMs + 1_000);
    const all = [first, later, other, third].map((answer) => answer.slotAtMs).sort((x, y) => x - y);
    expect(busiestWindow(all, 1_000)).toBeLessThanOrEqual(2);
  });

  it('lets idle keys expire one window after their last slot', async () => {
    const limit: LimitKey = { key: key('account'), max: 3, windowMs: 150 };
    await limiter.acquire([limit], 0);
    const ttl = await r.redis.pttl(limit.key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(150);
    await sleep(300);
    expect(await r.redis.exists(limit.key)).toBe(0);
  });

  it('rejects limits that cannot work', async () => {
    await expect(limiter.acquire([{ key: key('bad'), max: 0, windowMs: 1_000 }], 0)).rejects.toBeInstanceOf(InvalidRateLimitError);
    await expect(limiter.acquire([{ key: key('bad'), max: 1, windowMs: 0 }], 0)).rejects.toBeInstanceOf(InvalidRateLimitError);
    await expect(limiter.acquire([{ key: key('bad'), max: 1.5, windowMs: 10 }], 0)).rejects.toBeInstanceOf(InvalidRateLimitError);
    await expect(limiter.acquire([{ key: key('ok'), max: 1, windowMs: 1_000 }], -1)).rejects.toBeInstanceOf(RangeError);
    expect(await limiter.acquire([], 0)).toMatchObject({ granted: true, waitMs: 0 });
  });
});

describe('rate limit keys', () => {
  const limits = {
    prefix: '{crm}',
    marginMs: 25,
    providers: {
      twilio: { account: { max: 10, windowMs: 1_000 }, recipient: { max: 1, windowMs: 1_000 } },
      whatsapp: { account: null, recipient: { max: 1, windowMs: 6_000 } },
    },
  };

  it('names the account and the recipient by client id, under the prefix, in one Cluster hash slot', () => {
    const keys = rateLimitKeysFor(limits, 'twilio', 'client-42');
    // Spread: one call per (window + margin) / max.
    expect(keys).toEqual([
      { key: '{crm}:ratelimit:twilio:account', max: 1, windowMs: 102.5 },
      { key: '{crm}:ratelimit:twilio:to:client-42', max: 1, windowMs: 1_025 },
    ]);
    expect(new Set(keys.map((limit) => hashedPart(limit.key)))).toEqual(new Set(['crm']));
    expect(rateLimitKeysFor(limits, 'whatsapp', 'client-42')).toEqual([{ key: '{crm}:ratelimit:whatsapp:to:client-42', max: 1, windowMs: 6_025 }]);
    expect(rateLimitKeysFor(limits, 'whatsapp', null)).toEqual([]);
    expect(rateLimitKeysFor(limits, 'smtp', 'client-42')).toEqual([]);
    expect(rateLimitKey('crm', 'twilio')).toBe('crm:ratelimit:twilio:account');
  });

  it('stores no phone number or address in Redis: every key a limited send leaves names a client id', async () => {
    const redisLimits = sendRateLimitsFromConfig(
      { twilio: { max: 10, windowMs: 1_000 }, smsRecipient: { max: 1, windowMs: 1_000 }, whatsapp: null, whatsappRecipient: { max: 1, windowMs: 6_000 }, maxWaitMs: 1_000 },
      { redis: r.redis, prefix: `${r.prefix}:pii` },
    );
    if (!redisLimits) throw new Error('limits expected');
    for (const [provider, clientId] of [['twilio', 'client-7'], ['whatsapp', 'client-8'], ['twilio', 'plan-7.guest_3']] as const) {
      await redisLimits.limiter.acquire(rateLimitKeysFor(redisLimits, provider, clientId), redisLimits.maxWaitMs);
    }
    const stored = (await r.keys()).filter((name) => name.startsWith(`${r.prefix}:pii:`));
    expect(stored.sort()).toEqual([
      `${r.prefix}:pii:ratelimit:twilio:account`,
      `${r.prefix}:pii:ratelimit:twilio:to:client-7`,
      `${r.prefix}:pii:ratelimit:twilio:to:plan-7.guest_3`,
      `${r.prefix}:pii:ratelimit:whatsapp:to:client-8`,
    ]);
    for (const name of stored) {
      // The test's own prefix is random hex, which may hold a run of digits: only what follows it counts.
      const own = name.slice(r.prefix.length);
      expect(own).not.toMatch(/\+?\d{7,}/);
      expect(own).not.toContain('@');
      // Members are slot times and random tickets only.
      for (const member of await r.redis.zrange(name, 0, -1)) expect(member).toMatch(/^\d+:[A-Za-z0-9_-]{12}$/);
    }
  });

  it('builds nothing when every limit is off', () => {
    const off = { twilio: null, smsRecipient: null, whatsapp: null, whatsappRecipient: null, maxWaitMs: 1_000 };
    expect(sendRateLimitsFromConfig(off, { redis: r.redis, prefix: 'crm' })).toBeUndefined();
  });

  it('postpones a refused job to half the wait allowance before its slot', () => {
    expect(postponeMs(2_400, 1_000)).toBe(1_900);
    expect(postponeMs(5_000, 0)).toBe(5_000);
    expect(postponeMs(1, 1_000)).toBe(1);
  });
});
