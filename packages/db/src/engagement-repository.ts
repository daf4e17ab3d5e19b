import { sql } from 'kysely';
import type { CommunicationStatus, JsonObject } from '@crm/core';
import type { Executor } from './communication-repository';
import { moveCommunication } from './delivery-repository';
import type { DeliveryLogEvent } from './schema';

/**
 * What recipients do with an email (issue 6): opens, clicks and unsubscribes, from the ingest
 * routes `/t/o`, `/t/c` and `/u`. Every one is logged; the status only moves forward, through
 * the same guarded one-statement move as the delivery pipeline, so a late open can never pull a
 * clicked message back and two concurrent opens move it once. Nothing personal is logged: the
 * open's detail holds a verdict and a user-agent family, never the user agent or an address.
 */

/** What an open or a click did. */
export interface EngagementResult {
  /** The communication exists (it may have been erased since the email went out). */
  readonly found: boolean;
  /** The status moved (the first open, or the first click). */
  readonly moved: boolean;
  /** When it moved (`opened_at` / `clicked_at`); `null` when it did not. */
  readonly at: Date | null;
}

export interface OpenInput {
  readonly communicationId: string;
  /** A likely machine open (see `isLikelyMachineOpen` in @crm/core). */
  readonly machine: boolean;
  readonly reason: string;
  /** A coarse family (`apple_mpp`, `other`…), never the user agent itself. */
  readonly userAgentFamily?: string;
}

export interface ClickInput {
  readonly communicationId: string;
  /** The URL signed into the click token: our template's link, not personal data. */
  readonly url: string;
}

/** Statuses an open moves forward from; later ones (clicked, responded) keep theirs. */
const openSources: readonly CommunicationStatus[] = Object.freeze(['sent', 'delivered']);
/** Statuses a click moves forward from. */
const clickSources: readonly CommunicationStatus[] = Object.freeze(['sent', 'delivered', 'opened']);

/** A log row that changes no status (a repeated open, a click on a responded message). */
async function logOnly(db: Executor, communicationId: string, event: DeliveryLogEvent, detail: JsonObject): Promise<boolean> {
  const { rows } = await sql<{ id: string }>`
    INSERT INTO crm_delivery_logs (communication_id, event, channel, detail)
    SELECT id, ${event}::text, channel, ${JSON.stringify(detail)}::jsonb FROM crm_communications WHERE id = ${communicationId}::uuid
    RETURNING id`.execute(db);
  return rows.length > 0;
}

async function engage(
  db: Executor,
  communicationId: string,
  move: { readonly to: 'opened' | 'clicked'; readonly from: readonly CommunicationStatus[]; readonly detail: JsonObject },
): Promise<EngagementResult> {
  const result = await moveCommunication(db, {
    id: communicationId,
    // Tracking links exist in emails only; the guard's channel is also the log row's.
    guard: { statuses: move.from, channel: 'email' },
    to: move.to,
    event: move.to,
    detail: move.detail,
  });
  if (result.applied) {
    const at = move.to === 'opened' ? result.communication.opened_at : result.communication.clicked_at;
    return { found: true, moved: true, at };
  }
  if (result.current === null) return { found: false, moved: false, at: null };
  // Not movable from where it is (already opened, responded, still sending…): logged all the same.
  const found = await logOnly(db, communicationId, move.to, move.detail);
  return { found, moved: false, at: null };
}

/**
 * Records an open: always a delivery-log row `opened` with `{ machine, reason, userAgentFamily }`,
 * and the first open of an email communication in `sent` or `delivered` moves its status to
 * `opened`. A likely machine
 * open moves the status too (the pixel was loaded); the flag in its log row is what lets open
 * rates be shown with and without machine opens.
 *
 * @example
 * const { moved, at } = await recordOpen(db, { communicationId, machine: false, reason: 'none', userAgentFamily: 'other' });
 */
export async function recordOpen(db: Executor, input: OpenInput): Promise<EngagementResult> {
  const detail: JsonObject = {
    machine: input.machine,
    reason: input.reason,
    ...(input.userAgentFamily !== undefined && { userAgentFamily: input.userAgentFamily }),
  };
  return engage(db, input.communicationId, { to: 'opened', from: openSources, detail });
}

/**
 * Records a click: always a delivery-log row `clicked` with the URL, and the first click on an
 * email communication in `sent`, `delivered` or `opened` moves its status to `clicked` (a click without the pixel, when
 * images are blocked, is `sent → clicked`).
 *
 * @example
 * await recordClick(db, { communicationId, url: 'https://example.com/plan' });
 */
export async function recordClick(db: Executor, input: ClickInput): Promise<EngagementResult> {
  return engage(db, input.communicationId, { to: 'clicked', from: clickSources, detail: { url: input.url } });
}

export interface UnsubscribeInput {
  readonly communicationId: string;
  /** How it came: the footer link (`link`) or a mail client's RFC 8058 one-click POST (`one_click`). */
  readonly method?: 'link' | 'one_click';
}

export interface UnsubscribeResult {
  readonly found: boolean;
  /** `email` was added to the client's opt-outs now (not already there). */
  readonly optedOut: boolean;
}

/**
 * Opts the communication's client out of email: adds `email` to `crm_client_preferences.opt_outs`
 * (creating the preferences row if the client has none) and logs `unsubscribed` on the
 * communication, in one statement. Idempotent: when `email` is already there, nothing is
 * written and `optedOut` is `false`.
 *
 * @example
 * const { found, optedOut } = await recordUnsubscribe(db, { communicationId, method: 'one_click' });
 */
export async function recordUnsubscribe(db: Executor, input: UnsubscribeInput): Promise<UnsubscribeResult> {
  const detail: JsonObject = { channel: 'email', ...(input.method !== undefined && { method: input.method }) };
  const { rows } = await sql<{ found: boolean; opted_out: boolean }>`
    WITH c AS (
      SELECT id, client_id, channel FROM crm_communications WHERE id = ${input.communicationId}::uuid
    ), up AS (
      INSERT INTO crm_client_preferences AS p (client_id, opt_outs)
      SELECT client_id, ARRAY['email']::text[] FROM c
      ON CONFLICT (client_id) DO UPDATE SET opt_outs = array_append(p.opt_outs, 'email'::text), updated_at = now()
        WHERE NOT ('email' = ANY (p.opt_outs))
      RETURNING p.client_id
    ), log AS (
      INSERT INTO crm_delivery_logs (communication_id, event, channel, detail)
      SELECT c.id, ${'unsubscribed' satisfies DeliveryLogEvent}::text, c.channel, ${JSON.stringify(detail)}::jsonb FROM c JOIN up ON true
    )
    SELECT EXISTS (SELECT 1 FROM c) AS found, EXISTS (SELECT 1 FROM up) AS opted_out`.execute(db);
  const row = rows[0];
  return { found: row?.found ?? false, optedOut: row?.opted_out ?? false };
}
