import { z } from 'zod';
import type { Logger } from '@crm/observability';

/**
 * The channels whose messages get status callbacks.
 *
 * @example CALLBACK_CHANNELS.includes('sms') // true
 */
export const CALLBACK_CHANNELS = ['sms', 'whatsapp'] as const;
export type CallbackChannel = (typeof CALLBACK_CHANNELS)[number];

export const isCallbackChannel = (value: string): value is CallbackChannel => (CALLBACK_CHANNELS as readonly string[]).includes(value);

/** How a message's delivery ends: `read` is WhatsApp's only, `undelivered` Twilio's only. */
export type FinalStatus = 'delivered' | 'read' | 'undelivered' | 'failed';

/** What happens to the messages of a channel (or of one recipient) after they are accepted. */
export interface DeliveryOutcome {
  readonly final: FinalStatus;
  /** The provider's error code of an `undelivered` / `failed` end (Twilio `ErrorCode`, WhatsApp `errors[].code`), else `null`. */
  readonly errorCode: number | string | null;
  /**
   * Shuffle the callbacks of a message (`delivered` before `sent`, `read` before `delivered`):
   * always (`true`), never (`false`), or with this probability (0–1) per message.
   */
  readonly outOfOrder: boolean | number;
}

/** The normal ends: Twilio `queued → sent → delivered`, WhatsApp `sent → delivered → read`. */
export const DEFAULT_OUTCOMES: Readonly<Record<CallbackChannel, DeliveryOutcome>> = Object.freeze({
  sms: Object.freeze({ final: 'delivered', errorCode: null, outOfOrder: false }),
  whatsapp: Object.freeze({ final: 'read', errorCode: null, outOfOrder: false }),
});

/**
 * The error code of a failure when none is given: Twilio 30003 (unreachable handset) for
 * `undelivered`, 30008 (unknown error) for `failed`; WhatsApp 131026 (undeliverable).
 */
export const DEFAULT_FAILURE_CODES = Object.freeze({ sms: { undelivered: 30003, failed: 30008 }, whatsapp: { failed: 131026 } });

const finals: Record<CallbackChannel, readonly [FinalStatus, ...FinalStatus[]]> = {
  sms: ['delivered', 'undelivered', 'failed'],
  whatsapp: ['delivered', 'read', 'failed'],
};

const errorCode = z.union([z.number().int().min(0).max(999_999_999), z.string().trim().regex(/^\d{1,10}$/, 'must be a numeric provider error code')]);
const recipient = z.string().trim().regex(/^\+?[\d\s().-]{7,24}$/, 'must be a phone number');

const outcomeSchema = (channel: CallbackChannel) =>
  z
    .strictObject({
      final: z.enum(finals[channel]).optional(),
      errorCode: errorCode.nullable().optional(),
      outOfOrder: z.union([z.boolean(), z.number().min(0).max(1)]).optional(),
      to: recipient.optional(),
    })
    .superRefine((body, context) => {
      const failing = body.final === 'failed' || body.final === 'undelivered';
      if (!failing && body.errorCode !== undefined && body.errorCode !== null) {
        context.addIssue({ code: 'custom', path: ['errorCode'], message: 'applies only with final undelivered or failed' });
      }
    })
    .transform((body): { outcome: DeliveryOutcome; to: string | null } => {
      const final = body.final ?? DEFAULT_OUTCOMES[channel].final;
      const failing = final === 'failed' || final === 'undelivered';
      const defaultCode = channel === 'sms' ? (final === 'undelivered' ? DEFAULT_FAILURE_CODES.sms.undelivered : DEFAULT_FAILURE_CODES.sms.failed) : DEFAULT_FAILURE_CODES.whatsapp.failed;
      return {
        outcome: { final, errorCode: failing ? (body.errorCode ?? defaultCode) : null, outOfOrder: body.outOfOrder ?? false },
        to: body.to ?? null,
      };
    });

/**
 * The body of `PUT /admin/callbacks/outcomes/:channel`: `{ final?, errorCode?, outOfOrder?, to? }`,
 * strict; a field left out is normal (`{}` is the default outcome). `final` is `delivered`,
 * `undelivered` or `failed` for `sms`, `delivered`, `read` or `failed` for `whatsapp`;
 * `errorCode` only with a failure (default: {@link DEFAULT_FAILURE_CODES}); `to` limits the
 * outcome to one recipient.
 *
 * @example deliveryOutcomeSchemas.sms.parse({ final: 'undelivered', errorCode: 30005 })
 * // { outcome: { final: 'undelivered', errorCode: 30005, outOfOrder: false }, to: null }
 */
export const deliveryOutcomeSchemas = Object.freeze({ sms: outcomeSchema('sms'), whatsapp: outcomeSchema('whatsapp') });

/** A recipient's key: the number's digits (`+1 415 555 0123` and `14155550123` are one). */
const keyOf = (to: string): string => to.replace(/\D/g, '');

/** Every outcome that is set, as `GET /admin/callbacks` shows it. */
export type DeliveryOutcomeSettings = Readonly<Record<CallbackChannel, { readonly default: DeliveryOutcome; readonly recipients: Readonly<Record<string, DeliveryOutcome>> }>>;

/**
 * The outcome knobs of the status callbacks: per channel, and optionally per recipient (which
 * wins). In memory; changes are logged without the recipient.
 *
 * @example
 * const outcomes = new DeliveryOutcomes();
 * outcomes.set('sms', { final: 'undelivered', errorCode: 30005, outOfOrder: false }, '+14155550123');
 * outcomes.get('sms', '+14155550123').final; // 'undelivered'
 * outcomes.get('sms', '+14155550199').final; // 'delivered'
 */
export class DeliveryOutcomes {
  readonly #defaults = new Map<CallbackChannel, DeliveryOutcome>();
  readonly #recipients = new Map<CallbackChannel, Map<string, DeliveryOutcome>>(CALLBACK_CHANNELS.map((channel) => [channel, new Map()]));
  readonly #logger: Logger | undefined;

  constructor(options: { readonly logger?: Logger } = {}) {
    this.#logger = options.logger;
  }

  /** The outcome for a message of `channel` to `to`: the recipient's, else the channel's, else the default. */
  get(channel: CallbackChannel, to?: string): DeliveryOutcome {
    const own = to === undefined ? undefined : this.#recipients.get(channel)?.get(keyOf(to));
    return own ?? this.#defaults.get(channel) ?? DEFAULT_OUTCOMES[channel];
  }

  /** Sets the outcome of `channel`, or of one recipient when `to` is given. Validate input with {@link deliveryOutcomeSchemas}. */
  set(channel: CallbackChannel, outcome: DeliveryOutcome, to?: string | null): DeliveryOutcome {
    if (channel === 'sms' && outcome.final === 'read') throw new RangeError("an SMS does not end as 'read'");
    if (channel === 'whatsapp' && outcome.final === 'undelivered') throw new RangeError("a WhatsApp message does not end as 'undelivered' (use 'failed')");
    const stored = Object.freeze({ final: outcome.final, errorCode: outcome.errorCode, outOfOrder: outcome.outOfOrder });
    if (to === undefined || to === null) this.#defaults.set(channel, stored);
    else this.#recipients.get(channel)?.set(keyOf(to), stored);
    this.#logger?.info({ channel, perRecipient: to !== undefined && to !== null, outcome: stored }, 'sandbox delivery outcome set');
    return stored;
  }

  /** Back to the defaults: one channel, or all. */
  reset(channel?: CallbackChannel): void {
    for (const each of channel === undefined ? CALLBACK_CHANNELS : [channel]) {
      this.#defaults.delete(each);
      this.#recipients.get(each)?.clear();
    }
  }

  all(): DeliveryOutcomeSettings {
    const of = (channel: CallbackChannel) => ({
      default: this.get(channel),
      recipients: Object.fromEntries(this.#recipients.get(channel) ?? []),
    });
    return { sms: of('sms'), whatsapp: of('whatsapp') };
  }
}

/**
 * The statuses a message's callbacks report, in the providers' order:
 *
 * | channel | final | statuses |
 * |---|---|---|
 * | sms | delivered | queued, sent, delivered |
 * | sms | undelivered | queued, sent, undelivered |
 * | sms | failed | queued, failed |
 * | whatsapp | delivered | sent, delivered |
 * | whatsapp | read | sent, delivered, read |
 * | whatsapp | failed | failed |
 *
 * @example statusSequence('whatsapp', 'read') // ['sent', 'delivered', 'read']
 */
export function statusSequence(channel: CallbackChannel, final: FinalStatus): string[] {
  if (channel === 'sms') {
    if (final === 'failed') return ['queued', 'failed'];
    return ['queued', 'sent', final === 'undelivered' ? 'undelivered' : 'delivered'];
  }
  if (final === 'failed') return ['failed'];
  return final === 'read' ? ['sent', 'delivered', 'read'] : ['sent', 'delivered'];
}

/** Whether a message's callbacks are shuffled under `outOfOrder` (one draw per message when it is a probability). */
export function shouldShuffle(outOfOrder: boolean | number, random: () => number): boolean {
  if (typeof outOfOrder === 'boolean') return outOfOrder;
  if (outOfOrder <= 0) return false;
  return outOfOrder >= 1 || random() < outOfOrder;
}

/**
 * A permutation of `items` that is never their own order (when there are two or more): a
 * Fisher–Yates shuffle with `random`, and if that gave the same order, the last two swapped.
 *
 * @example shuffled(['sent', 'delivered'], Math.random) // ['delivered', 'sent']
 */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const result = [...items];
  for (let index = result.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [result[index], result[other]] = [result[other] as T, result[index] as T];
  }
  if (result.length >= 2 && result.every((item, index) => item === items[index])) {
    const last = result.length - 1;
    [result[last - 1], result[last]] = [result[last] as T, result[last - 1] as T];
  }
  return result;
}
