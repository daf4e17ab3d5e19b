import { sql } from 'kysely';
import type { JsonObject, MessageChannel } from '@crm/core';
import { decryptPiiSql, type PiiKeys } from './pii-crypto';
import type { Executor } from './communication-repository';
import type { ClaimInput, ClaimResult, RoutingRow } from './delivery-repository';
import type { CommunicationRow } from './schema';

/**
 * Multi-row forms of the pipeline's hottest writes, for workers that coalesce concurrent jobs
 * (see @crm/delivery's batched writes). Each is ONE statement for the whole batch with the same
 * guards as its single-row form in delivery-repository.ts: rows are locked in id order (so two
 * batches cannot deadlock), each row changes only if it is still where its job believes, and
 * every change appends its log row in the same statement.
 */

/** The first of each id: one job per row and batch (a duplicate job is answered "not applied"). */
function firstPerId<T extends { readonly id: string }>(items: readonly T[]): T[] {
  const seen = new Set<string>();
  return items.filter((item) => (seen.has(item.id) ? false : (seen.add(item.id), true)));
}

/** {@link claimAttempt} for many jobs: results in the order of `inputs`. */
export async function claimAttempts(db: Executor, keys: PiiKeys, inputs: readonly ClaimInput[]): Promise<ClaimResult[]> {
  const unique = firstPerId(inputs);
  if (unique.length === 0) return [];
  const { rows } = await sql<CommunicationRow & { previous_status: 'queued' | 'sending'; contact_email: string | null; contact_phone: string | null; contact_opt_outs: MessageChannel[] | null }>`
    WITH v AS (
      SELECT * FROM unnest(${unique.map((i) => i.id)}::uuid[], ${unique.map((i) => i.attempt)}::int[],
                           ${unique.map((i) => i.channel)}::crm_channel[], ${unique.map((i) => i.provider)}::text[])
        AS v(id, attempt, channel, provider)
    ), cur AS (
      SELECT c.id, c.status FROM crm_communications c JOIN v ON v.id = c.id
      WHERE c.status IN ('queued', 'sending') AND c.attempt_count = v.attempt AND c.channel = v.channel AND NOT c.awaiting_fallback
      ORDER BY c.id FOR UPDATE OF c
    ), upd AS (
      UPDATE crm_communications c SET status = 'sending', sending_at = now(), updated_at = now()
      FROM cur WHERE c.id = cur.id
      RETURNING c.*, cur.status AS previous_status
    ), log AS (
      INSERT INTO crm_delivery_logs (communication_id, event, from_status, to_status, channel, attempt, provider)
      SELECT upd.id, 'attempt_started', upd.previous_status, 'sending', upd.channel, upd.attempt_count, v.provider
      FROM upd JOIN v ON v.id = upd.id
    )
    SELECT upd.*, ${decryptPiiSql('p.email_encrypted', 'p.email_key_id', keys)} AS contact_email,
           ${decryptPiiSql('p.phone_encrypted', 'p.phone_key_id', keys)} AS contact_phone, p.opt_outs AS contact_opt_outs
    FROM upd LEFT JOIN crm_client_preferences p ON p.client_id = upd.client_id`.execute(db);
  const byId = new Map(rows.map((row) => [row.id, row]));
  const claimedOnce = new Set<string>();
  return inputs.map((input): ClaimResult => {
    const row = byId.get(input.id);
    if (!row || claimedOnce.has(input.id)) return { claimed: false, current: null };
    claimedOnce.add(input.id);
    const { previous_status: previous, contact_email: email, contact_phone: phone, contact_opt_outs: optOuts, ...communication } = row;
    return { claimed: true, resumed: previous === 'sending', communication: communication as CommunicationRow, contact: { email, phone }, optOuts: optOuts ?? [] };
  });
}

/** A `sending → sent` change for {@link recordSentMany}. */
export interface SentRecord {
  readonly id: string;
  readonly attempt: number;
  readonly channel: MessageChannel;
  readonly provider: string;
  readonly providerMessageId: string;
  readonly latencyMs: number;
  readonly detail: JsonObject;
  /** The template version the message was rendered from. */
  readonly template?: { readonly id: string; readonly version: number };
}

/** `sending → sent` with each row's `attempt_succeeded` log row; answers, per record, whether it applied. */
export async function recordSentMany(db: Executor, records: readonly SentRecord[]): Promise<boolean[]> {
  const unique = firstPerId(records);
  if (unique.length === 0) return [];
  const { rows } = await sql<{ id: string }>`
    WITH v AS (
      SELECT * FROM unnest(${unique.map((r) => r.id)}::uuid[], ${unique.map((r) => r.attempt)}::int[],
                           ${unique.map((r) => r.channel)}::crm_channel[], ${unique.map((r) => r.provider)}::text[],
                           ${unique.map((r) => r.providerMessageId)}::text[], ${unique.map((r) => Math.round(r.latencyMs))}::int[],
                           ${unique.map((r) => JSON.stringify(r.detail))}::text[],
                           ${unique.map((r) => r.template?.id ?? null)}::uuid[], ${unique.map((r) => r.template?.version ?? null)}::int[])
        AS v(id, attempt, channel, provider, provider_message_id, latency_ms, detail, template_id, template_version)
    ), cur AS (
      SELECT c.id FROM crm_communications c JOIN v ON v.id = c.id
      WHERE c.status = 'sending' AND c.attempt_count = v.attempt AND c.channel = v.channel
      ORDER BY c.id FOR UPDATE OF c
    ), upd AS (
      UPDATE crm_communications c
      SET status = 'sent', sent_at = now(), updated_at = now(), provider_message_id = v.provider_message_id, next_attempt_at = NULL,
          template_id = coalesce(v.template_id, c.template_id), template_version = coalesce(v.template_version, c.template_version)
      FROM cur JOIN v ON v.id = cur.id WHERE c.id = cur.id
      RETURNING c.id
    ), log AS (
      INSERT INTO crm_delivery_logs (communication_id, event, from_status, to_status, channel, attempt, provider, provider_message_id, latency_ms, detail)
      SELECT v.id, 'attempt_succeeded', 'sending', 'sent', v.channel, v.attempt, v.provider, v.provider_message_id, v.latency_ms, v.detail::jsonb
      FROM v JOIN upd ON upd.id = v.id
    )
    SELECT id FROM upd`.execute(db);
  const applied = new Set(rows.map((row) => row.id));
  const answered = new Set<string>();
  return records.map((record) => {
    if (!applied.has(record.id) || answered.has(record.id)) return false;
    answered.add(record.id);
    return true;
  });
}

/** {@link findForRouting} for many rows (in no particular order). */
export async function findForRoutingMany(db: Executor, ids: readonly string[]): Promise<RoutingRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('crm_communications').selectAll().where('id', 'in', [...ids]).execute();
}

/** A `pending → queued` decision of the strategy for {@link queueOnFirstChannelMany}. */
export interface FirstChannel {
  readonly id: string;
  readonly channel: MessageChannel;
  readonly plan: readonly MessageChannel[];
  readonly reason: string;
}

/**
 * `pending → queued` on each row's first channel (attempt 1, budget reset, plan and reason
 * stored) with its `status_changed` log row; answers the ids that moved.
 */
export async function queueOnFirstChannelMany(db: Executor, decisions: readonly FirstChannel[]): Promise<Set<string>> {
  const unique = firstPerId(decisions);
  if (unique.length === 0) return new Set();
  const { rows } = await sql<{ id: string }>`
    WITH v AS (
      SELECT * FROM unnest(${unique.map((d) => d.id)}::uuid[], ${unique.map((d) => d.channel)}::crm_channel[],
                           ${unique.map((d) => d.plan.join(','))}::text[], ${unique.map((d) => d.reason)}::text[])
        AS v(id, channel, plan, reason)
    ), cur AS (
      SELECT c.id FROM crm_communications c JOIN v ON v.id = c.id
      WHERE c.status = 'pending' AND c.attempt_count = 0
      ORDER BY c.id FOR UPDATE OF c
    ), upd AS (
      UPDATE crm_communications c
      SET status = 'queued', queued_at = now(), updated_at = now(), channel = v.channel,
          channels_tried = CASE WHEN v.channel::text = ANY(c.channels_tried) THEN c.channels_tried ELSE array_append(c.channels_tried, v.channel::text) END,
          channel_plan = string_to_array(v.plan, ','), attempt_count = 1, channel_attempts = 1, rate_limit_waits = 0,
          strategy_reason = v.reason
      FROM cur JOIN v ON v.id = cur.id WHERE c.id = cur.id
      RETURNING c.id
    ), log AS (
      INSERT INTO crm_delivery_logs (communication_id, event, from_status, to_status, channel, attempt, detail)
      SELECT v.id, 'status_changed', 'pending', 'queued', v.channel, 1, jsonb_build_object('plan', to_jsonb(string_to_array(v.plan, ',')))
      FROM v JOIN upd ON upd.id = v.id
    )
    SELECT id FROM upd`.execute(db);
  return new Set(rows.map((row) => row.id));
}
