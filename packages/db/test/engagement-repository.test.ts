import type { CommunicationStatus } from '@crm/core';
import { CommunicationRepository, recordClick, recordOpen, recordUnsubscribe, upsertClientContact } from '@crm/db';
import { testDatabasePerFile, testPiiKeys } from '@crm/testing';

// Opens, clicks and unsubscribes on real PostgreSQL: always logged, status forward-only.
const t = testDatabasePerFile();
const keys = testPiiKeys;

let clients = 0;
/** A new email communication walked along the main line to `path`'s last status. */
async function communication(path: CommunicationStatus[] = ['queued', 'sending', 'sent'], withContact = true): Promise<{ id: string; clientId: string }> {
  const clientId = `engagement-client-${++clients}`;
  if (withContact) await upsertClientContact(t.db, keys, { clientId, email: `${clientId}@example.com` });
  const { communication: row } = await CommunicationRepository.save(t.db, {
    clientId, planId: 'plan-1', messageType: 'welcome', urgency: 'normal', requestedChannel: null, sendAt: null,
    variables: {}, metadata: {}, idempotencyKey: null, requestHash: null,
  });
  for (const to of path) {
    expect((await CommunicationRepository.updateStatus(t.db, { id: row.id, to, ...(to === 'queued' && { channel: 'email' as const }) })).applied).toBe(true);
  }
  return { id: row.id, clientId };
}
const logs = async (id: string, event: string) => (await CommunicationRepository.listLogs(t.db, id)).filter((log) => log.event === event);
const status = async (id: string) => (await CommunicationRepository.findById(t.db, id))?.status;
const optOuts = async (clientId: string) =>
  (await t.db.selectFrom('crm_client_preferences').select('opt_outs').where('client_id', '=', clientId).executeTakeFirst())?.opt_outs;
const unknownId = '6f1c7f55-2d5f-4d57-9d1f-3d1b8f7c9a11';

describe('recordOpen', () => {
  it('moves sent → opened on the first open, and logs every open with its verdict', async () => {
    const { id } = await communication();
    const first = await recordOpen(t.db, { communicationId: id, machine: false, reason: 'none', userAgentFamily: 'other' });
    expect(first).toEqual({ found: true, moved: true, at: expect.any(Date) });
    const row = await CommunicationRepository.findById(t.db, id);
    expect(row).toMatchObject({ status: 'opened', opened_at: first.at });

    const again = await recordOpen(t.db, { communicationId: id, machine: true, reason: 'machine_user_agent', userAgentFamily: 'apple_mpp' });
    expect(again).toEqual({ found: true, moved: false, at: null });
    expect((await CommunicationRepository.findById(t.db, id))?.opened_at).toEqual(first.at);

    const opened = await logs(id, 'opened');
    expect(opened).toHaveLength(2);
    expect(opened[0]).toMatchObject({ from_status: 'sent', to_status: 'opened', channel: 'email', detail: { machine: false, reason: 'none', userAgentFamily: 'other' } });
    expect(opened[1]).toMatchObject({ from_status: null, to_status: null, channel: 'email', detail: { machine: true, reason: 'machine_user_agent', userAgentFamily: 'apple_mpp' } });
  });

  it('moves delivered → opened, and records a machine open as such', async () => {
    const { id } = await communication(['queued', 'sending', 'sent', 'delivered']);
    expect(await recordOpen(t.db, { communicationId: id, machine: true, reason: 'within_window' })).toMatchObject({ moved: true });
    expect(await status(id)).toBe('opened');
    expect((await logs(id, 'opened'))[0]).toMatchObject({ from_status: 'delivered', detail: { machine: true, reason: 'within_window' } });
  });

  it.each([
    ['clicked', ['queued', 'sending', 'sent', 'clicked']],
    ['responded', ['queued', 'sending', 'sent', 'responded']],
    ['sending', ['queued', 'sending']],
    ['bounced', ['queued', 'sending', 'bounced']],
  ] as [CommunicationStatus, CommunicationStatus[]][])('logs but never moves a %s message', async (current, path) => {
    const { id } = await communication(path);
    expect(await recordOpen(t.db, { communicationId: id, machine: false, reason: 'none' })).toEqual({ found: true, moved: false, at: null });
    expect(await status(id)).toBe(current);
    expect(await logs(id, 'opened')).toHaveLength(1);
  });

  it('moves once when opens race', async () => {
    const { id } = await communication();
    const results = await Promise.all(Array.from({ length: 6 }, () => recordOpen(t.db, { communicationId: id, machine: false, reason: 'none' })));
    expect(results.filter((result) => result.moved)).toHaveLength(1);
    expect(await logs(id, 'opened')).toHaveLength(6);
    expect((await logs(id, 'opened')).filter((log) => log.to_status === 'opened')).toHaveLength(1);
  });

  it('answers not found for an unknown communication and writes nothing', async () => {
    expect(await recordOpen(t.db, { communicationId: unknownId, machine: false, reason: 'none' })).toEqual({ found: false, moved: false, at: null });
    expect(await recordClick(t.db, { communicationId: unknownId, url: 'https://example.com/' })).toEqual({ found: false, moved: false, at: null });
    expect(await t.db.selectFrom('crm_delivery_logs').select('id').where('communication_id', '=', unknownId).execute()).toEqual([]);
  });
});

describe('recordClick', () => {
  it.each([
    ['sent', ['queued', 'sending', 'sent']],
    ['delivered', ['queued', 'sending', 'sent', 'delivered']],
    ['opened', ['queued', 'sending', 'sent', 'opened']],
  ] as [CommunicationStatus, CommunicationStatus[]][])('moves %s → clicked on the first click, logging the URL of each', async (from, path) => {
    const { id } = await communication(path);
    const first = await recordClick(t.db, { communicationId: id, url: 'https://example.com/plan?a=1' });
    expect(first).toMatchObject({ found: true, moved: true });
    expect(await CommunicationRepository.findById(t.db, id)).toMatchObject({ status: 'clicked', clicked_at: first.at });
    expect(await recordClick(t.db, { communicationId: id, url: 'https://example.com/other' })).toEqual({ found: true, moved: false, at: null });
    const clicked = await logs(id, 'clicked');
    expect(clicked.map((log) => [log.from_status, log.to_status, log.detail])).toEqual([
      [from, 'clicked', { url: 'https://example.com/plan?a=1' }],
      [null, null, { url: 'https://example.com/other' }],
    ]);
  });

  it('never moves a responded message back, and an open after a click keeps clicked', async () => {
    const responded = await communication(['queued', 'sending', 'sent', 'responded']);
    expect(await recordClick(t.db, { communicationId: responded.id, url: 'https://example.com/' })).toMatchObject({ moved: false });
    expect(await status(responded.id)).toBe('responded');

    const { id } = await communication();
    await recordClick(t.db, { communicationId: id, url: 'https://example.com/' });
    expect(await recordOpen(t.db, { communicationId: id, machine: false, reason: 'none' })).toMatchObject({ moved: false });
    expect(await status(id)).toBe('clicked');
  });
});

describe('recordUnsubscribe', () => {
  it('adds email to the client\'s opt-outs once, logging it once', async () => {
    const { id, clientId } = await communication();
    expect(await recordUnsubscribe(t.db, { communicationId: id, method: 'link' })).toEqual({ found: true, optedOut: true });
    expect(await optOuts(clientId)).toEqual(['email']);
    expect(await recordUnsubscribe(t.db, { communicationId: id, method: 'one_click' })).toEqual({ found: true, optedOut: false });
    expect(await optOuts(clientId)).toEqual(['email']);
    const unsubscribed = await logs(id, 'unsubscribed');
    expect(unsubscribed).toHaveLength(1);
    expect(unsubscribed[0]).toMatchObject({ channel: 'email', from_status: null, to_status: null, detail: { channel: 'email', method: 'link' } });
    // The status is not touched.
    expect(await status(id)).toBe('sent');
  });

  it('keeps other opt-outs, and is idempotent under concurrent calls', async () => {
    const { id, clientId } = await communication();
    await t.db.updateTable('crm_client_preferences').set({ opt_outs: ['sms'] }).where('client_id', '=', clientId).execute();
    const results = await Promise.all(Array.from({ length: 5 }, () => recordUnsubscribe(t.db, { communicationId: id })));
    expect(results.filter((result) => result.optedOut)).toHaveLength(1);
    expect(await optOuts(clientId)).toEqual(['sms', 'email']);
    expect(await logs(id, 'unsubscribed')).toHaveLength(1);
  });

  it('creates the preferences row of a client that has none', async () => {
    const { id, clientId } = await communication(['queued', 'sending', 'sent'], false);
    expect(await optOuts(clientId)).toBeUndefined();
    expect(await recordUnsubscribe(t.db, { communicationId: id })).toEqual({ found: true, optedOut: true });
    expect(await optOuts(clientId)).toEqual(['email']);
  });

  it('answers not found for an unknown communication and writes nothing', async () => {
    expect(await recordUnsubscribe(t.db, { communicationId: unknownId })).toEqual({ found: false, optedOut: false });
    expect(await t.db.selectFrom('crm_delivery_logs').select('id').where('communication_id', '=', unknownId).execute()).toEqual([]);
  });

  it('logs nothing personal', async () => {
    const { id, clientId } = await communication();
    await recordOpen(t.db, { communicationId: id, machine: false, reason: 'none', userAgentFamily: 'other' });
    await recordClick(t.db, { communicationId: id, url: 'https://example.com/plan' });
    await recordUnsubscribe(t.db, { communicationId: id });
    expect(JSON.stringify(await CommunicationRepository.listLogs(t.db, id))).not.toContain(`${clientId}@example.com`);
  });
});
