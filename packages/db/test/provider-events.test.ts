import { randomBytes } from 'node:crypto';
import {
  claimAttempts,
  CommunicationRepository,
  queueOnFirstChannelMany,
  recordProviderStatus,
  recordSentMany,
  upsertClientContact,
  type ProviderStatusInput,
} from '@crm/db';
import { testDatabasePerFile, testPiiKeys } from '@crm/testing';

// Provider status webhooks, on real PostgreSQL: deduplicated by event id, forward only.
const t = testDatabasePerFile();
const keys = testPiiKeys;

let clients = 0;
/** A communication the worker sent on `channel`, with the provider's message id. */
async function sent(channel: 'sms' | 'whatsapp', plan: readonly ('sms' | 'whatsapp' | 'email')[] = [channel]): Promise<{ id: string; messageId: string }> {
  const clientId = `client-${++clients}`;
  await upsertClientContact(t.db, keys, { clientId, phone: '+14155550123' });
  const { communication } = await CommunicationRepository.save(t.db, {
    clientId, planId: 'plan-1', messageType: 'welcome', urgency: 'normal', requestedChannel: null, sendAt: null,
    variables: {}, metadata: {}, idempotencyKey: null, requestHash: null,
  });
  const { id } = communication;
  const provider = channel === 'sms' ? 'twilio' : 'whatsapp';
  const messageId = channel === 'sms' ? `SM${randomBytes(16).toString('hex')}` : `wamid.${randomBytes(12).toString('base64')}`;
  await queueOnFirstChannelMany(t.db, [{ id, channel, plan: [...plan], reason: 'test' }]);
  await claimAttempts(t.db, keys, [{ id, attempt: 1, channel, provider }]);
  expect(await recordSentMany(t.db, [{ id, attempt: 1, channel, provider, providerMessageId: messageId, latencyMs: 5, detail: {} }])).toEqual([true]);
  return { id, messageId };
}

const sms = (messageId: string, status: ProviderStatusInput['status'], word: string = status, more: Partial<ProviderStatusInput> = {}): ProviderStatusInput => ({
  provider: 'twilio', providerMessageId: messageId, providerEventId: `${messageId}:${word}`, status, at: new Date('2026-03-01T10:00:00Z'), ...more,
});
const row = async (id: string) => (await CommunicationRepository.findById(t.db, id))!;
const webhookLogs = async (id: string) =>
  (await CommunicationRepository.listLogs(t.db, id)).filter((l) => l.event === 'webhook').map((l) => `${l.provider_event_id?.split(':')[1] ?? ''}:${l.from_status ?? ''}>${l.to_status ?? ''}`);

describe('recordProviderStatus', () => {
  it('moves sent → delivered once, stamped with the event time; a replay is a duplicate', async () => {
    const { id, messageId } = await sent('sms');
    const at = new Date('2026-03-01T10:00:05Z');
    expect(await recordProviderStatus(t.db, sms(messageId, 'delivered', 'delivered', { at }))).toEqual({ outcome: 'applied', communicationId: id, from: 'sent', to: 'delivered', at });
    expect(await recordProviderStatus(t.db, sms(messageId, 'delivered'))).toEqual({ outcome: 'duplicate', communicationId: id });
    expect(await row(id)).toMatchObject({ status: 'delivered', delivered_at: at });
    expect(await webhookLogs(id)).toEqual(['delivered:sent>delivered']);
  });

  it('logs a late sent after delivered and changes nothing (stale); queued and sent never move', async () => {
    const { id, messageId } = await sent('sms');
    expect((await recordProviderStatus(t.db, sms(messageId, 'sent', 'queued'))).outcome).toBe('stale');
    expect((await row(id)).status).toBe('sent');
    expect((await recordProviderStatus(t.db, sms(messageId, 'delivered'))).outcome).toBe('applied');
    expect((await recordProviderStatus(t.db, sms(messageId, 'sent'))).outcome).toBe('stale');
    // Delivered cannot fail any more.
    expect((await recordProviderStatus(t.db, sms(messageId, 'failed', 'undelivered', { errorCode: '30003' }))).outcome).toBe('stale');
    expect(await row(id)).toMatchObject({ status: 'delivered', last_error_code: null });
    expect(await webhookLogs(id)).toEqual(['queued:sent>', 'delivered:sent>delivered', 'sent:delivered>', 'undelivered:delivered>']);
  });

  it('moves read → opened from sent or delivered, and a late delivered after read stays opened', async () => {
    const a = await sent('whatsapp');
    const wa = (messageId: string, status: ProviderStatusInput['status']): ProviderStatusInput => ({
      provider: 'whatsapp', providerMessageId: messageId, providerEventId: `${messageId}:${status}`, status, at: new Date('2026-03-01T11:00:00Z'),
    });
    expect(await recordProviderStatus(t.db, wa(a.messageId, 'read'))).toMatchObject({ outcome: 'applied', from: 'sent', to: 'opened' });
    expect((await recordProviderStatus(t.db, wa(a.messageId, 'delivered'))).outcome).toBe('stale');
    expect(await row(a.id)).toMatchObject({ status: 'opened', opened_at: new Date('2026-03-01T11:00:00Z'), delivered_at: null });

    const b = await sent('whatsapp');
    await recordProviderStatus(t.db, wa(b.messageId, 'delivered'));
    expect(await recordProviderStatus(t.db, wa(b.messageId, 'read'))).toMatchObject({ outcome: 'applied', from: 'delivered', to: 'opened' });
  });

  it('moves sent → failed with the error code, and nothing moves it afterwards', async () => {
    const { id, messageId } = await sent('sms');
    expect(await recordProviderStatus(t.db, sms(messageId, 'failed', 'undelivered', { errorCode: '30005' }))).toMatchObject({ outcome: 'applied', to: 'failed' });
    expect(await row(id)).toMatchObject({ status: 'failed', last_error_code: '30005', failure_reason: 'provider_undelivered' });
    expect(await recordProviderStatus(t.db, sms(messageId, 'delivered'))).toMatchObject({ outcome: 'stale' });
    expect((await row(id)).status).toBe('failed');
    const log = (await CommunicationRepository.listLogs(t.db, id)).find((l) => l.provider_event_id === `${messageId}:undelivered`);
    expect(log).toMatchObject({ event: 'webhook', provider: 'twilio', provider_message_id: messageId, error_code: '30005', channel: 'sms', attempt: 1 });
  });

  it('ignores an unknown message id, and one of the other provider’s channel, recording nothing', async () => {
    const { id, messageId } = await sent('whatsapp');
    expect(await recordProviderStatus(t.db, sms(`SM${'f'.repeat(32)}`, 'delivered'))).toEqual({ outcome: 'unknown_message' });
    // A Twilio callback naming a WhatsApp message's id does not touch it.
    expect(await recordProviderStatus(t.db, sms(messageId, 'delivered'))).toEqual({ outcome: 'unknown_message' });
    expect((await row(id)).status).toBe('sent');
    expect(await webhookLogs(id)).toEqual([]);
  });

  it('applies concurrent copies of one event once, and concurrent different events in a forward order', async () => {
    const { id, messageId } = await sent('sms');
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => recordProviderStatus(t.db, sms(messageId, 'delivered'))));
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['applied', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);

    const other = await sent('whatsapp');
    const wa = (status: ProviderStatusInput['status']): ProviderStatusInput => ({ provider: 'whatsapp', providerMessageId: other.messageId, providerEventId: `${other.messageId}:${status}`, status, at: new Date() });
    await Promise.all([recordProviderStatus(t.db, wa('read')), recordProviderStatus(t.db, wa('delivered')), recordProviderStatus(t.db, wa('sent'))]);
    expect((await row(other.id)).status).toBe('opened');
    expect((await row(id)).status).toBe('delivered');
  });

  it('the same event id of another provider is another event', async () => {
    const { id, messageId } = await sent('sms');
    const other = await sent('whatsapp');
    const shared = 'same-event';
    expect((await recordProviderStatus(t.db, { ...sms(messageId, 'delivered'), providerEventId: shared })).outcome).toBe('applied');
    expect((await recordProviderStatus(t.db, { provider: 'whatsapp', providerMessageId: other.messageId, providerEventId: shared, status: 'delivered', at: new Date() })).outcome).toBe('applied');
    expect((await row(id)).status).toBe('delivered');
  });

  it('works inside a caller’s transaction', async () => {
    const { id, messageId } = await sent('sms');
    const result = await t.db.transaction().execute((trx) => recordProviderStatus(trx, sms(messageId, 'delivered')));
    expect(result.outcome).toBe('applied');
    expect((await row(id)).status).toBe('delivered');
  });

  it('sends a late failure back to the queue for the next channel of the plan, once; the old message id no longer moves it', async () => {
    const { id, messageId } = await sent('sms', ['sms', 'whatsapp', 'email']);
    const at = new Date('2026-03-01T10:00:09Z');
    expect(await recordProviderStatus(t.db, sms(messageId, 'failed', 'undelivered', { errorCode: '30003', errorCategory: 'transient', at }))).toEqual({
      outcome: 'fallback', communicationId: id, failedChannel: 'sms', category: 'transient', at,
    });
    expect(await row(id)).toMatchObject({ status: 'queued', awaiting_fallback: true, channel: 'sms', last_error_code: '30003', last_error_category: 'transient', failed_at: null });
    // The replayed callback is a duplicate; the failed (after undelivered) is stale: the row is queued now.
    expect((await recordProviderStatus(t.db, sms(messageId, 'failed', 'undelivered', { errorCode: '30003' }))).outcome).toBe('duplicate');
    expect((await recordProviderStatus(t.db, sms(messageId, 'failed', 'failed', { errorCode: '30003' }))).outcome).toBe('stale');
    expect((await recordProviderStatus(t.db, sms(messageId, 'delivered'))).outcome).toBe('stale');
    expect(await webhookLogs(id)).toEqual(['undelivered:sent>queued', 'failed:queued>', 'delivered:queued>']);
  });

  it('ends failed when the failed channel was the last of the plan', async () => {
    const { id, messageId } = await sent('whatsapp', ['whatsapp']);
    const result = await recordProviderStatus(t.db, { provider: 'whatsapp', providerMessageId: messageId, providerEventId: `${messageId}:failed`, status: 'failed', errorCode: '131026', at: new Date() });
    expect(result).toMatchObject({ outcome: 'applied', to: 'failed' });
    expect(await row(id)).toMatchObject({ status: 'failed', last_error_category: 'permanent', awaiting_fallback: false });
  });
});
