import { CommunicationRepository } from '@crm/db';
import { waitFor } from '@crm/testing';
import { startTestEngine, type TestEngine } from './support/engine';

// Fallback across channels, through the sandbox's SMTP server and its Twilio and WhatsApp
// Cloud API stand-ins, with faults set per channel through its admin API.
let engine: TestEngine;
beforeAll(async () => {
  engine = await startTestEngine({ messaging: true });
});
afterAll(() => engine.close());
afterEach(() => fetch(`${engine.sandbox.httpUrl}/admin/faults`, { method: 'DELETE' }));

const fallbacks = async (id: string) =>
  (await CommunicationRepository.listLogs(engine.t.db, id))
    .filter((l) => l.event === 'fallback')
    .map((l) => l.detail as { from?: string; to?: string; reason?: string });

it('tries the client\'s channels in order, falling back on each failure, and ends sent on the first that works', async () => {
  await engine.fault('email', { errorCode: 550 });
  await engine.fault('whatsapp', { errorCode: 131026 });
  // Default preferences: email, then WhatsApp, then SMS.
  const id = await engine.send({ email: 'ada@example.com', phone: '+14155550101' });
  const row = await engine.finished(id);
  expect(row).toMatchObject({ status: 'sent', channel: 'sms', channels_tried: ['email', 'whatsapp', 'sms'], channel_plan: ['email', 'whatsapp', 'sms'], attempt_count: 3 });
  expect(row.provider_message_id).toMatch(/^SM[0-9a-f]{32}$/);
  expect(await fallbacks(id)).toEqual([
    expect.objectContaining({ from: 'email', to: 'whatsapp', reason: 'permanent' }),
    expect.objectContaining({ from: 'whatsapp', to: 'sms', reason: 'permanent' }),
  ]);
  expect(engine.sandbox.mailbox.list({ communicationId: id })).toHaveLength(0);
});

it('ends failed with all_channels_failed when every channel fails, with the last error', async () => {
  await engine.fault('email', { errorCode: 550 });
  await engine.fault('whatsapp', { errorCode: 131026 });
  await engine.fault('sms', { errorCode: 21211 });
  const id = await engine.send({ email: 'grace@example.com', phone: '+14155550102' });
  const row = await engine.finished(id);
  expect(row).toMatchObject({ status: 'failed', failure_reason: 'all_channels_failed', channels_tried: ['email', 'whatsapp', 'sms'], last_error_code: '21211', last_error_category: 'permanent' });
  const last = (await CommunicationRepository.listLogs(engine.t.db, id)).at(-1);
  expect(last).toMatchObject({ event: 'fallback', to_status: 'failed', detail: { tried: ['email', 'whatsapp', 'sms'] } });
});

it('critical messages go to the fastest channel first; a client without email never gets an email attempt', async () => {
  const critical = await engine.send({ email: 'linus@example.com', phone: '+14155550103', urgency: 'critical' });
  expect(await engine.finished(critical)).toMatchObject({ status: 'sent', channel: 'sms', channels_tried: ['sms'] });
  const phoneOnly = await engine.send({ phone: '+14155550104' });
  expect(await engine.finished(phoneOnly)).toMatchObject({ status: 'sent', channel: 'whatsapp', channel_plan: ['whatsapp', 'sms'] });
});

it('rate_limit: waits without spending an attempt, then sends', async () => {
  await engine.fault('sms', { errorCode: 20429 });
  const id = await engine.send({ phone: '+14155550105', channel: 'sms' });
  await waitFor(async () => (await CommunicationRepository.listLogs(engine.t.db, id)).filter((l) => l.event === 'attempt_failed').length >= 4, { message: 'several rate-limit waits' });
  await fetch(`${engine.sandbox.httpUrl}/admin/faults/sms`, { method: 'DELETE' });
  const row = await engine.finished(id);
  // More attempts than RETRY_MAX_ATTEMPTS (3 here), none of them spent: still on SMS, and sent.
  expect(row).toMatchObject({ status: 'sent', channel: 'sms', channels_tried: ['sms'], channel_attempts: 1 });
  expect(row.attempt_count).toBeGreaterThan(4);
  const waits = (await CommunicationRepository.listLogs(engine.t.db, id)).filter((l) => l.event === 'attempt_failed');
  expect(new Set(waits.map((l) => [l.error_category, (l.detail as { action: string }).action].join(':')))).toEqual(new Set(['rate_limit:wait_rate_limit']));
});
