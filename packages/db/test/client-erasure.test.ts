import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import {
  claimAttempts,
  CommunicationRepository,
  eraseClient,
  ERASED_ID_PREFIX,
  exportClient,
  joinDigest,
  moveCommunication,
  queueOnFirstChannelMany,
  recordInbound,
  recordSentMany,
  saveAttachment,
  upsertClientContact,
  type InboundInput,
} from '@crm/db';
import type { JsonObject, MessageChannel } from '@crm/core';
import { testDatabasePerFile, testPiiKeys } from '@crm/testing';

// GDPR erasure and export of a client, on real PostgreSQL.
const t = testDatabasePerFile();
const keys = testPiiKeys;
const WEEK = 7 * 86_400_000;
// The smallest PDF the magic-byte check accepts.
const pdf = Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n', 'latin1');

let clients = 0;
/** A client with a distinctive email and phone. */
async function newClient() {
  const n = ++clients;
  const clientId = `erase-client-${n}-${randomBytes(3).toString('hex')}`;
  const email = `ada.lovelace.${n}.${randomBytes(3).toString('hex')}@example.com`;
  const phone = `+1415557${String(1000 + n)}`;
  await upsertClientContact(t.db, keys, { clientId, email, phone, timezone: 'Europe/London' });
  return { clientId, email, phone };
}

async function create(clientId: string, more: { variables?: JsonObject; attachmentIds?: string[]; messageType?: 'vendor_options' | 'budget_summary'; idempotencyKey?: string } = {}) {
  const { communication } = await CommunicationRepository.save(t.db, {
    clientId, planId: `plan-of-${clientId}`, messageType: more.messageType ?? 'budget_summary', urgency: 'normal', requestedChannel: null, sendAt: null,
    variables: more.variables ?? { clientName: 'Ada Lovelace' }, metadata: { note: `for ${clientId}` },
    idempotencyKey: more.idempotencyKey ?? null, requestHash: more.idempotencyKey ? 'hash' : null, attachmentIds: more.attachmentIds ?? [],
  });
  return communication.id;
}

const providerOf = (channel: MessageChannel) => (channel === 'email' ? 'smtp' : channel === 'sms' ? 'twilio' : 'whatsapp');
async function queued(id: string, channel: MessageChannel) {
  await queueOnFirstChannelMany(t.db, [{ id, channel, plan: [channel], reason: `client in Europe/London prefers ${channel}` }]);
}
async function sending(id: string, channel: MessageChannel) {
  await queued(id, channel);
  const [claim] = await claimAttempts(t.db, keys, [{ id, attempt: 1, channel, provider: providerOf(channel) }]);
  expect(claim?.claimed).toBe(true);
}
async function sent(id: string, channel: 'sms' | 'whatsapp') {
  await sending(id, channel);
  const providerMessageId = `SM${randomBytes(16).toString('hex')}`;
  expect(await recordSentMany(t.db, [{ id, attempt: 1, channel, provider: providerOf(channel), providerMessageId, latencyMs: 5, detail: { segments: 1 } }])).toEqual([true]);
  return providerMessageId;
}
/** An email whose SMTP answer echoes the address, as real servers do. */
async function bounced(id: string, email: string) {
  await sending(id, 'email');
  const moved = await moveCommunication(t.db, {
    id, guard: { statuses: ['sending'], attempt: 1, channel: 'email' }, to: 'failed', event: 'attempt_failed', provider: 'smtp',
    error: { message: `550 5.1.1 <${email}>: Recipient address rejected`, code: '550', category: 'permanent' },
    failureReason: 'all_channels_failed', detail: { response: `550 5.1.1 <${email}>` },
  });
  expect(moved.applied).toBe(true);
}

let sids = 0;
const inbound = (from: string, text: string): InboundInput => ({
  provider: 'twilio', providerMessageId: `SM${String(++sids).padStart(32, 'e')}`, channel: 'sms', from, text, receivedAt: new Date(), replyWindowMs: WEEK,
});

const row = async (id: string) => (await CommunicationRepository.findById(t.db, id))!;
const logs = (id: string) => CommunicationRepository.listLogs(t.db, id);
const audit = (clientId: string) => t.db.selectFrom('crm_audit_log').selectAll().where('client_id', '=', clientId).orderBy('id').execute();
const count = async (table: 'crm_inbound_messages' | 'crm_attachments' | 'crm_client_preferences' | 'crm_digests' | 'crm_communications' | 'crm_audit_log') =>
  Number((await t.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

/** A client with one of everything: sent, failed (address echoed), pending, queued, sending, in a digest; replies; files. */
async function richClient() {
  const client = await newClient();
  const { clientId, email, phone } = client;
  // A message from the number before the client was known: matched to no one.
  await t.db.deleteFrom('crm_client_preferences').where('client_id', '=', clientId).execute();
  const stranger = await recordInbound(t.db, keys, inbound(phone, `Hi, this is Ada, my email is ${email}`));
  expect(stranger).toMatchObject({ outcome: 'recorded', clientIds: [] });
  await upsertClientContact(t.db, keys, { clientId, email, phone, timezone: 'Europe/London' });

  const own = await saveAttachment(t.db, { filename: 'blueprint-ada-lovelace.pdf', contentType: 'application/pdf', content: pdf });
  const shared = await saveAttachment(t.db, { filename: 'venue-brochure.pdf', contentType: 'application/pdf', content: pdf });
  const ids = {
    sent: await create(clientId, { messageType: 'vendor_options', variables: { clientName: 'Ada Lovelace', vendors: [{ name: 'A' }, { name: 'B' }] }, attachmentIds: [own.id, shared.id] }),
    failed: await create(clientId, { idempotencyKey: `${clientId}:budget:ada-lovelace` }),
    pending: await create(clientId),
    queued: await create(clientId),
    sending: await create(clientId),
    inDigest: await create(clientId),
  };
  const providerMessageId = await sent(ids.sent, 'sms');
  await bounced(ids.failed, email);
  await queued(ids.queued, 'whatsapp');
  await sending(ids.sending, 'sms');
  const digest = await joinDigest(t.db, { id: ids.inDigest, clientId, flushAt: new Date(Date.now() + 3_600_000), maxItems: 10, reason: 'low urgency: digest' });
  expect(digest.joined).toBe(true);
  const reply = await recordInbound(t.db, keys, inbound(phone, 'option 2 please, Ada'));
  expect(reply).toMatchObject({ outcome: 'recorded', communicationId: ids.sent, responded: true });
  const stop = await recordInbound(t.db, keys, inbound(phone, 'STOP'));
  expect(stop).toMatchObject({ outcome: 'recorded', clientIds: [clientId] });
  return { ...client, ids, providerMessageId, attachments: { own: own.id, shared: shared.id } };
}

describe('eraseClient', () => {
  it('answers undefined and writes nothing for a client it holds nothing about', async () => {
    const before = await count('crm_audit_log');
    expect(await eraseClient(t.db, 'never-seen', { actor: 'key-1' })).toBeUndefined();
    expect(await count('crm_audit_log')).toBe(before);
  });

  it('erases contact details, replies and files, cancels what has not left, anonymises the rest, once', async () => {
    const ada = await richClient();
    // Another client sharing one file, and with messages of its own: untouched.
    const other = await newClient();
    const otherId = await create(other.clientId, { attachmentIds: [ada.attachments.shared] });
    await sent(otherId, 'sms');
    await recordInbound(t.db, keys, inbound(other.phone, 'option 1'));
    const otherBefore = await row(otherId);
    const otherInbound = await t.db.selectFrom('crm_inbound_messages').selectAll().where('client_id', '=', other.clientId).execute();

    const erased = await eraseClient(t.db, ada.clientId, { actor: 'api-key-7' });
    expect(erased).toMatchObject({
      clientId: ada.clientId,
      preferences: true,
      communications: 6,
      // pending, queued, sending; the digest item waits `scheduled` in its digest.
      cancelled: 4,
      inboundMessages: 3,
      attachments: 1,
      digests: 1,
    });
    expect(erased!.anonymousId).toMatch(new RegExp(`^${ERASED_ID_PREFIX}[0-9a-f-]{36}$`));
    expect([...erased!.cancelledIds].sort()).toEqual([ada.ids.pending, ada.ids.queued, ada.ids.sending, ada.ids.inDigest].sort());
    expect(erased!.jobs.map((job) => job.id).sort()).toEqual(Object.values(ada.ids).sort());
    const anonymousId = erased!.anonymousId;

    // Preferences: gone.
    expect(await t.db.selectFrom('crm_client_preferences').selectAll().where('client_id', '=', ada.clientId).executeTakeFirst()).toBeUndefined();
    // Communications: kept for counts, nothing personal left.
    for (const id of Object.values(ada.ids)) {
      const kept = await row(id);
      expect(kept).toMatchObject({
        client_id: anonymousId, plan_id: anonymousId, variables: {}, metadata: {}, last_error: null, strategy_reason: null,
        idempotency_key: null, request_hash: null, attachment_ids: [],
      });
      for (const entry of await logs(id)) {
        expect(entry.error_message).toBeNull();
        if (entry.event === 'cancelled') expect(entry.detail).toEqual({ reason: 'erased' });
        else expect(entry.detail).toEqual({});
      }
    }
    expect(await row(ada.ids.sent)).toMatchObject({ status: 'responded', provider_message_id: ada.providerMessageId, channel: 'sms', failure_reason: null });
    expect(await row(ada.ids.failed)).toMatchObject({ status: 'failed', last_error_code: '550', last_error_category: 'permanent', failure_reason: null });
    for (const [name, from] of [['pending', 'pending'], ['queued', 'queued'], ['sending', 'sending'], ['inDigest', 'scheduled']] as const) {
      const cancelled = await row(ada.ids[name]);
      expect(cancelled).toMatchObject({ status: 'cancelled', failure_reason: 'erased', next_attempt_at: null });
      expect(cancelled.cancelled_at).toBeInstanceOf(Date);
      const last = (await logs(ada.ids[name])).at(-1)!;
      expect(last).toMatchObject({ event: 'cancelled', from_status: from, to_status: 'cancelled', detail: { reason: 'erased' } });
    }
    // The SMTP answer that echoed the address is gone from the log; its code stays.
    const failedLog = (await logs(ada.ids.failed)).find((entry) => entry.event === 'attempt_failed')!;
    expect(failedLog).toMatchObject({ error_code: '550', error_category: 'permanent', error_message: null, detail: {} });

    // Inbound: the client's replies and the stranger message from its number are deleted; the other client's stay.
    expect(await t.db.selectFrom('crm_inbound_messages').selectAll().where('client_id', '=', ada.clientId).execute()).toEqual([]);
    expect(await t.db.selectFrom('crm_inbound_messages').selectAll().where('communication_id', '=', ada.ids.sent).execute()).toEqual([]);
    const fromAda = await t.db.selectFrom('crm_inbound_messages').select('id').where('from_hash', '=', sql<Buffer>`hmac(${ada.phone}::text, ${keys.blindIndexKey}::text, 'sha256')`).execute();
    expect(fromAda).toEqual([]);
    expect(await t.db.selectFrom('crm_inbound_messages').selectAll().where('client_id', '=', other.clientId).execute()).toEqual(otherInbound);

    // Files: the one only Ada's messages carried is deleted, the shared one stays.
    const files = await t.db.selectFrom('crm_attachments').select('id').where('id', 'in', [ada.attachments.own, ada.attachments.shared]).execute();
    expect(files.map((file) => file.id)).toEqual([ada.attachments.shared]);

    // The digest: anonymised and closed.
    const digests = await t.db.selectFrom('crm_digests').selectAll().where('client_id', 'in', [ada.clientId, anonymousId]).execute();
    expect(digests).toHaveLength(1);
    expect(digests[0]).toMatchObject({ client_id: anonymousId, status: 'flushed' });

    // The other client: untouched.
    expect(await row(otherId)).toEqual(otherBefore);
    expect((await t.db.selectFrom('crm_client_preferences').select('client_id').where('client_id', '=', other.clientId).execute())).toHaveLength(1);

    // The audit row: who, what, how many; no personal data, not even the anonymous id.
    const entries = await audit(ada.clientId);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      action: 'client.erased', client_id: ada.clientId, actor: 'api-key-7',
      detail: { preferences: true, communications: 6, cancelled: 4, inbound: 3, attachments: 1, digests: 1 },
    });
    expect(JSON.stringify(entries[0]!.detail)).not.toContain(anonymousId);

    // Twice: nothing is left, nothing is written.
    const auditRows = await count('crm_audit_log');
    const logRows = Number((await t.db.selectFrom('crm_delivery_logs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    expect(await eraseClient(t.db, ada.clientId, { actor: 'api-key-7' })).toBeUndefined();
    expect(await count('crm_audit_log')).toBe(auditRows);
    expect(Number((await t.db.selectFrom('crm_delivery_logs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)).toBe(logRows);
    expect(await exportClient(t.db, keys, ada.clientId)).toBeUndefined();

    // The idempotency key is free again: the same request after the erasure is a new communication.
    const again = await CommunicationRepository.save(t.db, {
      clientId: ada.clientId, planId: 'p', messageType: 'budget_summary', urgency: 'normal', requestedChannel: null, sendAt: null,
      variables: {}, metadata: {}, idempotencyKey: `${ada.clientId}:budget:ada-lovelace`, requestHash: 'hash',
    });
    expect(again.outcome).toBe('created');
  });

  it('a worker that was sending cannot move the cancelled row back: its sent or failed write is refused, and a later claim too', async () => {
    const { clientId } = await newClient();
    const midSend = await create(clientId);
    const midFail = await create(clientId);
    const waiting = await create(clientId);
    await sending(midSend, 'sms');
    await sending(midFail, 'email');
    await queued(waiting, 'email');
    const erased = await eraseClient(t.db, clientId, { actor: null });
    expect(erased?.cancelled).toBe(3);

    // The provider took the SMS meanwhile: the worker's `sent` write finds the row cancelled.
    expect(await recordSentMany(t.db, [{ id: midSend, attempt: 1, channel: 'sms', provider: 'twilio', providerMessageId: 'SM-late', latencyMs: 5, detail: {} }])).toEqual([false]);
    const failed = await moveCommunication(t.db, {
      id: midFail, guard: { statuses: ['sending'], attempt: 1, channel: 'email' }, to: 'failed', event: 'attempt_failed', error: { message: '550 <x@example.com>', code: '550', category: 'permanent' },
    });
    expect(failed).toMatchObject({ applied: false, current: { status: 'cancelled' } });
    const claims = await claimAttempts(t.db, keys, [{ id: waiting, attempt: 1, channel: 'email', provider: 'smtp' }]);
    expect(claims).toEqual([{ claimed: false, current: null }]);
    for (const id of [midSend, midFail, waiting]) {
      expect(await row(id)).toMatchObject({ status: 'cancelled', provider_message_id: null, last_error: null });
      expect((await logs(id)).at(-1)).toMatchObject({ event: 'cancelled' });
    }
  });

  it('waits for a worker holding the row, then cancels what it left `sending`', async () => {
    const { clientId } = await newClient();
    const id = await create(clientId);
    await queued(id, 'sms');
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    let claimedInside = false;
    // A worker's claim inside a transaction that is still open: it holds the row lock.
    const worker = t.db.transaction().execute(async (trx) => {
      const [claim] = await claimAttempts(trx, keys, [{ id, attempt: 1, channel: 'sms', provider: 'twilio' }]);
      claimedInside = claim?.claimed === true;
      await released;
    });
    while (!claimedInside) await new Promise((resolve) => setTimeout(resolve, 10));
    let done = false;
    const erasure = eraseClient(t.db, clientId, { actor: null }).then((result) => { done = true; return result; });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(done).toBe(false);
    release();
    await worker;
    const erased = await erasure;
    expect(erased).toMatchObject({ communications: 1, cancelled: 1 });
    expect((await logs(id)).at(-1)).toMatchObject({ event: 'cancelled', from_status: 'sending', to_status: 'cancelled' });
  });

  it('erases a client known only by its communications (no preferences row)', async () => {
    const clientId = `no-prefs-${randomBytes(3).toString('hex')}`;
    const id = await create(clientId);
    expect(await eraseClient(t.db, clientId, { actor: null })).toMatchObject({ preferences: false, communications: 1, cancelled: 1, inboundMessages: 0 });
    expect((await row(id)).client_id.startsWith(ERASED_ID_PREFIX)).toBe(true);
  });
});

describe('exportClient', () => {
  it('answers undefined and writes nothing for an unknown client', async () => {
    const before = await count('crm_audit_log');
    expect(await exportClient(t.db, keys, 'never-seen-either')).toBeUndefined();
    expect(await count('crm_audit_log')).toBe(before);
  });

  it('holds everything about the client, decrypted, and records who exported it', async () => {
    const ada = await richClient();
    const data = await exportClient(t.db, keys, ada.clientId, { actor: 'api-key-9' });
    expect(data).toBeDefined();
    const exported = data!;
    expect(exported.clientId).toBe(ada.clientId);
    expect(Date.parse(exported.exportedAt)).not.toBeNaN();
    expect(exported.preferences).toMatchObject({ email: ada.email, phone: ada.phone, timezone: 'Europe/London', optOuts: ['sms'], language: 'en' });
    expect(exported.communications.map((c) => c.id).sort()).toEqual(Object.values(ada.ids).sort());
    const sentOne = exported.communications.find((c) => c.id === ada.ids.sent)!;
    expect(sentOne).toMatchObject({
      planId: `plan-of-${ada.clientId}`, messageType: 'vendor_options', status: 'responded', channel: 'sms', providerMessageId: ada.providerMessageId,
      variables: { clientName: 'Ada Lovelace' }, attachmentIds: [ada.attachments.own, ada.attachments.shared],
    });
    expect(sentOne.timestamps.sentAt).toEqual(expect.any(String));
    expect(sentOne.deliveryLog.map((entry) => entry.event)).toEqual(['created', 'status_changed', 'attempt_started', 'attempt_succeeded', 'responded']);
    const failedOne = exported.communications.find((c) => c.id === ada.ids.failed)!;
    expect(failedOne.lastError).toContain(ada.email);
    expect(failedOne.idempotencyKey).toBe(`${ada.clientId}:budget:ada-lovelace`);
    expect(exported.inboundMessages.map((m) => m.text).sort()).toEqual(['Hi, this is Ada, my email is ' + ada.email, 'STOP', 'option 2 please, Ada'].sort());
    expect(exported.inboundMessages.find((m) => m.text === 'STOP')).toMatchObject({ kind: 'opt_out', keyword: 'STOP', channel: 'sms' });
    expect(exported.digests).toHaveLength(1);
    expect(exported.digests[0]).toMatchObject({ status: 'open', itemCount: 1 });
    expect(exported.attachments.map((a) => a.filename).sort()).toEqual(['blueprint-ada-lovelace.pdf', 'venue-brochure.pdf']);
    expect(exported.attachments[0]).toMatchObject({ contentType: 'application/pdf', sizeBytes: pdf.length, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(exported.attachments[0]).not.toHaveProperty('content');
    // Plain JSON: survives a round trip unchanged.
    expect(JSON.parse(JSON.stringify(exported))).toEqual(exported);

    const entries = await audit(ada.clientId);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ action: 'client.exported', actor: 'api-key-9', detail: { preferences: true, communications: 6, inbound: 3, digests: 1, attachments: 2 } });
    expect(JSON.stringify(entries[0]!.detail)).not.toContain(ada.email);
  });
});
