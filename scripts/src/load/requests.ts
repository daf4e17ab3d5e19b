/**
 * Valid, varied communication requests for the load and soak runs: clients drawn from a pool,
 * contact details inline (as a workflow's first message to a client brings them), urgencies and
 * plans varied, a unique idempotency key each.
 */

/** Which channel a client of the pool is reached on. */
export type PoolChannel = 'email' | 'sms' | 'whatsapp';

export interface RequestMix {
  /** Distinct clients the requests go to (client k = sequence % pool). */
  readonly pool: number;
  /** Share of the pool reached by SMS and by WhatsApp (forced channel); the rest by email. */
  readonly smsShare: number;
  readonly whatsappShare: number;
}

/** The channel of client `k`: a stable share of the pool per channel. */
export function channelOf(k: number, mix: RequestMix): PoolChannel {
  const slot = (k % 100) / 100;
  if (slot < mix.smsShare) return 'sms';
  if (slot < mix.smsShare + mix.whatsappShare) return 'whatsapp';
  return 'email';
}

/** A phone number of client `k` in the fictional +1 415 555 range (10,000 numbers). */
const phoneOf = (k: number) => `+1415555${String(k % 10_000).padStart(4, '0')}`;

/**
 * A function that answers the JSON body of request number `sequence` of run `run`.
 *
 * @example
 * const body = requestBodies('a1b2', { pool: 5000, smsShare: 0, whatsappShare: 0 });
 * body(0); // '{"clientId":"load-a1b2-0",…}'
 */
export function requestBodies(run: string, mix: RequestMix): (sequence: number) => string {
  return (sequence) => {
    const k = sequence % mix.pool;
    const channel = channelOf(k, mix);
    const recipient = channel === 'email' ? { email: `load-${run}-${k}@example.com`, timezone: 'Europe/Paris' } : { phone: phoneOf(k), timezone: 'Europe/Paris' };
    return JSON.stringify({
      clientId: `load-${run}-${k}`,
      planId: `load-plan-${k % 97}`,
      messageType: 'reminder',
      urgency: sequence % 5 === 0 ? 'high' : 'normal',
      variables: { n: sequence, clientName: `Client ${k}`, eventName: 'Summer gala', reminderText: 'Please confirm the guest list.', dueDate: '2026-12-01' },
      channel: channel === 'email' ? null : channel,
      idempotencyKey: `load-${run}-${sequence}`,
      recipient,
    });
  };
}
