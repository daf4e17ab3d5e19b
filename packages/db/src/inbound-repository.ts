import { sql, type Transaction } from 'kysely';
import { parseInboundText, replyOptionCount, type InboundReply, type JsonObject } from '@crm/core';
import { normalisePhone } from './client-contact-repository';
import { currentKeyId, encryptPiiSql, type PiiKeys } from './pii-crypto';
import type { Executor } from './communication-repository';
import { moveCommunication } from './delivery-repository';
import type { CommunicationRow, Database } from './schema';

/**
 * Client replies (issue 7): inbound SMS (Twilio) and WhatsApp messages. Each is recorded once
 * (unique provider message id), matched to its clients by the blind index of the sender's number
 * (the same keyed hash as `crm_client_preferences.phone_hash`: nothing is decrypted to find
 * them), and acted on in the same transaction: an opt-out or opt-in keyword changes the opt-outs
 * of every client with that number on that channel; an answer is matched to the newest message
 * that asked the client something and moves it to `responded`. The text is stored encrypted
 * only, and never logged.
 */

export type InboundProvider = 'twilio' | 'whatsapp';
export type InboundChannel = 'sms' | 'whatsapp';

export interface InboundInput {
  readonly provider: InboundProvider;
  /** Twilio's `MessageSid` or WhatsApp's `wamid.…` of the inbound message. */
  readonly providerMessageId: string;
  readonly channel: InboundChannel;
  /** The sender: E.164 (Twilio `From`) or WhatsApp's `wa_id` (digits, no `+`). */
  readonly from: string;
  /** The text typed, or the title of a tapped button; `null` when there is none (media). */
  readonly text: string | null;
  /** A tapped WhatsApp button or list row: its id and the option number it stands for. */
  readonly reply?: { readonly id: string; readonly selection: number | null } | null;
  /** WhatsApp's `context.id`: the message (ours) this one replies to. */
  readonly contextMessageId?: string | null;
  readonly receivedAt: Date;
  /** A reply matches a message that asked for one if that was sent at most this long ago. */
  readonly replyWindowMs: number;
}

export type InboundResult =
  | { readonly outcome: 'duplicate' }
  | {
      readonly outcome: 'recorded';
      readonly inboundId: string;
      readonly reply: InboundReply;
      /** Clients with this number (usually one; none for a stranger). */
      readonly clientIds: readonly string[];
      /** The opt-outs changed (an opt-out of a subscribed number, an opt-in of an opted-out one). */
      readonly preferenceChanged: boolean;
      /** The message this answers, if any (`reply` only). */
      readonly communicationId: string | null;
      /** That message moved to `responded` now (the first answer to it). */
      readonly responded: boolean;
    };

/** A number as the blind index has it: E.164 with `+` (a WhatsApp `wa_id` has no `+`). */
export const inboundPhone = (from: string): string => {
  const phone = normalisePhone(from);
  return phone.startsWith('+') ? phone : `+${phone}`;
};

const hashOf = (phone: string, keys: PiiKeys) => sql<Buffer>`hmac(${inboundPhone(phone)}::text, ${keys.blindIndexKey}::text, 'sha256')`;

/** A message that asks the client something, in SQL (see `awaitsReply` in @crm/core, which it mirrors). */
const awaitingReplySql = sql<boolean>`(c.message_type = 'vendor_options' OR jsonb_typeof(c.variables -> 'options') = 'array' OR c.metadata -> 'expectsReply' = 'true'::jsonb)`;

/** Statuses of a message its client can have answered (it reached them). */
const answerable = ['sent', 'delivered', 'opened', 'clicked', 'responded'] as const;

type Candidate = Pick<CommunicationRow, 'id' | 'status' | 'message_type' | 'variables' | 'metadata'>;

/** The message an answer belongs to: the one it names (WhatsApp context), else the newest that asked the client something. */
async function matchCommunication(trx: Transaction<Database>, input: InboundInput, clientIds: readonly string[]): Promise<Candidate | undefined> {
  if (clientIds.length === 0) return undefined;
  const since = new Date(input.receivedAt.getTime() - input.replyWindowMs);
  if (input.contextMessageId) {
    const named = await trx
      .selectFrom('crm_communications as c')
      .select(['c.id', 'c.status', 'c.message_type', 'c.variables', 'c.metadata'])
      .where('c.provider_message_id', '=', input.contextMessageId)
      .where('c.client_id', 'in', clientIds)
      .where('c.status', 'in', answerable)
      .limit(1)
      .forUpdate()
      .executeTakeFirst();
    if (named) return named;
  }
  return trx
    .selectFrom('crm_communications as c')
    .select(['c.id', 'c.status', 'c.message_type', 'c.variables', 'c.metadata'])
    .where('c.client_id', 'in', clientIds)
    .where('c.status', 'in', answerable)
    .where('c.sent_at', '>=', since)
    .where(awaitingReplySql)
    .orderBy('c.sent_at', 'desc')
    .limit(1)
    .forUpdate()
    .executeTakeFirst();
}

async function record(trx: Transaction<Database>, keys: PiiKeys, input: InboundInput): Promise<InboundResult> {
  const clients = await trx
    .selectFrom('crm_client_preferences')
    .select('client_id')
    .where('phone_hash', '=', hashOf(input.from, keys))
    .orderBy('client_id')
    .execute();
  const clientIds = clients.map((row) => row.client_id);

  // A tapped button is an answer, whatever its title says.
  const keyword = input.reply ? null : parseInboundText(input.text ?? '');
  const matched = keyword === null || keyword.kind === 'reply' ? await matchCommunication(trx, input, clientIds) : undefined;
  const optionCount = matched ? replyOptionCount(matched.message_type, matched.variables) : null;
  const reply: InboundReply =
    keyword !== null && keyword.kind !== 'reply'
      ? keyword
      : input.reply
        ? { kind: 'reply', selection: input.reply.selection !== null && (optionCount === null || input.reply.selection <= optionCount) ? input.reply.selection : null }
        : parseInboundText(input.text ?? '', optionCount);

  const inserted = await trx
    .insertInto('crm_inbound_messages')
    .values({
      provider: input.provider,
      provider_message_id: input.providerMessageId,
      channel: input.channel,
      from_hash: hashOf(input.from, keys),
      client_id: matched ? null : (clientIds[0] ?? null),
      communication_id: matched?.id ?? null,
      kind: reply.kind,
      keyword: reply.kind === 'reply' ? null : reply.keyword,
      selection: reply.kind === 'reply' ? reply.selection : null,
      reply_id: input.reply?.id ?? null,
      body_encrypted: input.text === null ? null : encryptPiiSql(input.text, keys),
      body_key_id: input.text === null ? null : currentKeyId(keys),
      received_at: input.receivedAt,
    })
    .onConflict((oc) => oc.constraint('crm_inbound_messages_provider_message_uq').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!inserted) return { outcome: 'duplicate' };

  let preferenceChanged = false;
  let responded = false;
  if ((reply.kind === 'opt_out' || reply.kind === 'opt_in') && clientIds.length > 0) {
    const changed = await trx
      .updateTable('crm_client_preferences')
      .set({
        opt_outs: reply.kind === 'opt_out' ? sql`array_append(opt_outs, ${input.channel}::text)` : sql`array_remove(opt_outs, ${input.channel}::text)`,
        updated_at: new Date(),
      })
      .where('client_id', 'in', clientIds)
      .where(reply.kind === 'opt_out' ? sql<boolean>`NOT (${input.channel}::text = ANY (opt_outs))` : sql<boolean>`${input.channel}::text = ANY (opt_outs)`)
      .returning('client_id')
      .execute();
    preferenceChanged = changed.length > 0;
  }
  if (matched) {
    // The client of the answered message is the one who answered.
    await trx.updateTable('crm_inbound_messages').set({ client_id: sql`(SELECT client_id FROM crm_communications WHERE id = ${matched.id}::uuid)` }).where('id', '=', inserted.id).execute();
    const detail: JsonObject = { inboundId: inserted.id, channel: input.channel, selection: reply.kind === 'reply' ? reply.selection : null };
    if (matched.status !== 'responded') {
      const move = await moveCommunication(trx, {
        id: matched.id,
        guard: { statuses: ['sent', 'delivered', 'opened', 'clicked'] },
        to: 'responded',
        event: 'responded',
        detail,
      });
      responded = move.applied;
    } else {
      // A second answer (the client changed their mind): logged, the status stays.
      await trx.insertInto('crm_delivery_logs').values({ communication_id: matched.id, event: 'responded', channel: input.channel, detail: JSON.stringify(detail) }).execute();
    }
  }
  return { outcome: 'recorded', inboundId: inserted.id, reply, clientIds, preferenceChanged, communicationId: matched?.id ?? null, responded };
}

/**
 * Records one inbound message and does what it says, in one transaction (a repeat of the same
 * provider message id is `duplicate` and changes nothing):
 *
 * - STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT: the channel joins the opt-outs of every client
 *   with this number; START, UNSTOP: it leaves them; HELP, INFO: nothing changes (the caller
 *   answers with the help text).
 * - Anything else is an answer. It belongs to the message it names (a WhatsApp reply's
 *   context), else to the newest message that asked the client something (`vendor_options`,
 *   `options` in its variables, or `metadata.expectsReply`) sent within `replyWindowMs`. The
 *   first answer moves that message to `responded`; the selection (a number, "option 2", a
 *   tapped button) is kept when it is one of the options the message offered.
 *
 * @example
 * const result = await recordInbound(db, keys, { provider: 'twilio', providerMessageId: sid, channel: 'sms', from: '+14155550123', text: '2', receivedAt: new Date(), replyWindowMs: 7 * 86_400_000 });
 */
export async function recordInbound(db: Executor, keys: PiiKeys, input: InboundInput): Promise<InboundResult> {
  if (db.isTransaction) return record(db as Transaction<Database>, keys, input);
  return db.transaction().execute((trx) => record(trx, keys, input));
}

/**
 * When `phone` last wrote to us on `channel` (`null`: never): WhatsApp lets a business send
 * free text only within 24 hours of that, and approved templates otherwise.
 *
 * @example const last = await lastInboundAt(db, keys, contact.phone, 'whatsapp');
 */
export async function lastInboundAt(db: Executor, keys: PiiKeys, phone: string, channel: InboundChannel): Promise<Date | null> {
  const row = await db
    .selectFrom('crm_inbound_messages')
    .select('received_at')
    .where('from_hash', '=', hashOf(phone, keys))
    .where('channel', '=', channel)
    .orderBy('received_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.received_at ?? null;
}

/**
 * Adds `channel` to a client's opt-outs because the provider said the recipient opted out
 * (Twilio 21610 on a send). Idempotent. Answers whether it changed anything.
 */
export async function recordProviderOptOut(db: Executor, clientId: string, channel: InboundChannel): Promise<boolean> {
  const changed = await db
    .updateTable('crm_client_preferences')
    .set({ opt_outs: sql`array_append(opt_outs, ${channel}::text)`, updated_at: new Date() })
    .where('client_id', '=', clientId)
    .where(sql<boolean>`NOT (${channel}::text = ANY (opt_outs))`)
    .returning('client_id')
    .execute();
  return changed.length > 0;
}

/** What the WhatsApp sender needs to choose between free text and an approved template. */
export interface WhatsAppSession {
  /** When the number last wrote to us on WhatsApp (`null`: never). */
  readonly lastInboundAt: Date | null;
  /** The client's language (`crm_client_preferences.language`), for the template. */
  readonly language: string;
}

/**
 * The client's language and when their number last wrote on WhatsApp, in one query: inside 24
 * hours of that a business may send free-form messages, otherwise only approved templates.
 *
 * @example const { lastInboundAt, language } = await whatsAppSessionOf(db, keys, { clientId, phone: contact.phone });
 */
export async function whatsAppSessionOf(db: Executor, keys: PiiKeys, input: { readonly clientId: string; readonly phone: string }): Promise<WhatsAppSession> {
  const { rows } = await sql<{ language: string | null; last_inbound_at: Date | null }>`
    SELECT (SELECT language FROM crm_client_preferences WHERE client_id = ${input.clientId}) AS language,
           (SELECT max(received_at) FROM crm_inbound_messages WHERE from_hash = ${hashOf(input.phone, keys)} AND channel = 'whatsapp') AS last_inbound_at`.execute(db);
  return { lastInboundAt: rows[0]?.last_inbound_at ?? null, language: rows[0]?.language ?? 'en' };
}
