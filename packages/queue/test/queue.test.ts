import type { Redis } from 'ioredis';
import { createLogger } from '@crm/observability';
import {
  createQueueWorker,
  createRedisConnection,
  jobDataSchemas,
  jobIdFor,
  onShutdown,
  QueueName,
  QueueProducer,
  queueNames,
  waitForRedis,
} from '@crm/queue';
import { createTestRedis, waitFor, type TestRedis } from '@crm/testing';

const id = '6f1c7f55-2d5f-4d57-9d1f-3d1b8f7c9a11';
const logger = createLogger({ service: 'queue-test', level: 'silent' });

describe('job data', () => {
  it('names every queue of ARCHITECTURE.md', () => {
    expect([...queueNames].sort()).toEqual(['crm.callbacks', 'crm.digest', 'crm.email', 'crm.events', 'crm.fallback', 'crm.messaging', 'crm.requests']);
  });

  it('accepts ids and refuses anything else, such as an address or a body', () => {
    expect(jobDataSchemas[QueueName.email].parse({ communicationId: id, attempt: 1 })).toEqual({ communicationId: id, attempt: 1 });
    expect(jobDataSchemas[QueueName.email].safeParse({ communicationId: id, attempt: 1, to: 'ada@example.com' }).success).toBe(false);
    expect(jobDataSchemas[QueueName.requests].safeParse({ communicationId: id, body: 'Hello Ada' }).success).toBe(false);
    expect(jobDataSchemas[QueueName.requests].safeParse({ communicationId: 'not-a-uuid' }).success).toBe(false);
    expect(jobDataSchemas[QueueName.messaging].safeParse({ communicationId: id, channel: 'email', attempt: 1 }).success).toBe(false);
    expect(jobDataSchemas[QueueName.digest].safeParse({ clientId: 'ada@example.com', windowId: 'w1' }).success).toBe(false);
  });

  it('derives job ids from the row, without colons', () => {
    const ids = [
      jobIdFor('crm.requests', { communicationId: id }),
      jobIdFor('crm.requests', { communicationId: id, due: 1_790_000_000_000 }),
      jobIdFor('crm.email', { communicationId: id, attempt: 2 }),
      jobIdFor('crm.messaging', { communicationId: id, channel: 'sms', attempt: 1 }),
      jobIdFor('crm.fallback', { communicationId: id, failedChannel: 'whatsapp', category: 'permanent' }),
      jobIdFor('crm.digest', { clientId: 'client:1', windowId: '2026-11-25T10' }),
      jobIdFor('crm.events', { communicationId: id, event: 'opened', at: '2026-11-25T10:00:00.000Z' }),
    ];
    expect(ids).toEqual([
      `${id}.request`, `${id}.request.1790000000000`, `${id}.email.2`, `${id}.sms.1`, `${id}.fallback.whatsapp`, 'digest.2026-11-25T10', `${id}.opened.${Date.parse('2026-11-25T10:00:00.000Z')}`,
    ]);
    for (const jobId of ids) expect(jobId).not.toContain(':');
  });
});

describe('producer and worker', () => {
  let r: TestRedis;
  let producerConnection: Redis;
  let workerConnection: Redis;
  let producer: QueueProducer;

  beforeAll(async () => {
    r = await createTestRedis();
    producerConnection = createRedisConnection({ url: r.url, role: 'producer' });
    await waitForRedis(producerConnection);
    workerConnection = createRedisConnection({ url: r.url, role: 'worker' });
    producer = new QueueProducer({ connection: producerConnection, prefix: r.prefix });
  });
  afterAll(async () => {
    await producer.close();
    await Promise.all([producerConnection.quit(), workerConnection.quit()]);
    await r.destroy();
  });

  it('adds one job however often the same data is enqueued', async () => {
    const data = { communicationId: '00000000-0000-4000-8000-000000000001' };
    await Promise.all(Array.from({ length: 10 }, () => producer.enqueue('crm.requests', data)));
    expect(await producer.queue('crm.requests').getJobCounts('waiting')).toMatchObject({ waiting: 1 });
    await producer.queue('crm.requests').obliterate({ force: true });
  });

  it('refuses to enqueue data that does not match the queue', async () => {
    await expect(producer.enqueue('crm.email', { communicationId: id, attempt: 0 })).rejects.toThrow();
    await expect(producer.enqueue('crm.requests', { communicationId: id, email: 'x@y.z' } as never)).rejects.toThrow();
  });

  it('keys every queue under the prefix', async () => {
    await producer.enqueue('crm.events', { communicationId: id, event: 'sent', at: new Date().toISOString() });
    const keys = await r.keys();
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((key) => key.startsWith(`${r.prefix}:crm.`))).toBe(true);
  });

  it('fails a job with bad data for good, without calling the processor', async () => {
    const seen: unknown[] = [];
    const worker = createQueueWorker({ queue: 'crm.fallback', connection: workerConnection, prefix: r.prefix, logger, processor: async (data) => void seen.push(data) });
    const job = await producer.queue('crm.fallback').add('crm.fallback', { communicationId: id, failedChannel: 'fax', category: 'permanent' }, { attempts: 3 });
    await waitFor(async () => (await job.getState()) === 'failed', { message: 'the bad job to fail' });
    const failed = await producer.queue('crm.fallback').getJob(job.id!);
    expect(failed?.attemptsMade).toBe(1); // unrecoverable: no retries
    expect(failed?.failedReason).toMatch(/job data does not match crm.fallback: failedChannel/);
    expect(seen).toEqual([]);
    await worker.close();
  });

  it('on close, stops taking jobs and finishes the ones in flight, leaving none locked', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const started: string[] = [];
    const finished: string[] = [];
    const worker = createQueueWorker({
      queue: 'crm.digest', connection: workerConnection, prefix: r.prefix, logger, concurrency: 2,
      processor: async (data) => {
        started.push(data.windowId);
        await gate;
        finished.push(data.windowId);
      },
    });
    await producer.enqueue('crm.digest', { clientId: 'c', windowId: 'w1' });
    await producer.enqueue('crm.digest', { clientId: 'c', windowId: 'w2' });
    await waitFor(() => started.length === 2, { message: 'two jobs in flight' });
    await producer.enqueue('crm.digest', { clientId: 'c', windowId: 'w3' });

    const closing = worker.close();
    setTimeout(release, 200);
    await closing;
    expect(finished.sort()).toEqual(['w1', 'w2']);
    expect(started).not.toContain('w3');
    const queue = producer.queue('crm.digest');
    expect(await queue.getJobCounts('active', 'completed', 'waiting')).toMatchObject({ active: 0, completed: 2, waiting: 1 });
  });
});

describe('onShutdown', () => {
  it('runs the steps in order on SIGTERM, then exits 0; a failing step makes it exit 1', async () => {
    const order: string[] = [];
    const exited = new Promise<number>((resolve) => {
      onShutdown(
        [async () => void order.push('workers'), async () => { order.push('db'); throw new Error('boom'); }, async () => void order.push('redis')],
        { logger, signals: ['SIGUSR2'], exit: resolve },
      );
    });
    process.emit('SIGUSR2', 'SIGUSR2');
    expect(await exited).toBe(1);
    expect(order).toEqual(['workers', 'db', 'redis']);
    process.removeAllListeners('SIGUSR2');
  });
});
