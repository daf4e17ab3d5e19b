import type { Redis } from 'ioredis';
import type { MessageType, UrgencyLevel } from '@crm/core';
import { loadConfig } from '@crm/config';
import { CommunicationRepository, queueOnFirstChannelMany, recordProviderOptOut, upsertClientContact, type CommunicationRow } from '@crm/db';
import { batchedWrites, ProviderBreakers } from '@crm/delivery';
import { smsSender, startMessagingWorker, whatsAppSender } from '@crm/messaging-worker';
import { createLogger } from '@crm/observability';
import { strategySettingsOf } from '@crm/runtime';
import { composeSms } from '@crm/templates';
import { createTwilioClient, createWhatsAppClient } from '@crm/providers';
import { createRedisConnection, QueueProducer, waitForRedis, type QueueWorker } from '@crm/queue';
import { startSandbox, type Sandbox } from '@crm/sandbox';
import { startStrategyWorker, type StrategyWorker } from '@crm/strategy-worker';
import { createTestDatabase, createTestRedis, testEnvironment, testPiiKeys, waitFor, type TestDatabase, type TestRedis } from '@crm/testing';

// The messaging worker in this process with the strategy worker, against a database and a
// queue prefix of this file's own, and the sandbox's Twilio and WhatsApp stand-ins.

const logger = createLogger({ service: 'messaging-worker-test', level: 'silent' });
const keys = testPiiKeys;
const config = loadConfig(testEnvironment());
const finalStatuses = ['sent', 'failed', 'bounced', 'cancelled'];

const budgetVariables = { clientName: 'Ada', total: 18500, currency: 'EUR' };

describe('messaging worker', () => {
  let t: TestDatabase;
  let r: TestRedis;
  let sandbox: Sandbox;
  let producerConnection: Redis;
  let workerConnection: Redis;
  let producer: QueueProducer;
  let breakers: ProviderBreakers;
  let strategy: StrategyWorker;
  let messaging: QueueWorker;
  let clients = 0;

  beforeAll(async () => {
    [t, r, sandbox] = await Promise.all([createTestDatabase(), createTestRedis(), startSandbox({ logger, smtpPort: 0, httpPort: 0 })]);
    producerConnection = createRedisConnection({ url: r.url, role: 'producer' });
    await waitForRedis(producerConnection);
    workerConnection = createRedisConnection({ url: r.url, role: 'worker' });
    producer = new QueueProducer({ connection: producerConnection, prefix: r.prefix });
    breakers = new ProviderBreakers({ errorThresholdPercentage: 50, volumeThreshold: 1_000, rollingCountTimeoutMs: 10_000, resetTimeoutMs: 60_000 }, logger);
    // The test environment's strategy settings: no quiet hours or send windows, so that the result
    // does not depend on the hour the tests run at (the defaults hold SMS and WhatsApp after 20:00 UTC).
    strategy = startStrategyWorker({ db: t.db, producer, logger, settings: strategySettingsOf(config), connection: workerConnection, prefix: r.prefix, reconcilerIntervalMs: null });
    messaging = startMessagingWorker({
      db: t.db,
      producer,
      keys,
      logger,
      breakers,
      retry: { baseDelayMs: 20, factor: 2, maxDelayMs: 200, maxAttempts: 3 },
      // As in production (WORKER_BATCH_WINDOW_MS).
      writes: batchedWrites(t.db, keys, { windowMs: 2 }),
      senders: {
        sms: smsSender(createTwilioClient({ ...config.twilio, baseUrl: `${sandbox.httpUrl}/twilio` }), { publicBaseUrl: 'http://127.0.0.1:3000', db: t.db }),
        whatsapp: whatsAppSender(createWhatsAppClient({ ...config.whatsapp, baseUrl: `${sandbox.httpUrl}/whatsapp` }), { db: t.db, keys }),
      },
      connection: workerConnection,
      prefix: r.prefix,
      concurrency: 5,
    });
    await Promise.all([strategy.ready(), messaging.ready()]);
  });

  afterAll(async () => {
    await Promise.all([strategy?.close(), messaging?.close()]);
    breakers?.shutdown();
    await producer?.close();
    await producerConnection?.quit().catch(() => undefined);
    await workerConnection?.quit().catch(() => undefined);
    await sandbox?.stop();
    await t?.destroy();
    await r?.destroy();
  });

  afterEach(() => sandbox.faults.reset());

  /** Stores a request for a new client with these contact details and enqueues it, as ingest does. */
  async function request(input: { phone?: string; email?: string; channel?: 'sms' | 'whatsapp'; urgency?: UrgencyLevel; messageType?: MessageType }): Promise<string> {
    const clientId = `client-${++clients}`;
    await upsertClientContact(t.db, keys, { clientId, ...(input.phone && { phone: input.phone }), ...(input.email && { email: input.email }) });
    const { communication } = await CommunicationRepository.save(t.db, {
      clientId,
      planId: 'plan-7',
      messageType: input.messageType ?? 'budget_summary',
      urgency: input.urgency ?? 'normal',
      requestedChannel: input.channel ?? null,
      sendAt: null,
      variables: budgetVariables,
      metadata: {},
      idempotencyKey: null,
      requestHash: null,
    });
    await producer.enqueue('crm.requests', { communicationId: communication.id });
    return communication.id;
  }

  const finished = (id: string): Promise<CommunicationRow> =>
    waitFor(async () => {
      const row = await CommunicationRepository.findById(t.db, id);
      return row && finalStatuses.includes(row.status) ? row : undefined;
    }, { timeoutMs: 15_000, message: `communication ${id} to finish` });

  it('sends an SMS through the Twilio stand-in: the row ends sent with the SID, the SMS names its communication', async () => {
    const id = await request({ phone: '+14155550123', channel: 'sms' });
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'sent', channel: 'sms', attempt_count: 1 });
    expect(row.provider_message_id).toMatch(/^SM[0-9a-f]{32}$/);

    const [sms, ...others] = sandbox.sms.list({ communicationId: id });
    expect(others).toEqual([]);
    expect(sms).toMatchObject({
      id: row.provider_message_id,
      to: '+14155550123',
      from: config.twilio.fromNumber,
      body: composeSms('budget_summary', budgetVariables).body,
      numSegments: 1,
      statusCallback: `http://127.0.0.1:3000/webhooks/twilio/status?cid=${id}`,
    });

    const logs = await CommunicationRepository.listLogs(t.db, id);
    expect(logs.find((log) => log.event === 'attempt_succeeded')).toMatchObject({ channel: 'sms', provider: 'twilio', attempt: 1 });
  });

  it('sends WhatsApp through the Cloud API stand-in: the approved template to a client who has not written, sent with the wamid', async () => {
    const id = await request({ phone: '+14155550124', channel: 'whatsapp' });
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'sent', channel: 'whatsapp' });
    expect(row.provider_message_id).toMatch(/^wamid\./);
    const [message] = sandbox.whatsapp.list({ communicationId: id });
    expect(message).toMatchObject({ id: row.provider_message_id, waId: '14155550124', callbackData: id, type: 'template' });
    expect(message?.type === 'template' && message.template.name).toBe('crm_budget_summary');
  });

  it('falls back across channels: an opted-out SMS recipient (Twilio 21610, permanent) gets the message on WhatsApp', async () => {
    await sandbox.faults.set('sms', { errorCode: 21610, errorRate: 1, latencyMs: 0, outage: false });
    // critical: fastest channels first, so SMS, then WhatsApp, then email.
    const id = await request({ phone: '+14155550125', email: 'ada@example.com', urgency: 'critical' });
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'sent', channel: 'whatsapp' });
    expect(row.channels_tried).toEqual(expect.arrayContaining(['sms', 'whatsapp']));
    const failed = (await CommunicationRepository.listLogs(t.db, id)).filter((log) => log.event === 'attempt_failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ channel: 'sms', provider: 'twilio' });
    expect(sandbox.sms.list({ communicationId: id })).toEqual([]);
    expect(sandbox.whatsapp.list({ communicationId: id })).toHaveLength(1);
  });

  it('does not send on a channel the client opted out of while the job waited: falls back to the next one', async () => {
    const clientId = `client-${++clients}`;
    await upsertClientContact(t.db, keys, { clientId, phone: '+14155550129' });
    const { communication } = await CommunicationRepository.save(t.db, {
      clientId, planId: 'plan-7', messageType: 'budget_summary', urgency: 'normal', requestedChannel: null, sendAt: null,
      variables: budgetVariables, metadata: {}, idempotencyKey: null, requestHash: null,
    });
    const id = communication.id;
    // Planned and queued on SMS (then WhatsApp) as the strategy would; the STOP arrives before the worker's claim.
    await queueOnFirstChannelMany(t.db, [{ id, channel: 'sms', plan: ['sms', 'whatsapp'], reason: 'test' }]);
    expect(await recordProviderOptOut(t.db, clientId, 'sms')).toBe(true);
    await producer.enqueue('crm.messaging', { communicationId: id, channel: 'sms', attempt: 1, clientId });

    const row = await finished(id);
    expect(row).toMatchObject({ status: 'sent', channel: 'whatsapp', channels_tried: ['sms', 'whatsapp'] });
    expect(sandbox.sms.list({ communicationId: id })).toEqual([]);
    const refused = (await CommunicationRepository.listLogs(t.db, id)).find((log) => log.event === 'attempt_failed');
    expect(refused).toMatchObject({ channel: 'sms', error_code: 'opted_out', error_category: 'permanent' });
  });

  it('waits out a Twilio rate limit (20429) without spending an attempt, then sends', async () => {
    await sandbox.faults.set('sms', { errorCode: 20429, errorRate: 1, latencyMs: 0, outage: false });
    const id = await request({ phone: '+14155550126', channel: 'sms' });
    await waitFor(async () => (await CommunicationRepository.listLogs(t.db, id)).some((log) => log.event === 'attempt_failed'), { message: 'a rate-limited attempt' });
    sandbox.faults.reset('sms');
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'sent', channel: 'sms', last_error_code: '20429', last_error_category: 'rate_limit' });
    expect(row.provider_message_id).toMatch(/^SM/);
    const failed = (await CommunicationRepository.listLogs(t.db, id)).filter((log) => log.event === 'attempt_failed');
    expect(failed.every((log) => (log.detail as { action?: string }).action === 'wait_rate_limit')).toBe(true);
    // A single message reached the provider.
    expect(sandbox.sms.list({ communicationId: id })).toHaveLength(1);
  });

  it('an auth failure on WhatsApp (190) opens its breaker and falls back; SMS keeps working', async () => {
    await sandbox.faults.set('whatsapp', { errorCode: 190, errorRate: 1, latencyMs: 0, outage: false });
    const id = await request({ phone: '+14155550127', channel: 'whatsapp' });
    const row = await finished(id);
    expect(row).toMatchObject({ status: 'failed', last_error_code: '190', last_error_category: 'auth_failure' });
    expect(breakers.state('whatsapp')).toBe('open');
    expect(breakers.state('twilio')).toBe('closed');
    const sms = await finished(await request({ phone: '+14155550128', channel: 'sms' }));
    expect(sms.status).toBe('sent');
  });

});
