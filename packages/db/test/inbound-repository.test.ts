import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import {
  claimAttempts,
  CommunicationRepository,
  getRoutingPreferences,
  lastInboundAt,
  queueOnFirstChannelMany,
  recordInbound,
  recordProviderOptOut,
  recordSentMany,
  upsertClientContact,
  type InboundInput,
} from '@crm/db';
import type { JsonObject, MessageType } from '@crm/core';
import { testDatabasePerFile, testPiiKeys } from '@crm/testing';

// Client replies on real PostgreSQL: recorded once, matched by the phone's blind index.
const t = testDatabasePerFile();
const keys = testPiiKeys;
const WEEK = 7 * 86_400_000;

let numbers = 0;
const newPhone = (): string => `+1415555${String(1000 + ++numbers).padStart(4, '0')}`;

async function client(phone: string, clientId = `client-${randomBytes(4).toString('hex')}`): Promise<string> {
  await upsertClientContact(t.db, keys, { clientId, phone });
  return clientId;
}

/** A message sent to the client on `channel`, with its provider message id. */
async function sent(clientId: string, messageType: MessageType, variables: JsonObject = {}, channel: 'sms' | 'whatsapp' = 'sms', metadata: JsonObject = {}) {
  const { communication } = await CommunicationRepository.save(t.db, {
    clientId, planId: 'plan-1', messageType, urgency: 'normal', requestedChannel: null, sendAt: null, variables, metadata, idempotencyKey: null, requestHash: null,
  });
  const { id } = communication;
  const provider = channel === 'sms' ? 'twilio' : 'whatsapp';
  const messageId = channel === 'sms' ? `SM${randomBytes(16).toString('hex')}` : `wamid.${randomBytes(12).toString('base64')}`;
  await queueOnFirstChannelMany(t.db, [{ id, channel, plan: [channel], reason: 'test' }]);
  await claimAttempts(t.db, keys, [{ id, attempt: 1, channel, provider }]);
  await recordSentMany(t.db, [{ id, attempt: 1, channel, provider, providerMessageId: messageId, latencyMs: 5, detail: {} }]);
  return { id, messageId };
}

let sids = 0;
const inbound = (from: string, text: string | null, more: Partial<InboundInput> = {}): InboundInput => ({
  provider: 'twilio', providerMessageId: `SM${String(++sids).padStart(32, '0')}`, channel: 'sms', from, text, receivedAt: new Date(), replyWindowMs: WEEK, ...more,
});
const status = async (id: string) => (await CommunicationRepository.findById(t.db, id))!.status;

describe('recordInbound', () => {
  it('STOP opts every client with the number out of that channel once; START opts back in', async () => {
    const phone = newPhone();
    const a = await client(phone);
    const b = await client(phone);
    const stop = await recordInbound(t.db, keys, inbound(phone, 'Stop'));
    expect(stop).toMatchObject({ outcome: 'recorded', reply: { kind: 'opt_out', keyword: 'STOP' }, clientIds: [a, b].sort(), preferenceChanged: true, communicationId: null });
    expect((await getRoutingPreferences(t.db, a))?.optOuts).toEqual(['sms']);
    expect((await getRoutingPreferences(t.db, b))?.optOuts).toEqual(['sms']);
    // A second STOP changes nothing; a replayed webhook is a duplicate.
    expect(await recordInbound(t.db, keys, inbound(phone, 'STOP'))).toMatchObject({ preferenceChanged: false });
    const again = inbound(phone, 'UNSTOP');
    expect(await recordInbound(t.db, keys, again)).toMatchObject({ reply: { kind: 'opt_in' }, preferenceChanged: true });
    expect(await recordInbound(t.db, keys, again)).toEqual({ outcome: 'duplicate' });
    expect((await getRoutingPreferences(t.db, a))?.optOuts).toEqual([]);
  });

  it('an opt-out on WhatsApp leaves SMS alone, and a wa_id without + finds the client', async () => {
    const phone = newPhone();
    const a = await client(phone);
    const result = await recordInbound(t.db, keys, inbound(phone.slice(1), 'QUIT', { provider: 'whatsapp', channel: 'whatsapp', providerMessageId: 'wamid.quit-1' }));
    expect(result).toMatchObject({ clientIds: [a], preferenceChanged: true });
    expect((await getRoutingPreferences(t.db, a))?.optOuts).toEqual(['whatsapp']);
  });

  it('HELP changes nothing', async () => {
    const phone = newPhone();
    const a = await client(phone);
    expect(await recordInbound(t.db, keys, inbound(phone, 'help'))).toMatchObject({ reply: { kind: 'help', keyword: 'HELP' }, clientIds: [a], preferenceChanged: false });
  });

  it('an answer picks an option of the newest message that asked; the message becomes responded', async () => {
    const phone = newPhone();
    const a = await client(phone);
    const older = await sent(a, 'vendor_options', { vendors: [{ name: 'A' }, { name: 'B' }] });
    const newest = await sent(a, 'vendor_options', { vendors: [{ name: 'A' }, { name: 'B' }, { name: 'C' }] });
    const notAQuestion = await sent(a, 'budget_summary', { total: 100 });
    const result = await recordInbound(t.db, keys, inbound(phone, 'option 3'));
    expect(result).toMatchObject({ outcome: 'recorded', reply: { kind: 'reply', selection: 3 }, communicationId: newest.id, responded: true });
    expect(await status(newest.id)).toBe('responded');
    expect(await status(older.id)).toBe('sent');
    expect(await status(notAQuestion.id)).toBe('sent');
    const logs = await CommunicationRepository.listLogs(t.db, newest.id);
    expect(logs.at(-1)).toMatchObject({ event: 'responded', from_status: 'sent', to_status: 'responded' });
    expect(logs.at(-1)?.detail).toMatchObject({ selection: 3, channel: 'sms' });

    // The client changes their mind: the same message, logged, no move; a number beyond the options is no selection.
    expect(await recordInbound(t.db, keys, inbound(phone, '4'))).toMatchObject({ reply: { kind: 'reply', selection: null }, communicationId: newest.id, responded: false });
    expect(await recordInbound(t.db, keys, inbound(phone, '1'))).toMatchObject({ reply: { kind: 'reply', selection: 1 }, communicationId: newest.id, responded: false });
    const row = await t.db.selectFrom('crm_inbound_messages').selectAll().where('communication_id', '=', newest.id).orderBy('created_at').execute();
    expect(row.map((r) => [r.kind, r.selection, r.client_id])).toEqual([['reply', 3, a], ['reply', null, a], ['reply', 1, a]]);
  });

  it('a WhatsApp button reply goes to the message it names, even when a newer one asked too', async () => {
    const phone = newPhone();
    const a = await client(phone);
    const tapped = await sent(a, 'vendor_options', { vendors: [{ name: 'A' }, { name: 'B' }] }, 'whatsapp');
    await sent(a, 'reminder', {}, 'whatsapp', { expectsReply: true });
    const result = await recordInbound(t.db, keys, inbound(phone.slice(1), 'B', {
      provider: 'whatsapp', channel: 'whatsapp', providerMessageId: 'wamid.button-1', reply: { id: 'option:2', selection: 2 }, contextMessageId: tapped.messageId,
    }));
    expect(result).toMatchObject({ reply: { kind: 'reply', selection: 2 }, communicationId: tapped.id, responded: true });
    // A button titled "STOP" is still an answer, not an opt-out.
    const stop = await recordInbound(t.db, keys, inbound(phone.slice(1), 'STOP', { provider: 'whatsapp', channel: 'whatsapp', providerMessageId: 'wamid.button-2', reply: { id: 'option:1', selection: 1 }, contextMessageId: tapped.messageId }));
    expect(stop).toMatchObject({ reply: { kind: 'reply', selection: 1 }, preferenceChanged: false });
  });

  it('a reply with nothing awaiting an answer (or only older than the window) is recorded for the client alone', async () => {
    const phone = newPhone();
    const a = await client(phone);
    const old = await sent(a, 'vendor_options', { vendors: [{ name: 'A' }] });
    await sql`UPDATE crm_communications SET sent_at = now() - interval '8 days' WHERE id = ${old.id}::uuid`.execute(t.db);
    expect(await recordInbound(t.db, keys, inbound(phone, 'thanks!'))).toMatchObject({ reply: { kind: 'reply', selection: null }, clientIds: [a], communicationId: null, responded: false });
    expect(await status(old.id)).toBe('sent');
    const stranger = await recordInbound(t.db, keys, inbound(newPhone(), '2'));
    expect(stranger).toMatchObject({ outcome: 'recorded', clientIds: [], communicationId: null });
  });

  it('stores the text encrypted and the number only as its blind index', async () => {
    const phone = newPhone();
    await client(phone);
    const result = await recordInbound(t.db, keys, inbound(phone, 'secret words 42'));
    if (result.outcome !== 'recorded') throw new Error('not recorded');
    const row = await t.db.selectFrom('crm_inbound_messages').selectAll().where('id', '=', result.inboundId).executeTakeFirstOrThrow();
    const raw = JSON.stringify(row) + row.body_encrypted?.toString('latin1') + row.from_hash.toString('latin1');
    expect(raw).not.toContain('secret words');
    expect(raw).not.toContain(phone.slice(1));
    const { rows } = await sql<{ text: string }>`SELECT pgp_sym_decrypt(body_encrypted, ${keys.encryptionKey}::text) AS text FROM crm_inbound_messages WHERE id = ${result.inboundId}::uuid`.execute(t.db);
    expect(rows[0]?.text).toBe('secret words 42');
  });

  it('concurrent copies of one webhook record once and move once', async () => {
    const phone = newPhone();
    const a = await client(phone);
    const question = await sent(a, 'vendor_options', { vendors: [{ name: 'A' }, { name: 'B' }] });
    const one = inbound(phone, '2');
    const results = await Promise.all(Array.from({ length: 5 }, () => recordInbound(t.db, keys, one)));
    expect(results.filter((r) => r.outcome === 'recorded')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'recorded' && r.responded)).toHaveLength(1);
    const logs = (await CommunicationRepository.listLogs(t.db, question.id)).filter((l) => l.event === 'responded');
    expect(logs).toHaveLength(1);
  });
});

describe('lastInboundAt and recordProviderOptOut', () => {
  it('knows when a number last wrote on a channel', async () => {
    const phone = newPhone();
    await client(phone);
    expect(await lastInboundAt(t.db, keys, phone, 'whatsapp')).toBeNull();
    const at = new Date('2026-05-01T12:00:00Z');
    await recordInbound(t.db, keys, inbound(phone.slice(1), 'hi', { provider: 'whatsapp', channel: 'whatsapp', providerMessageId: 'wamid.hi-1', receivedAt: at }));
    expect(await lastInboundAt(t.db, keys, phone, 'whatsapp')).toEqual(at);
    expect(await lastInboundAt(t.db, keys, phone, 'sms')).toBeNull();
  });

  it('records a provider-reported opt-out once', async () => {
    const a = await client(newPhone());
    expect(await recordProviderOptOut(t.db, a, 'sms')).toBe(true);
    expect(await recordProviderOptOut(t.db, a, 'sms')).toBe(false);
    expect((await getRoutingPreferences(t.db, a))?.optOuts).toEqual(['sms']);
  });
});
