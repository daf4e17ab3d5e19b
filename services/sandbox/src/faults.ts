import { z } from 'zod';
import type { Logger } from '@crm/observability';

/** The channels a fault can be set on: `email` (SMTP server), `sms` (Twilio stand-in), `whatsapp` (WhatsApp stand-in). */
export const FAULT_CHANNELS = ['email', 'sms', 'whatsapp'] as const;
export type FaultChannel = (typeof FAULT_CHANNELS)[number];

/** The fault knobs of one channel. */
export interface FaultSetting {
  /**
   * What to refuse with, or `null` for nothing. `email`: an SMTP reply code 400–599 (451
   * transient, 421 closing, 550 permanent, 535 auth failure, 452…). `sms`/`whatsapp`: the
   * provider's error code (a number or a string).
   */
  readonly errorCode: number | string | null;
  /** Share (0–1) of messages refused with `errorCode`; 0 when there is none. */
  readonly errorRate: number;
  /** Delay added before the provider's final answer, in ms (0–120000). */
  readonly latencyMs: number;
  /** The provider is down: connections are dropped (email) / requests fail. */
  readonly outage: boolean;
}

/** Every channel's setting, as `GET /admin/faults` answers. */
export type FaultSettings = Readonly<Record<FaultChannel, FaultSetting>>;

/** No fault: what every channel starts with and goes back to on reset. */
export const NO_FAULT: FaultSetting = Object.freeze({ errorCode: null, errorRate: 0, latencyMs: 0, outage: false });

/** Largest `latencyMs` accepted. */
export const MAX_FAULT_LATENCY_MS = 120_000;

export const isFaultChannel = (value: string): value is FaultChannel => (FAULT_CHANNELS as readonly string[]).includes(value);

const smtpReplyCode = z
  .number({ error: 'must be an SMTP reply code (a number 400–599) or null' })
  .int('must be an SMTP reply code (a number 400–599) or null')
  .min(400, 'must be an SMTP reply code 400–599 (4xx transient, 5xx permanent)')
  .max(599, 'must be an SMTP reply code 400–599 (4xx transient, 5xx permanent)');
const providerErrorCode = z.union([z.number().int().min(0).max(999_999_999), z.string().trim().min(1).max(64)], {
  error: 'must be a provider error code (an integer or a string of 1–64 characters) or null',
});

const settingSchema = (errorCode: typeof smtpReplyCode | typeof providerErrorCode) =>
  z
    .strictObject({
      errorCode: errorCode.nullable().optional(),
      errorRate: z.number().min(0).max(1).optional(),
      latencyMs: z.number().int().min(0).max(MAX_FAULT_LATENCY_MS).optional(),
      outage: z.boolean().optional(),
    })
    .superRefine((body, context) => {
      if (body.errorRate !== undefined && (body.errorCode === undefined || body.errorCode === null)) {
        context.addIssue({ code: 'custom', path: ['errorRate'], message: 'applies only with an errorCode' });
      }
    })
    .transform(
      (body): FaultSetting => ({
        errorCode: body.errorCode ?? null,
        errorRate: body.errorCode === undefined || body.errorCode === null ? 0 : (body.errorRate ?? 1),
        latencyMs: body.latencyMs ?? 0,
        outage: body.outage ?? false,
      }),
    );

/**
 * The body of `PUT /admin/faults/:channel` for each channel: strict (unknown fields are
 * refused), every field optional, a field left out is normal (so `{}` clears the channel).
 * `errorRate` defaults to 1 when `errorCode` is given and is refused without one.
 *
 * @example
 * faultSettingSchemas.email.parse({ errorCode: 451 }) // { errorCode: 451, errorRate: 1, latencyMs: 0, outage: false }
 */
export const faultSettingSchemas = Object.freeze({
  email: settingSchema(smtpReplyCode),
  sms: settingSchema(providerErrorCode),
  whatsapp: settingSchema(providerErrorCode),
});

export type FaultListener = (channel: FaultChannel, setting: FaultSetting) => void;

export interface FaultStoreOptions {
  /** Where changes are logged (info: channel and setting, which hold no personal data). */
  readonly logger?: Logger;
}

/**
 * The current fault knobs of every channel, in memory. The SMTP server reads `email` for each
 * connection and message (and listens for changes, to end sessions when an outage starts);
 * the HTTP simulators read `sms` and `whatsapp` the same way.
 *
 * @example
 * const faults = new FaultStore({ logger });
 * faults.set('email', { errorCode: 451, errorRate: 0.5, latencyMs: 0, outage: false });
 * faults.get('email').errorCode; // 451
 * faults.reset(); // every channel back to normal
 */
export class FaultStore {
  readonly #settings = new Map<FaultChannel, FaultSetting>(FAULT_CHANNELS.map((channel) => [channel, NO_FAULT]));
  readonly #listeners = new Set<FaultListener>();
  readonly #logger: Logger | undefined;

  constructor(options: FaultStoreOptions = {}) {
    this.#logger = options.logger;
  }

  /** The channel's current setting ({@link NO_FAULT} when none is set). Cheap: read it per message. */
  get(channel: FaultChannel): FaultSetting {
    return this.#settings.get(channel) ?? NO_FAULT;
  }

  /** Every channel's current setting. */
  all(): FaultSettings {
    return Object.freeze(Object.fromEntries(FAULT_CHANNELS.map((channel) => [channel, this.get(channel)])) as Record<FaultChannel, FaultSetting>);
  }

  /**
   * Replaces the channel's setting (validate input with {@link faultSettingSchemas} first) and
   * tells the listeners. Returns the stored (frozen) setting.
   */
  set(channel: FaultChannel, setting: FaultSetting): FaultSetting {
    const stored = Object.freeze({ errorCode: setting.errorCode, errorRate: setting.errorRate, latencyMs: setting.latencyMs, outage: setting.outage });
    this.#settings.set(channel, stored);
    this.#logger?.info({ channel, fault: stored }, 'sandbox fault set');
    for (const listener of this.#listeners) listener(channel, stored);
    return stored;
  }

  /** Puts `channel` (or every channel) back to normal. */
  reset(channel?: FaultChannel): void {
    for (const each of channel === undefined ? FAULT_CHANNELS : [channel]) {
      const wasSet = this.get(each) !== NO_FAULT;
      this.#settings.set(each, NO_FAULT);
      if (wasSet) this.#logger?.info({ channel: each }, 'sandbox fault cleared');
      for (const listener of this.#listeners) listener(each, NO_FAULT);
    }
  }

  /** Calls `listener` after every change; returns the function that stops it. */
  onChange(listener: FaultListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/**
 * Whether this message gets the fault's `errorCode`: always at rate 1, never at rate 0 (the
 * random source is not called then), else with probability `errorRate` from `random`.
 *
 * @example
 * rollFault({ errorCode: 451, errorRate: 0.5, latencyMs: 0, outage: false }, () => 0.2) // true
 */
export function rollFault(setting: FaultSetting, random: () => number): boolean {
  if (setting.errorCode === null || setting.errorRate <= 0) return false;
  return setting.errorRate >= 1 || random() < setting.errorRate;
}
