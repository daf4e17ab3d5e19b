import { z } from 'zod';

/**
 * The life of a communication. The main line is
 * `pending → scheduled → queued → sending → sent → delivered → opened → clicked → responded`;
 * `failed`, `cancelled` and `bounced` are side exits. A low-urgency message that waited for a
 * digest ends as `batched` once its digest is made: from then on the digest (a communication
 * of its own, type `digest`) carries it.
 */
export const communicationStatuses = [
  'pending',
  'scheduled',
  'batched',
  'queued',
  'sending',
  'sent',
  'delivered',
  'opened',
  'clicked',
  'responded',
  'failed',
  'cancelled',
  'bounced',
] as const;
export const CommunicationStatusSchema = z.enum(communicationStatuses);
export type CommunicationStatus = z.infer<typeof CommunicationStatusSchema>;
/** @example CommunicationStatus.sent === 'sent' */
export const CommunicationStatus = CommunicationStatusSchema.enum;

/**
 * Every move the state machine allows, as data. Moves only go forward: a status may skip
 * steps (an email has no delivery receipt, so `sent → opened` is normal; a click without the
 * open pixel is `sent → clicked`), but never returns to an earlier one, so a late `sent`
 * callback can never overwrite `delivered`.
 *
 * The one loop is `sending → queued`: an attempt that failed goes back to the queue for a
 * retry or a fallback to another channel. Every such loop raises the communication's
 * `attempt_count`, and every write of the pipeline is conditional on the attempt it belongs to,
 * so the pair (attempt, status) still only moves forward and a stale job changes nothing.
 *
 * The second loop is `sent → queued`, for the same reason: the provider took an SMS or WhatsApp
 * message and later reported it undelivered (a signed status callback, recorded once by its event
 * id) while the plan still has a channel not tried, so the message goes back to the queue for
 * that channel. It too raises the attempt, and a late callback of the old attempt names the old
 * provider message id, which no longer matches.
 *
 * - `batched` only from `scheduled`, when the digest the message waits in is flushed.
 * - `cancelled` only before sending starts (opt-out, erasure, an operator's cancel).
 * - `failed` while in flight, and after `sent` when the provider later reports it undelivered.
 * - `bounced` once the message left us (SMTP 5xx on send, or an asynchronous bounce); from
 *   `queued` when the email bounced and no other channel was left to fall back to.
 */
export const statusTransitions: Readonly<Record<CommunicationStatus, readonly CommunicationStatus[]>> =
  Object.freeze({
    pending: ['scheduled', 'queued', 'cancelled', 'failed'],
    scheduled: ['queued', 'batched', 'cancelled', 'failed'],
    batched: [],
    queued: ['sending', 'cancelled', 'failed', 'bounced'],
    sending: ['queued', 'sent', 'failed', 'bounced'],
    sent: ['queued', 'delivered', 'opened', 'clicked', 'responded', 'failed', 'bounced'],
    delivered: ['opened', 'clicked', 'responded'],
    opened: ['clicked', 'responded'],
    clicked: ['responded'],
    responded: [],
    failed: [],
    cancelled: [],
    bounced: [],
  });

/**
 * Whether the state machine allows moving from `from` to `to`. Staying in place is not a move.
 *
 * @example canTransition('sent', 'delivered') // true
 * @example canTransition('delivered', 'sent') // false: a late callback
 */
export function canTransition(from: CommunicationStatus, to: CommunicationStatus): boolean {
  return statusTransitions[from].includes(to);
}

/**
 * The statuses from which `to` may be reached: the inverse of {@link statusTransitions},
 * used by the repository to guard its conditional update.
 *
 * @example allowedSourcesOf('sending') // ['queued']
 */
export function allowedSourcesOf(to: CommunicationStatus): readonly CommunicationStatus[] {
  return inverseTransitions[to];
}

const inverseTransitions: Readonly<Record<CommunicationStatus, readonly CommunicationStatus[]>> =
  Object.freeze(
    Object.fromEntries(
      communicationStatuses.map((to) => [
        to,
        Object.freeze(communicationStatuses.filter((from) => statusTransitions[from].includes(to))),
      ]),
    ) as Record<CommunicationStatus, readonly CommunicationStatus[]>,
  );

/**
 * A status with no way out. `responded` is final for delivery, though later opens and clicks
 * are still logged.
 *
 * @example isFinalStatus('bounced') // true
 */
export function isFinalStatus(status: CommunicationStatus): boolean {
  return statusTransitions[status].length === 0;
}

/** Statuses in which the message has left the engine and reached (at least) the provider. */
export const reachedProviderStatuses: readonly CommunicationStatus[] = Object.freeze([
  'sent',
  'delivered',
  'opened',
  'clicked',
  'responded',
]);
