import { UnrecoverableError, Worker } from 'bullmq';
import { readEnvironment } from '@crm/config';
import { backoffCeiling } from '@crm/core';
import { CommunicationRepository } from '@crm/db';
import { createLogger } from '@crm/observability';
import { createRedisConnection } from '@crm/queue';
import { startReconciler } from '@crm/strategy-worker';
import { startPrivateRedis, waitFor, type PrivateRedis } from '@crm/testing';
import { attemptTrail, fastRetry, startTestEngine, type TestEngine } from './support/engine';

// The delivery pipeline against real PostgreSQL, Redis and the sandbox's SMTP server, with
// faults set through the sandbox's admin API: what each error category does, backoff bounds,
// the breaker, and the reconciler.

describe('failures by category (email through the sandbox)', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startTestEngine({ breaker: { errorThresholdPercentage: 50, volumeThreshold: 1_000, rollingCountTimeoutMs: 10_000, resetTimeoutMs: 1_500 } });
  });
  afterAll(() => engine.close());
  afterEach(() => fetch(`${engine.sandbox.httpUrl}/admin/faults`, { method: 'DELETE' }));

  it('transient: retries with full-jitter backoff inside its bounds, then gives up on the channel', async () => {
    await engine.fault('email', { errorCode: 451 });
    const id = await engine.send({ email: 'ada@example.com' });
    const row = await engine.finished(id);
    expect(row).toMatchObject({ status: 'failed', failure_reason: 'all_channels_failed', attempt_count: 3, last_error_code: '451', last_error_category: 'transient' });

    const logs = await CommunicationRepository.listLogs(engine.t.db, id);
    const failed = logs.filter((l) => l.event === 'attempt_failed');
    expect(failed.map((l) => [l.attempt, (l.detail as { action: string }).action])).toEqual([[1, 'retry'], [2, 'retry'], [3, 'fallback']]);
    for (const [index, log] of failed.slice(0, 2).entries()) {
      const delayMs = (log.detail as { delayMs: number }).delayMs;
      expect(delayMs).toBeGreaterThanOrEqual(0);
      expect(delayMs).toBeLessThanOrEqual(backoffCeiling(index + 1, fastRetry));
      // The next attempt did not start before its delay was over (timestamps have ms precision).
      const nextStart = logs.find((l) => l.event === 'attempt_started' && l.attempt === index + 2);
      expect(nextStart!.created_at.getTime() - log.created_at.getTime()).toBeGreaterThanOrEqual(delayMs - 2);
    }
  });

  it('transient, then the provider recovers: sent on a later attempt', async () => {
    await engine.fault('email', { errorCode: 451 });
    const id = await engine.send({ email: 'grace@example.com' });
    await waitFor(async () => (await CommunicationRepository.listLogs(engine.t.db, id)).some((l) => l.event === 'attempt_failed'), { message: 'first failure' });
    await fetch(`${engine.sandbox.httpUrl}/admin/faults/email`, { method: 'DELETE' });
    const row = await engine.finished(id);
    expect(row.status).toBe('sent');
    expect(row.attempt_count).toBeGreaterThanOrEqual(2);
    expect(await engine.sandbox.mailbox.list({ communicationId: id })).toHaveLength(1);
  });

  it('permanent: no retry, falls back at once (no channel left here: the SMTP 5xx makes it bounced)', async () => {
    await engine.fault('email', { errorCode: 550 });
    const id = await engine.send({ email: 'linus@example.com' });
    const row = await engine.finished(id);
    expect(row).toMatchObject({ status: 'bounced', failure_reason: 'all_channels_failed', attempt_count: 1, last_error_code: '550', last_error_category: 'permanent' });
    expect(await attemptTrail(engine, id)).toEqual([
      ['created', null, null, null],
      ['status_changed', 1, 'email', null],
      ['attempt_started', 1, 'email', null],
      ['attempt_failed', 1, 'email', 'fallback'],
      ['fallback', 1, 'email', null],
    ]);
  });

  it('auth_failure: opens the breaker; while open no call is made, and a message on its last channel waits for the probe instead of failing', async () => {
    await engine.fault('email', { errorCode: 535 });
    const first = await engine.send({ email: 'ken@example.com' });
    expect(await engine.finished(first)).toMatchObject({ status: 'failed', last_error_code: '535', last_error_category: 'auth_failure', attempt_count: 1 });
    expect(engine.breakers.state('smtp')).toBe('open');

    // While open: no SMTP call at all. Email is this client's only channel, so there is nothing to
    // fall back to: the message waits at least the breaker's reset time (1.5 s here), spending an
    // attempt, and goes once the breaker lets a probe through.
    await fetch(`${engine.sandbox.httpUrl}/admin/faults/email`, { method: 'DELETE' });
    const received = (await engine.sandbox.mailbox.list({})).length;
    const second = await engine.send({ email: 'dennis@example.com' });
    const waited = await waitFor(async () => (await CommunicationRepository.listLogs(engine.t.db, second)).find((l) => l.event === 'attempt_failed'), { message: 'the breaker_open failure' });
    expect(waited).toMatchObject({ error_code: 'breaker_open', attempt: 1, detail: { action: 'retry' } });
    expect((waited.detail as { delayMs: number }).delayMs).toBeGreaterThanOrEqual(1_500);
    expect((await engine.sandbox.mailbox.list({})).length).toBe(received);
    expect(await engine.finished(second, 10_000)).toMatchObject({ status: 'sent', attempt_count: 2, channels_tried: ['email'] });
    expect(engine.breakers.state('smtp')).toBe('closed');
  });
});

describe('reconciler', () => {
  it('enqueues a row committed without its job (a crash between commit and enqueue)', async () => {
    const engine = await startTestEngine({ reconcilerIntervalMs: 100, reconcilerGraceMs: 0 });
    try {
      const id = await engine.send({ email: 'orphan@example.com', skipEnqueue: true });
      expect(await engine.finished(id)).toMatchObject({ status: 'sent' });
      expect(await engine.sandbox.mailbox.list({ communicationId: id })).toHaveLength(1);
    } finally {
      await engine.close();
    }
  });

  it.each([
    ['failed for good (e.g. the database was down for all its retries): retried', true],
    ['completed without moving the row on: replaced', false],
  ])('finds a job that %s, and the message still ends sent', async (_, fail) => {
    const engine = await startTestEngine({ reconcilerIntervalMs: 100, reconcilerGraceMs: 0, startWorkers: false });
    const connection = createRedisConnection({ url: readEnvironment().REDIS_URL || 'redis://127.0.0.1:6379', role: 'worker' });
    try {
      const id = await engine.send({ email: fail ? 'failed-job@example.com' : 'completed-job@example.com' });
      // A worker that gives up on (or skips) the job without touching the row.
      const broken = new Worker('crm.requests', async () => {
        if (fail) throw new UnrecoverableError('simulated: database unreachable');
      }, { connection, prefix: engine.prefix });
      const state = fail ? 'failed' : 'completed';
      await waitFor(async () => (await engine.producer.queue('crm.requests').getJobState(`${id}.request`)) === state, { message: `the job to be ${state}` });
      await broken.close();
      expect((await CommunicationRepository.findById(engine.t.db, id))?.status).toBe('pending');

      await engine.startWorkers();
      expect(await engine.finished(id)).toMatchObject({ status: 'sent' });
      expect(await engine.sandbox.mailbox.list({ communicationId: id })).toHaveLength(1);
    } finally {
      await connection.quit();
      await engine.close();
    }
  });

  describe('after Redis lost everything (FLUSHALL, and a restart with no data)', () => {
    let redis: PrivateRedis;
    let engine: TestEngine;
    beforeAll(async () => {
      redis = await startPrivateRedis();
      // Retries slow enough that the retrying row is still waiting for its next attempt when Redis is flushed.
      engine = await startTestEngine({
        redisUrl: redis.url, reconcilerIntervalMs: 200, reconcilerGraceMs: 0, startWorkers: false,
        retry: { baseDelayMs: 1_000, factor: 2, maxDelayMs: 1_000, maxAttempts: 3 },
      });
    });
    afterAll(async () => {
      await engine.close();
      await redis.stop();
    });

    it('every pending, queued and retrying row still ends sent, each exactly once', async () => {
      // One row waiting for a retry (its first attempt met a transient 451)...
      await engine.fault('email', { errorCode: 451 });
      await engine.startWorkers();
      const retrying = await engine.send({ email: 'retrying@example.com' });
      await waitFor(async () => (await CommunicationRepository.listLogs(engine.t.db, retrying)).some((l) => l.event === 'attempt_failed'), { message: 'a retry to be scheduled' });
      await engine.stopWorkers();
      // ...rows whose jobs wait with no worker running, then Redis loses every job.
      const pending = await Promise.all(['p1', 'p2', 'p3'].map((name) => engine.send({ email: `${name}@example.com` })));
      expect((await CommunicationRepository.findById(engine.t.db, retrying))?.status).not.toMatch(/^(sent|failed)$/);
      await redis.redis.flushall();
      await fetch(`${engine.sandbox.httpUrl}/admin/faults/email`, { method: 'DELETE' });

      await engine.startWorkers();
      for (const id of [...pending, retrying]) {
        expect((await engine.finished(id)).status).toBe('sent');
        expect(await engine.sandbox.mailbox.list({ communicationId: id })).toHaveLength(1);
      }

      // A restart that comes back empty (no persistence), with work queued meanwhile.
      await engine.stopWorkers();
      const later = await Promise.all(['l1', 'l2'].map((name) => engine.send({ email: `${name}@example.com` })));
      await redis.restart({ hard: true });
      await engine.startWorkers();
      for (const id of later) {
        expect((await engine.finished(id, 20_000)).status).toBe('sent');
        expect(await engine.sandbox.mailbox.list({ communicationId: id })).toHaveLength(1);
      }
    }, 60_000);
  });

  it('runs in one process at a time (a PostgreSQL advisory lock elects the leader)', async () => {
    const engine = await startTestEngine({ startWorkers: false });
    const logger = createLogger({ service: 'reconciler-test', level: 'silent' });
    const a = startReconciler({ db: engine.t.db, producer: engine.producer, logger, intervalMs: 50 });
    const b = startReconciler({ db: engine.t.db, producer: engine.producer, logger, intervalMs: 50 });
    try {
      await waitFor(() => a.isLeader() || b.isLeader(), { message: 'a leader' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect([a.isLeader(), b.isLeader()].filter(Boolean)).toHaveLength(1);
      // The leader goes away: the other takes over.
      const [leader, other] = a.isLeader() ? [a, b] : [b, a];
      await leader.stop();
      await waitFor(() => other.isLeader(), { message: 'the other to take over' });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await engine.close();
    }
  });
});

describe('many messages at once (writes coalesced into multi-row statements)', () => {
  it('sends each of 300 concurrent messages exactly once, every one with its full log', async () => {
    const engine = await startTestEngine({ batchWindowMs: 5 });
    try {
      const ids = await Promise.all(Array.from({ length: 300 }, (_, i) => engine.send({ email: `load-${i}@example.com` })));
      for (const id of ids) expect((await engine.finished(id, 60_000)).status).toBe('sent');
      const perMessage = await engine.t.db
        .selectFrom('crm_delivery_logs')
        .select(({ fn }) => ['communication_id', fn.countAll<string>().as('logs')])
        .where('communication_id', 'in', ids)
        .groupBy('communication_id')
        .execute();
      expect(perMessage).toHaveLength(300);
      expect(new Set(perMessage.map((row) => Number(row.logs)))).toEqual(new Set([4]));
      expect(engine.sandbox.mailbox.list({ limit: 10_000 }).filter((m) => ids.includes(m.headers['x-crm-communication-id'] ?? ''))).toHaveLength(300);
    } finally {
      await engine.close();
    }
  }, 90_000);
});
