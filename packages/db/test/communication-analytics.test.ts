import { CommunicationRepository } from '@crm/db';
import { createTestDatabase, type TestDatabase } from '@crm/testing';
import type { CommunicationStatus, MessageChannel, MessageType } from '@crm/core';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.destroy());

const day = (d: number) => new Date(Date.UTC(2026, 4, d, 12));

/** Inserts a communication that went along the main line up to `status`, on day `d`. */
async function fixture(channel: MessageChannel | null, messageType: MessageType, path: CommunicationStatus[], d = 10, planId = 'plan-a') {
  const { communication } = await CommunicationRepository.save(t.db, {
    clientId: 'c', planId, messageType, urgency: 'normal', requestedChannel: null, sendAt: null, variables: {}, metadata: {}, idempotencyKey: null, requestHash: null,
  });
  await t.db.updateTable('crm_communications').set({ created_at: day(d) }).where('id', '=', communication.id).execute();
  for (const to of path) {
    const result = await CommunicationRepository.updateStatus(t.db, { id: communication.id, to, ...(channel && { channel }) });
    if (!result.applied) throw new Error(`fixture: ${to} refused`);
  }
}

const toSent: CommunicationStatus[] = ['queued', 'sending', 'sent'];

beforeAll(async () => {
  // email, budget_summary: 4 sent; 3 delivered-or-beyond (1 delivered, 1 opened without receipt, 1 clicked), 1 bounced
  await fixture('email', 'budget_summary', [...toSent, 'delivered']);
  await fixture('email', 'budget_summary', [...toSent, 'opened']);
  await fixture('email', 'budget_summary', [...toSent, 'delivered', 'opened', 'clicked']);
  await fixture('email', 'budget_summary', ['queued', 'sending', 'bounced']);
  // sms, reminder: 2 sent (1 delivered then responded, 1 failed after sent), 1 failed before sending
  await fixture('sms', 'reminder', [...toSent, 'delivered', 'responded']);
  await fixture('sms', 'reminder', [...toSent, 'failed']);
  await fixture('sms', 'reminder', ['queued', 'failed']);
  // whatsapp, vendor_options: 1 read (opened) and responded
  await fixture('whatsapp', 'vendor_options', [...toSent, 'delivered', 'opened', 'responded']);
  // never routed: pending and cancelled
  await fixture(null, 'welcome', []);
  await fixture(null, 'welcome', ['cancelled']);
  // outside the range, and another plan
  await fixture('email', 'welcome', [...toSent, 'delivered'], 1);
  await fixture('email', 'welcome', [...toSent, 'delivered'], 10, 'plan-b');
});

describe('getAnalytics', () => {
  // Worked out by hand from the fixtures above.
  it('computes counts and rates overall, per channel and per message type', async () => {
    const result = await CommunicationRepository.getAnalytics(t.db, { from: day(5), to: day(20), planId: 'plan-a' });
    expect(result.overall).toEqual({
      total: 10, sent: 6, delivered: 5, opened: 3, clicked: 1, responded: 2, failed: 2, bounced: 1, cancelled: 1,
      deliveryRate: 0.8333, openRate: 0.6, clickRate: 0.2, responseRate: 0.4,
    });
    expect(result.byChannel).toEqual([
      { channel: 'email', total: 4, sent: 3, delivered: 3, opened: 2, clicked: 1, responded: 0, failed: 0, bounced: 1, cancelled: 0, deliveryRate: 1, openRate: 0.6667, clickRate: 0.3333, responseRate: 0 },
      { channel: 'sms', total: 3, sent: 2, delivered: 1, opened: 0, clicked: 0, responded: 1, failed: 2, bounced: 0, cancelled: 0, deliveryRate: 0.5, openRate: 0, clickRate: 0, responseRate: 1 },
      { channel: 'whatsapp', total: 1, sent: 1, delivered: 1, opened: 1, clicked: 0, responded: 1, failed: 0, bounced: 0, cancelled: 0, deliveryRate: 1, openRate: 1, clickRate: 0, responseRate: 1 },
    ]);
    expect(result.byMessageType.map((m) => [m.messageType, m.total, m.sent, m.delivered, m.deliveryRate])).toEqual([
      ['budget_summary', 4, 3, 3, 1],
      ['reminder', 3, 2, 1, 0.5],
      ['vendor_options', 1, 1, 1, 1],
      ['welcome', 2, 0, 0, null],
    ]);
  });

  it('filters by date range and plan', async () => {
    const all = await CommunicationRepository.getAnalytics(t.db, { from: day(1), to: day(30) });
    expect(all.overall.total).toBe(12);
    const early = await CommunicationRepository.getAnalytics(t.db, { from: day(1), to: day(2) });
    expect(early.overall).toMatchObject({ total: 1, sent: 1, delivered: 1, deliveryRate: 1 });
    expect(early.byChannel.map((c) => c.channel)).toEqual(['email']);
    const planB = await CommunicationRepository.getAnalytics(t.db, { from: day(1), to: day(30), planId: 'plan-b' });
    expect(planB.overall.total).toBe(1);
  });

  it('answers zeros and null rates for an empty range', async () => {
    const none = await CommunicationRepository.getAnalytics(t.db, { from: day(25), to: day(26) });
    expect(none.overall).toMatchObject({ total: 0, sent: 0, deliveryRate: null, openRate: null, clickRate: null, responseRate: null });
    expect(none.byChannel).toEqual([]);
    expect(none.byMessageType).toEqual([]);
  });
});
