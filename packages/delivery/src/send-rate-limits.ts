import type { Redis } from 'ioredis';
import type { Runtime } from '@crm/runtime';
import { rateLimitKey, SendRateLimiter, type LimitKey } from './send-rate-limiter';

/** A rate: at most `max` calls per `windowMs`. */
export interface Rate {
  readonly max: number;
  readonly windowMs: number;
}

/** One provider's limits; `null`: none of that kind. */
export interface ProviderRateLimits {
  /** Across the provider account (every recipient). */
  readonly account: Rate | null;
  /** To any one recipient (client). */
  readonly recipient: Rate | null;
}

/**
 * What is added to each window before its calls are spread over it, in ms. The provider counts
 * arrivals, and calls reach it some ms after their slot (a timer firing late on a busy event
 * loop, the network), not always by the same amount: a call that is late by more than the
 * margin compared with the one `max` slots later would crowd that window. Half of it is what a
 * call may be late at the worker before it trades its slot for a new one (see deliverAttempt);
 * the other half is left for the way to the provider. 30 ms keeps 97.1 % of a rate per 1 s
 * window (1000 / 1030), more of longer windows. Measured in
 * services/messaging-worker/test/rate-limit.test.ts with three worker processes on two cores.
 */
export const DEFAULT_RATE_MARGIN_MS = 30;

/** The rate limits a channel worker takes before each provider call. */
export interface SendRateLimits {
  readonly limiter: SendRateLimiter;
  /** Prefix of the limit keys: the queue prefix. */
  readonly prefix: string;
  /** By provider name (a sender's `provider`: `twilio`, `whatsapp`); a provider not listed is not limited. */
  readonly providers: Readonly<Partial<Record<string, ProviderRateLimits>>>;
  /** A slot at most this far off is waited for in the worker; a later one postpones the job. */
  readonly maxWaitMs: number;
  /** Added to each window (see {@link DEFAULT_RATE_MARGIN_MS}). */
  readonly marginMs: number;
}

/**
 * The limits of one call to `provider` for `clientId`: the account's and the recipient's,
 * whichever are set (the recipient's needs the client id).
 *
 * A rate of `max` per `windowMs` is taken as one call per `(windowMs + marginMs) / max`: calls
 * evenly spread, never a burst. That keeps every window of `windowMs` at `max` calls or fewer
 * (`max + 1` calls spaced that far apart span at least `windowMs + marginMs`), and keeps it at
 * the provider too as long as no call reaches it later (counted from its slot) by more than
 * `marginMs` than the call `max` slots after it. A burst of `max` simultaneous calls (what a plain sliding log
 * grants) does not stay that close: measured, one process spread such a burst over ~140 ms.
 *
 * @example
 * rateLimitKeysFor({ prefix: '{crm}', providers, marginMs: 30 }, 'whatsapp', 'client-42')
 * // [{ key: '{crm}:ratelimit:whatsapp:account', max: 1, windowMs: 12.875 },   // 80/1s
 * //  { key: '{crm}:ratelimit:whatsapp:to:client-42', max: 1, windowMs: 6030 }] // 1/6s
 */
export function rateLimitKeysFor(limits: Pick<SendRateLimits, 'prefix' | 'providers' | 'marginMs'>, provider: string, clientId: string | null): LimitKey[] {
  const own = limits.providers[provider];
  if (!own) return [];
  const spaced = (key: string, rate: Rate): LimitKey => ({ key, max: 1, windowMs: (rate.windowMs + limits.marginMs) / rate.max });
  const keys: LimitKey[] = [];
  if (own.account) keys.push(spaced(rateLimitKey(limits.prefix, provider), own.account));
  if (own.recipient && clientId !== null) keys.push(spaced(rateLimitKey(limits.prefix, provider, clientId), own.recipient));
  return keys;
}

/** Whether `provider` has a limit per recipient (then a job without a client id has it looked up). */
export function limitsRecipients(limits: Pick<SendRateLimits, 'providers'>, provider: string): boolean {
  return Boolean(limits.providers[provider]?.recipient);
}

/**
 * How long to postpone a job whose slot is `retryInMs` away: until half the wait allowance
 * before it, so the job comes back to a slot it may wait for (`maxWaitMs / 2` ahead) even if
 * the delayed job is promoted a little late, and others it competes with have not taken it.
 *
 * @example postponeMs(2_400, 1_000) // 1_900
 */
export function postponeMs(retryInMs: number, maxWaitMs: number): number {
  return Math.max(1, Math.round(retryInMs - maxWaitMs / 2));
}

/**
 * The messaging limits from `config.rateLimits`: Twilio (SMS) with the account limit
 * `TWILIO_RATE_LIMIT` and `SMS_RECIPIENT_RATE_LIMIT` per recipient, WhatsApp with
 * `WHATSAPP_RATE_LIMIT` and `WHATSAPP_RECIPIENT_RATE_LIMIT`. Email has none here (its SMTP pool
 * has `SMTP_RATE_PER_SECOND`). `undefined` when every limit is off.
 *
 * @example
 * const rateLimits = sendRateLimitsFromConfig(config.rateLimits, { redis, prefix: config.redis.queuePrefix });
 */
export function sendRateLimitsFromConfig(
  config: Runtime['config']['rateLimits'],
  options: { readonly redis: Redis; readonly prefix: string; readonly marginMs?: number },
): SendRateLimits | undefined {
  const providers: Record<string, ProviderRateLimits> = {};
  if (config.twilio || config.smsRecipient) providers.twilio = { account: config.twilio, recipient: config.smsRecipient };
  if (config.whatsapp || config.whatsappRecipient) providers.whatsapp = { account: config.whatsapp, recipient: config.whatsappRecipient };
  if (Object.keys(providers).length === 0) return undefined;
  return Object.freeze({
    limiter: new SendRateLimiter({ redis: options.redis }),
    prefix: options.prefix,
    providers: Object.freeze(providers),
    maxWaitMs: config.maxWaitMs,
    marginMs: options.marginMs ?? DEFAULT_RATE_MARGIN_MS,
  });
}
