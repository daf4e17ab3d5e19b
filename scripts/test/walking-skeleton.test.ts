import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { loadConfig } from '@crm/config';
import { CommunicationRepository } from '@crm/db';
import { startEmailWorker } from '@crm/email-worker';
import { buildApp } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { createSmtpTransport, type EmailTransport } from '@crm/providers';
import { ProviderBreakers } from '@crm/delivery';
import { createRedisConnection, QueueProducer, waitForRedis } from '@crm/queue';
import { startSandbox, type Sandbox } from '@crm/sandbox';
import { strategySettingsOf } from '@crm/runtime';
import { startStrategyWorker } from '@crm/strategy-worker';
import { createTestApiKey, createTestDatabase, createTestRedis, testEnvironment, waitFor, type TestDatabase, type TestRedis } from '@crm/testing';

// The walking skeleton through every real part: ingest (Fastify) → PostgreSQL row → Redis
// (crm.requests) → strategy worker → Redis (crm.email) → email worker → SMTP → sandbox.
let t: TestDatabase;
let r: TestRedis;
let sandbox: Sandbox;
let producerConnection: Redis;
let workerConnection: Redis;
let producer: QueueProducer;
let transport: EmailTransport;
let workers: { close(): Promise<void> }[];
let breakers: ProviderBreakers;
let app: FastifyInstance;
let auth: { authorization: string };
const keys = { encryptionKey: 'e'.repeat(32), blindIndexKey: 'b'.repeat(32) };
const logger = createLogger({ service: 'skeleton-test', level: 'silent' });

beforeAll(async () => {
  [t, r] = await Promise.all([createTestDatabase(), createTestRedis()]);
  sandbox = await startSandbox({ logger, smtpPort: 0, httpPort: 0 });
  producerConnection = createRedisConnection({ url: r.url, role: 'producer' });
  await waitForRedis(producerConnection);
  workerConnection = createRedisConnection({ url: r.url, role: 'worker' });
  producer = new QueueProducer({ connection: producerConnection, prefix: r.prefix });
  transport = createSmtpTransport({
    host: sandbox.host, port: sandbox.smtpPort, secure: false, requireTls: false, user: null, password: null,
    from: 'Planner <planner@example.com>', pool: { maxConnections: 2, maxMessages: 100 },
  });
  breakers = new ProviderBreakers({ errorThresholdPercentage: 50, volumeThreshold: 100, rollingCountTimeoutMs: 10_000, resetTimeoutMs: 1_000 }, logger);
  workers = [
    // The test environment's strategy settings: no quiet hours, whatever the hour the tests run at.
    startStrategyWorker({ db: t.db, producer, logger, settings: strategySettingsOf(loadConfig(testEnvironment())), connection: workerConnection, prefix: r.prefix, deliverableChannels: ['email'], reconcilerIntervalMs: null }),
    startEmailWorker({
      db: t.db, producer, transport, keys, logger, breakers, connection: workerConnection, prefix: r.prefix,
      retry: { baseDelayMs: 10, factor: 2, maxDelayMs: 50, maxAttempts: 3 },
    }),
  ];
  app = await buildApp({ db: t.db, producer, keys, logger, redisPing: () => producerConnection.ping(), bodyLimitBytes: 1_000_000 });
  ({ headers: auth } = await createTestApiKey(t.db));
});

afterAll(async () => {
  await app.close();
  await Promise.all(workers.map((w) => w.close()));
  await transport.close();
  breakers.shutdown();
  await producer.close();
  await Promise.all([producerConnection.quit(), workerConnection.quit()]);
  await sandbox.stop();
  await Promise.all([t.destroy(), r.destroy()]);
});

async function send(body: Record<string, unknown>): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/api/crm/communications', payload: body, headers: auth });
  expect(response.statusCode).toBe(202);
  return response.json<{ id: string }>().id;
}

const finalStatus = (id: string) =>
  waitFor(async () => {
    const row = await CommunicationRepository.findById(t.db, id);
    return row && ['sent', 'failed', 'bounced'].includes(row.status) ? row : undefined;
  }, { message: `communication ${id} to finish` });

describe('walking skeleton', () => {
  it('takes a request from the API to the sandbox mailbox and ends sent, with its log', async () => {
    const id = await send({
      clientId: 'client-42', planId: 'plan-7', messageType: 'welcome',
      variables: { clientName: 'Ada', eventName: 'Summer gala' }, recipient: { email: 'ada@example.com' },
    });
    const message = await sandbox.mailbox.waitFor((m) => m.headers['x-crm-communication-id'] === id, 10_000);
    expect(message).toMatchObject({
      subject: 'Welcome to your event plan',
      to: ['ada@example.com'],
      envelope: { from: 'planner@example.com', to: ['ada@example.com'] },
      messageId: `<${id}@crm-engine.local>`,
    });
    expect(message.text).toContain('Hello Ada,');
    expect(message.text).toContain('eventName: Summer gala');

    const row = await finalStatus(id);
    expect(row).toMatchObject({ status: 'sent', channel: 'email', channels_tried: ['email'], attempt_count: 1, provider_message_id: `<${id}@crm-engine.local>` });
    expect(row.sent_at).toBeInstanceOf(Date);
    const logs = await CommunicationRepository.listLogs(t.db, id);
    expect(logs.map((l) => [l.event, l.from_status, l.to_status])).toEqual([
      ['created', null, 'pending'],
      ['status_changed', 'pending', 'queued'],
      ['attempt_started', 'queued', 'sending'],
      ['attempt_succeeded', 'sending', 'sent'],
    ]);
    expect(logs[3]).toMatchObject({ provider: 'smtp', attempt: 1, channel: 'email', latency_ms: expect.any(Number), detail: { response: expect.stringMatching(/^250 /) } });
  });

  it('fails over at once on a permanent SMTP refusal; with no other channel left it ends bounced, with the code and category', async () => {
    const id = await send({ clientId: 'client-bounce', planId: 'plan-7', messageType: 'reminder', recipient: { email: 'bounce@example.com' } });
    const row = await finalStatus(id);
    expect(row).toMatchObject({ status: 'bounced', last_error_code: '550', last_error_category: 'permanent', failure_reason: 'all_channels_failed', attempt_count: 1 });
    expect(row.last_error).not.toContain('bounce@example.com');
    const logs = await CommunicationRepository.listLogs(t.db, id);
    expect(logs.map((l) => l.event)).toEqual(['created', 'status_changed', 'attempt_started', 'attempt_failed', 'fallback']);
    expect(logs[3]).toMatchObject({ to_status: 'queued', error_code: '550', error_category: 'permanent', detail: { action: 'fallback', reason: 'permanent' } });
  });

  it('retries a temporary SMTP refusal with backoff, then gives up on the channel', async () => {
    const id = await send({ clientId: 'client-defer', planId: 'plan-7', messageType: 'reminder', recipient: { email: 'defer@example.com' } });
    expect(await finalStatus(id)).toMatchObject({ status: 'failed', last_error_code: '451', last_error_category: 'transient', failure_reason: 'all_channels_failed', attempt_count: 3 });
    const failed = (await CommunicationRepository.listLogs(t.db, id)).filter((l) => l.event === 'attempt_failed');
    expect(failed.map((l) => [l.attempt, (l.detail as { action: string }).action])).toEqual([[1, 'retry'], [2, 'retry'], [3, 'fallback']]);
  });

  it('fails a request for a channel this deployment cannot send on, saying why', async () => {
    const id = await send({ clientId: 'client-sms', planId: 'plan-7', messageType: 'reminder', channel: 'sms', recipient: { phone: '+14155550123' } });
    expect(await finalStatus(id)).toMatchObject({ status: 'failed', failure_reason: 'no_usable_channel', strategy_reason: 'requested channel sms cannot be used (not available in this deployment)' });
  });

  it('sends once when the request and email jobs are delivered again', async () => {
    const id = await send({ clientId: 'client-twice', planId: 'plan-7', messageType: 'welcome', recipient: { email: 'twice@example.com' } });
    await finalStatus(id);
    // A redelivered request job, and an email job for the same attempt under another job id.
    await producer.enqueue('crm.requests', { communicationId: id }, { jobId: `${id}.request.again` });
    await producer.enqueue('crm.email', { communicationId: id, attempt: 1 }, { jobId: `${id}.email.again` });
    await waitFor(async () => (await producer.queue('crm.email').getJobState(`${id}.email.again`)) === 'completed', { message: 'the repeated email job' });
    await waitFor(async () => (await producer.queue('crm.requests').getJobState(`${id}.request.again`)) === 'completed', { message: 'the repeated request job' });
    expect(sandbox.mailbox.list({ to: 'twice@example.com' })).toHaveLength(1);
    expect((await CommunicationRepository.listLogs(t.db, id)).filter((l) => l.event === 'attempt_started')).toHaveLength(1);
  });

  it('keeps ids only in Redis', async () => {
    const id = await send({ clientId: 'client-pii', planId: 'plan-7', messageType: 'welcome', variables: { clientName: 'Grace Hopper' }, recipient: { email: 'grace@example.com', phone: '+14155550199' } });
    await finalStatus(id);
    const values: string[] = [];
    for (const key of await r.keys()) {
      const type = await r.redis.type(key);
      if (type === 'hash') values.push(JSON.stringify(await r.redis.hgetall(key)));
      else if (type === 'string') values.push((await r.redis.get(key)) ?? '');
      else if (type === 'list') values.push(JSON.stringify(await r.redis.lrange(key, 0, -1)));
      else if (type === 'zset') values.push(JSON.stringify(await r.redis.zrange(key, 0, -1)));
      else if (type === 'set') values.push(JSON.stringify(await r.redis.smembers(key)));
      else if (type === 'stream') values.push(JSON.stringify(await r.redis.xrange(key, '-', '+')));
      values.push(key);
    }
    const dump = values.join('\n');
    expect(dump).toContain(id);
    for (const pii of ['grace@example.com', '4155550199', 'Grace Hopper', 'Hello']) expect(dump).not.toContain(pii);
  });
});
