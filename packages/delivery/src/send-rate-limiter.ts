import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/** One limit: at most `max` calls in any sliding window of `windowMs`, counted under `key`. */
export interface LimitKey {
  /** The Redis key of the limit's log (see {@link rateLimitKey}). Never personal data. */
  readonly key: string;
  /** Calls allowed per window (a positive integer). */
  readonly max: number;
  /** Length of the window in ms (positive; counted in whole microseconds, rounded up). */
  readonly windowMs: number;
}

/**
 * What {@link SendRateLimiter.acquire} answers:
 * - `granted`: a slot is reserved `waitMs` from now (Redis's clock) in every key; make the
 *   call then, not before.
 * - refused: the earliest slot is `retryInMs` from now, further off than the caller would wait;
 *   nothing was reserved.
 */
export type RateLimitAnswer = RateLimitGrant | { readonly granted: false; readonly retryInMs: number };

/** A reserved slot. */
export interface RateLimitGrant {
  readonly granted: true;
  readonly waitMs: number;
  /** The slot, in epoch ms of Redis's clock. */
  readonly slotAtMs: number;
  /** The slot's entry in every key, for {@link SendRateLimiter.release}. */
  readonly ticket: string;
}

export interface SendRateLimiterOptions {
  /** Any Redis connection (commands only; nothing blocks). */
  readonly redis: Redis;
}

/**
 * Sliding log over the sorted sets in KEYS: each holds the granted (possibly future) slot times
 * of one limit, in microseconds of Redis's clock. ARGV: a random id for the entry, the longest
 * wait (µs; -1: any), then `max` and the window (µs) per key.
 *
 * Invariant per key (the sorted slot times s): s[j + max] - s[j] >= window for every j, i.e. no
 * half-open window holds more than `max` slots. A new slot c breaks it exactly when some `max`
 * consecutive slots s[j..j+max-1] lie, together with c, within less than a window: when they
 * span less than a window themselves and c is in the open interval
 * (s[j+max-1] - window, s[j] + window). Both ends grow with j, so one pass over these
 * intervals finds the earliest c >= from outside all of them. The earliest time every key
 * allows is the fixpoint of taking each key's earliest in turn (c only grows; it ends past
 * every interval). Slots at or before now - window can constrain no c >= now, so they are
 * pruned first; the key expires one window after its last slot.
 *
 * Answers { 1, wait, slot, entry } (reserved in every key as `entry`) or { 0, wait } (further
 * off than the longest wait; nothing reserved); times in µs.
 */
const ACQUIRE_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local maxWait = tonumber(ARGV[2])
local limits = {}
for i = 1, #KEYS do
  local max = tonumber(ARGV[2 * i + 1])
  local window = tonumber(ARGV[2 * i + 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local raw = redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES')
  local slots = {}
  for j = 2, #raw, 2 do slots[#slots + 1] = tonumber(raw[j]) end
  limits[i] = { max = max, window = window, slots = slots }
end

local function earliest(limit, from)
  local slots, max, window = limit.slots, limit.max, limit.window
  local c = from
  for j = 1, #slots - max + 1 do
    local last = slots[j + max - 1]
    if last - window >= c then break end
    if last - slots[j] < window and c < slots[j] + window then c = slots[j] + window end
  end
  return c
end

local at = now
local moved = true
while moved do
  moved = false
  for i = 1, #KEYS do
    local c = earliest(limits[i], at)
    if c ~= at then
      at = c
      moved = true
    end
  end
end

if maxWait >= 0 and at - now > maxWait then return { 0, at - now } end
local member = string.format('%.0f', at) .. ':' .. ARGV[1]
for i = 1, #KEYS do
  local limit = limits[i]
  local last = at
  if #limit.slots > 0 and limit.slots[#limit.slots] > last then last = limit.slots[#limit.slots] end
  redis.call('ZADD', KEYS[i], at, member)
  redis.call('PEXPIRE', KEYS[i], math.ceil((last - now + limit.window) / 1000))
end
return { 1, at - now, at, member }
`;

const ACQUIRE_SHA = createHash('sha1').update(ACQUIRE_SCRIPT).digest('hex');

/** A limit that cannot work (max not a positive integer, window not positive): a configuration bug. */
export class InvalidRateLimitError extends Error {
  readonly code = 'invalid_rate_limit';
  readonly key: string;
  constructor(key: string, problem: string) {
    super(`rate limit ${key}: ${problem}`);
    this.name = 'InvalidRateLimitError';
    this.key = key;
  }
}

/**
 * Rate limits shared by every process through Redis, taken before each provider call. One Lua
 * script (atomic, on Redis's clock, in microseconds) finds the earliest time that every given
 * key allows, and either reserves that slot in all of them at once or reserves nothing:
 *
 * - exact: in any window of `windowMs` at most `max` slots are granted per key, however many
 *   processes ask (a sliding log of slot times per key, not a token bucket: a bucket of N refills
 *   can let 2N-1 through one window);
 * - several keys at once (the provider account and the recipient): the slot is the earliest time
 *   all allow, and it counts in all;
 * - a slot up to `maxWaitMs` ahead is granted and waited for by the caller; a later one is
 *   refused, with the time to come back. A slot that will not be used after all can be
 *   given back ({@link SendRateLimiter.release}).
 *
 * With Redis Cluster every key of one call must share a hash slot: use a hash-tagged queue
 * prefix (`{crm}`), as BullMQ requires anyway, and build keys with {@link rateLimitKey}.
 *
 * @example
 * const limiter = new SendRateLimiter({ redis });
 * const answer = await limiter.acquire([
 *   { key: rateLimitKey(prefix, 'twilio'), max: 10, windowMs: 1_000 },
 *   { key: rateLimitKey(prefix, 'twilio', 'client-42'), max: 1, windowMs: 1_000 },
 * ], 1_000);
 * if (answer.granted) await sleep(answer.waitMs); // then call the provider
 */
export class SendRateLimiter {
  readonly #props: SendRateLimiterOptions;

  constructor(props: SendRateLimiterOptions) {
    if (!props.redis) throw new TypeError('SendRateLimiter requires a redis connection');
    this.#props = Object.freeze({ ...props });
  }

  /**
   * Reserves the earliest slot all `keys` allow if it is at most `maxWaitMs` away (any distance
   * when `Infinity`); otherwise reserves nothing and says how far off it is. No keys: granted
   * at once.
   */
  async acquire(keys: readonly LimitKey[], maxWaitMs = Number.POSITIVE_INFINITY): Promise<RateLimitAnswer> {
    if (keys.length === 0) return { granted: true, waitMs: 0, slotAtMs: Date.now(), ticket: '' };
    if (Number.isNaN(maxWaitMs) || maxWaitMs < 0) throw new RangeError('maxWaitMs must be 0 or more');
    for (const limit of keys) validate(limit);
    const args = [
      randomBytes(9).toString('base64url'),
      Number.isFinite(maxWaitMs) ? String(Math.floor(maxWaitMs * 1_000)) : '-1',
      ...keys.flatMap((limit) => [String(limit.max), String(Math.ceil(limit.windowMs * 1_000))]),
    ];
    const [granted, waitUs, atUs, ticket] = (await this.#run(keys.map((limit) => limit.key), args)) as [number, number, number?, string?];
    return granted === 1 ? { granted: true, waitMs: waitUs / 1_000, slotAtMs: (atUs ?? 0) / 1_000, ticket: ticket ?? '' } : { granted: false, retryInMs: waitUs / 1_000 };
  }

  /**
   * Gives back a slot that {@link acquire} reserved in `keys` and that will not be used (the
   * call is not made, or not at its time). Removing a slot never lets a window hold too many.
   */
  async release(keys: readonly LimitKey[], grant: Pick<RateLimitGrant, 'ticket'>): Promise<void> {
    if (keys.length === 0 || !grant.ticket) return;
    const pipeline = this.#props.redis.pipeline();
    for (const limit of keys) pipeline.zrem(limit.key, grant.ticket);
    await pipeline.exec();
  }

  async #run(keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const redis = this.#props.redis;
    try {
      return await redis.evalsha(ACQUIRE_SHA, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(ACQUIRE_SCRIPT, keys.length, ...keys, ...args);
    }
  }
}

function validate(limit: LimitKey): void {
  if (!limit.key) throw new InvalidRateLimitError('(empty)', 'the key is empty');
  if (!Number.isInteger(limit.max) || limit.max < 1) throw new InvalidRateLimitError(limit.key, 'max must be a positive integer');
  if (!Number.isFinite(limit.windowMs) || limit.windowMs < 0.001) throw new InvalidRateLimitError(limit.key, 'windowMs must be at least 0.001 (1 µs)');
}

/**
 * The Redis key of a provider's limit: the account's (`<prefix>:ratelimit:<provider>:account`)
 * or one recipient's (`<prefix>:ratelimit:<provider>:to:<clientId>`). Recipients are named by
 * client id, never by phone number or address. Under a hash-tagged prefix every key lands in
 * the prefix's Cluster slot.
 *
 * @example rateLimitKey('{crm}', 'whatsapp', 'client-42') // '{crm}:ratelimit:whatsapp:to:client-42'
 */
export function rateLimitKey(prefix: string, provider: string, clientId?: string): string {
  return clientId === undefined ? `${prefix}:ratelimit:${provider}:account` : `${prefix}:ratelimit:${provider}:to:${clientId}`;
}
