import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { loadConfig, readEnvironment } from '@crm/config';
import { CommunicationRepository, queueOnFirstChannelMany, upsertClientContacts, type CommunicationRow } from '@crm/db';
import { createLogger } from '@crm/observability';
import { createTwilioClient } from '@crm/providers';
import { createRedisConnection, QueueProducer, waitForRedis } from '@crm/queue';
import { strategySettingsOf } from '@crm/runtime';
import { startSandbox, type Sandbox } from '@crm/sandbox';
import { startReconciler, startStrategyWorker, type StrategyWorker } from '@crm/strategy-worker';
import { busiestWindow, createTestDatabase, createTestRedis, testEnvironment, testPiiKeys, waitFor, type TestDatabase, type TestRedis } from '@crm/testing';

// Provider rate limits with several messaging workers at once: three messaging-worker
// processes (`node services/messaging-worker/dist/main.js`, as production starts them, each with
// concurrency 10 and connections of its own), configured by environment only, against the real
// PostgreSQL and Redis and the sandbox's Twilio and WhatsApp stand-ins in this process. What is
// measured is when each message arrived at the sandbox, as a provider counts it.

const root = join(__dirname, '..', '..', '..');
const logger = createLogger({ service: 'rate-limit-test', level: 'silent' });
const keys = testPiiKeys;
const limits = { TWILIO_RATE_LIMIT: '20/1s', WHATSAPP_RECIPIENT_RATE_LIMIT: '1/2s', RATE_LIMIT_MAX_WAIT_MS: '1000' };
const config = loadConfig(testEnvironment(limits));
const WORKERS = 3;
const CONCURRENCY = 10;
const MESSAGES = 120;
/** How much later than its slot an arrival may be stamped by the busy test machine (see its use). */
const ARRIVAL_JITTER_MS = 100;


interface WorkerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<unknown>;
  output(): string;
}

describe('provider rate limits across messaging-worker processes', () => {
  let t: TestDatabase;
  let r: TestRedis;
  let sandbox: Sandbox;
  let producerConnection: Redis;
  let strategyConnection: Redis;
  let producer: QueueProducer;
  let strategy: StrategyWorker;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    // The workers run from dist/ (an incremental build, quick when up to date).
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'services/messaging-worker'], { cwd: root, stdio: 'inherit' });
    [t, r, sandbox] = await Promise.all([createTestDatabase(), createTestRedis(), startSandbox({ logger, smtpPort: 0, httpPort: 0 })]);
    producerConnection = createRedisConnection({ url: r.url, role: 'producer' });
    await waitForRedis(producerConnection);
    producer = new QueueProducer({ connection: producerConnection, prefix: r.prefix });
    strategyConnection = createRedisConnection({ url: r.url, role: 'worker' });
    strategy = startStrategyWorker({
      db: t.db, producer, logger, settings: strategySettingsOf(config), connection: strategyConnection, prefix: r.prefix, reconcilerIntervalMs: null, batchWindowMs: 2,
    });
    await strategy.ready();
    // The sandbox's first request pays for compiling its route: not part of any measurement.
    await createTwilioClient({ ...config.twilio, baseUrl: `${sandbox.httpUrl}/twilio` }).send({ to: '+14155550000', body: 'warm-up' });
  }, 180_000);

  afterAll(async () => {
    for (const worker of workers) worker.child.kill('SIGTERM');
    await Promise.all(workers.map((worker) => worker.exited));
    await strategy?.close();
    await producer?.close();
    for (const connection of [producerConnection, strategyConnection]) await connection?.quit().catch(() => undefined);
    await sandbox?.stop();
    await t?.destroy();
    await r?.destroy();
  }, 60_000);

  /** Starts the three worker processes (once) and waits until each says it started. */
  async function startWorkers(): Promise<void> {
    if (workers.length > 0) return;
    const env = readEnvironment();
    for (let i = 0; i < WORKERS; i++) {
      const child = spawn(process.execPath, ['services/messaging-worker/dist/main.js'], {
        cwd: root,
        env: {
          ...testEnvironment(limits),
          PATH: env.PATH ?? '',
          LOG_LEVEL: 'debug',
          DATABASE_URL: t.url,
          QUEUE_PREFIX: r.prefix,
          DB_ENCRYPTION_KEY: keys.encryptionKey,
          BLIND_INDEX_KEY: keys.blindIndexKey,
          TWILIO_BASE_URL: `${sandbox.httpUrl}/twilio`,
          WHATSAPP_BASE_URL: `${sandbox.httpUrl}/whatsapp`,
          WORKER_CONCURRENCY: String(CONCURRENCY),
        },
      });
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise((resolve) => child.on('exit', resolve));
      workers.push({ child, exited, output: () => output });
    }
    await Promise.all(workers.map((worker, i) => waitFor(() => worker.output().includes('"msg":"started"'), { timeoutMs: 30_000, message: `messaging worker ${i} to start:\n${worker.output()}` })));
  }

  /** Stores one request per client (new clients, each with a phone number) and returns the ids. */
  async function store(clients: readonly { clientId: string; phone: string }[], channel: 'sms' | 'whatsapp', perClient = 1): Promise<string[]> {
    await upsertClientContacts(t.db, keys, clients.map(({ clientId, phone }) => ({ clientId, phone })));
    const ids: string[] = [];
    for (const { clientId } of clients) {
      for (let n = 0; n < perClient; n++) {
        const { communication } = await CommunicationRepository.save(t.db, {
          clientId, planId: 'plan-rl', messageType: 'reminder', urgency: 'normal', requestedChannel: channel, sendAt: null,
          variables: { clientName: 'Ada', n }, metadata: {}, idempotencyKey: null, requestHash: null,
        });
        ids.push(communication.id);
      }
    }
    return ids;
  }

  const rowsOf = (ids: readonly string[]): Promise<CommunicationRow[]> => Promise.all(ids.map(async (id) => (await CommunicationRepository.findById(t.db, id))!));

  /** How many of `ids` have one of `statuses`, in one query. */
  const countIn = async (ids: readonly string[], statuses: readonly CommunicationRow['status'][]): Promise<number> => {
    const { count } = await t.db.selectFrom('crm_communications').select((eb) => eb.fn.countAll<string>().as('count'))
      .where('id', 'in', ids).where('status', 'in', statuses).executeTakeFirstOrThrow();
    return Number(count);
  };

  it(`keeps ${WORKERS} workers x ${CONCURRENCY} under TWILIO_RATE_LIMIT=20/1s at the provider, uses most of it (the share is printed), and spends no attempt on the waits`, async () => {
    const messaging = producer.queue('crm.messaging');
    await startWorkers();
    // Warm-up, not measured: a freshly started process runs its first sends late and unevenly
    // (code not yet compiled, connections not yet open) for about a second.
    const warmUp = await store(Array.from({ length: 40 }, (_, i) => ({ clientId: `warm-client-${i}`, phone: `+1415556${String(1000 + i).padStart(4, '0')}` })), 'sms');
    await producer.enqueueMany('crm.requests', warmUp.map((communicationId) => ({ communicationId })));
    await waitFor(async () => (await countIn(warmUp, ['sent'])) === warmUp.length, { timeoutMs: 20_000, intervalMs: 250, message: 'the warm-up SMS sent' });

    // The backlog: every message decided and its job there before the workers take any (the
    // queue is paused meanwhile), so that the strategy's work is not measured with theirs.
    await messaging.pause();
    const clients = Array.from({ length: MESSAGES }, (_, i) => ({ clientId: `sms-client-${i}`, phone: `+1415555${String(1000 + i).padStart(4, '0')}` }));
    const ids = await store(clients, 'sms');
    await producer.enqueueMany('crm.requests', ids.map((communicationId) => ({ communicationId })));
    await waitFor(async () => (await messaging.getJobCounts('paused')).paused === MESSAGES, { timeoutMs: 20_000, message: 'the messaging jobs of the backlog' });
    const logFrom = workers.map((worker) => worker.output().length);
    await messaging.resume();

    // While work waits: some jobs postponed (delayed). The reconciler, looking at every in-flight
    // row at once (no grace period), must see those jobs and add none.
    await waitFor(async () => ((await messaging.getJobCounts('delayed')).delayed ?? 0) > 0, { timeoutMs: 15_000, message: 'postponed messaging jobs' });
    const reconciler = startReconciler({ db: t.db, producer, logger, intervalMs: 3_600_000, graceMs: 0 });
    const pass = await reconciler.runOnce();
    await reconciler.stop();
    expect(pass.checked).toBeGreaterThan(0);
    expect({ enqueued: pass.enqueued, retried: pass.retried, replaced: pass.replaced }).toEqual({ enqueued: 0, retried: 0, replaced: 0 });

    await waitFor(async () => (await countIn(ids, ['sent'])) === ids.length, { timeoutMs: 40_000, intervalMs: 250, message: 'every SMS sent' });

    // Nothing spent on the waits: not on the rows, not on the jobs; nothing failed.
    for (const row of await rowsOf(ids)) {
      expect(row).toMatchObject({ status: 'sent', channel: 'sms', attempt_count: 1, channel_attempts: 1, rate_limit_waits: 0, last_error_code: null });
    }
    const logs = (await Promise.all(ids.map((id) => CommunicationRepository.listLogs(t.db, id)))).flat();
    expect(logs.filter((log) => log.event === 'attempt_failed')).toEqual([]);
    expect(logs.filter((log) => log.event === 'attempt_started')).toHaveLength(MESSAGES);
    const jobs = await Promise.all(ids.map((id) => messaging.getJob(`${id}.sms.1`)));
    for (const [index, job] of jobs.entries()) {
      expect(job?.data).toMatchObject({ communicationId: ids[index], clientId: clients[index]!.clientId });
      expect(job?.attemptsMade).toBe(1);
      expect(job?.failedReason).toBeFalsy();
    }
    const postponed = jobs.filter((job) => (job?.attemptsStarted ?? 0) > 1).length;
    expect(postponed).toBeGreaterThan(0);
    expect((await messaging.getJobCounts('failed')).failed).toBe(0);

    // The rate at the provider: arrival times at the sandbox.
    const ours = new Set(ids);
    const arrivals = sandbox.sms.list().filter((sms) => ours.has(sms.communicationId ?? '')).map((sms) => Date.parse(sms.receivedAt)).sort((a, b) => a - b);
    expect(arrivals).toHaveLength(MESSAGES);
    const spanMs = arrivals.at(-1)! - arrivals[0]!;
    // Busy-period throughput: messages after the first, over the time from the first to the last.
    const throughput = ((MESSAGES - 1) / spanMs) * 1_000;
    const busiest = busiestWindow(arrivals, 1_000);
    // 21 arrivals within less than 1000 ms would break the limit: the closest 21 show the headroom.
    const closest21 = Math.min(...arrivals.slice(20).map((at, i) => at - arrivals[i]!));
    const gaps = arrivals.slice(1).map((at, i) => at - arrivals[i]!).sort((a, b) => a - b);
    // From the workers' debug logs of this phase: how often a job was postponed, and how often a
    // call, late for its slot, traded it for the next one.
    const phaseLogs = workers.map((worker, i) => worker.output().slice(logFrom[i])).join('');
    const postponements = phaseLogs.split('over the rate limit: job postponed').length - 1;
    const traded = phaseLogs.split('too late for its rate-limit slot').length - 1;
    // The slot each call was made at (Redis's clock) and how late it left, from the same logs.
    const called = new Map(phaseLogs.split('\n').filter((line) => line.includes('rate-limit slot reached')).map((line) => {
      const record = JSON.parse(line) as { communicationId: string; slotAtMs: number; lateMs: number };
      return [record.communicationId, record] as const;
    }));
    const slots = ids.map((id) => called.get(id)?.slotAtMs ?? Number.NaN).sort((a, b) => a - b);
    const lateness = ids.map((id) => called.get(id)?.lateMs ?? Number.NaN);
    console.log(
      `rate limit, ${WORKERS} worker processes x ${CONCURRENCY}, TWILIO_RATE_LIMIT=20/1s, ${MESSAGES} SMS to distinct clients, at the sandbox: ` +
        `busiest 1000 ms window ${busiest} (closest 21 arrivals span ${closest21} ms); ${MESSAGES} arrived over ${spanMs} ms: ` +
        `${throughput.toFixed(2)}/s = ${((throughput / 20) * 100).toFixed(1)} % of 20/s; gaps min ${gaps[0]} ms, median ${gaps[gaps.length >> 1]} ms, max ${gaps.at(-1)} ms; ` +
        `${postponed} jobs postponed at least once (${postponements} postponements), ${traded} slots traded by late calls; 0 failed; attempt_count 1 each. ` +
        `Slots of the calls: busiest 1000 ms window ${busiestWindow(slots, 1_000)}, closest 21 span ${Math.min(...slots.slice(20).map((at, i) => at - slots[i]!)).toFixed(1)} ms; ` +
        `calls left ${Math.min(...lateness)}-${Math.max(...lateness)} ms after their slot`,
    );
    // What the engine decided: every call made at a slot, at most 20 slots in any 1000 ms, and
    // none left more than half the margin (15 ms) after its slot. Exact, whatever the machine's load.
    expect(slots.every(Number.isFinite)).toBe(true);
    expect(busiestWindow(slots, 1_000)).toBeLessThanOrEqual(20);
    expect(Math.max(...lateness)).toBeLessThanOrEqual(15);
    // What the provider saw. The slots are 1030 / 20 ms apart (DEFAULT_RATE_MARGIN_MS = 30), so
    // arrivals keep to 20 per 1000 ms as long as no call takes more than 30 ms longer from its
    // slot to the sandbox than the one 20 slots after it. Here three worker processes, the
    // sandbox (this process), PostgreSQL, Redis and another test file share two cores: a process
    // the OS does not run for a while delays its call by more (seen: up to ~55 ms, 21 arrivals
    // in 955 ms in a loaded CI run). So this allows 100 ms of such jitter (no 900 ms window may
    // hold more than 20); the strict 1000 ms figure is printed above.
    expect(busiestWindow(arrivals, 1_000 - ARRIVAL_JITTER_MS)).toBeLessThanOrEqual(20);
    // How much of the rate was used while work waited. The limiter itself grants ≥ 95 % under
    // concurrent callers (asserted in packages/delivery/test/send-rate-limiter.test.ts: 98–100 %).
    // End to end it is 95.3–97.3 % on an idle machine, but on two cores shared with the whole
    // suite a worker the OS leaves waiting misses its slot and trades it (leaving a gap): 94.7 %
    // and 91.4 % (11 slots traded) were seen. So the figure is printed above and only a clear
    // loss (under 80 %) fails here.
    const slotSpanMs = slots.at(-1)! - slots[0]!;
    expect(((MESSAGES - 1) / slotSpanMs) * 1_000).toBeGreaterThanOrEqual(0.8 * 20);
    expect(throughput).toBeGreaterThanOrEqual(0.8 * 20);
  }, 120_000);

  it('spaces WhatsApp messages to one client by WHATSAPP_RECIPIENT_RATE_LIMIT=1/2s, also for jobs that do not carry the client id', async () => {
    await startWorkers();
    const ids = await store([{ clientId: 'wa-client-1', phone: '+14155559876' }], 'whatsapp', 3);
    // Queued as the strategy queues them, but with jobs as an older strategy worker added them:
    // without `clientId`, which the worker then reads from the row.
    await queueOnFirstChannelMany(t.db, ids.map((id) => ({ id, channel: 'whatsapp' as const, plan: ['whatsapp' as const], reason: 'test' })));
    await producer.enqueueMany('crm.messaging', ids.map((communicationId) => ({ communicationId, channel: 'whatsapp' as const, attempt: 1 })));

    await waitFor(async () => (await countIn(ids, ['sent'])) === ids.length, { timeoutMs: 20_000, intervalMs: 250, message: 'the three WhatsApp messages sent' });
    const arrivals = ids.map((id) => Date.parse(sandbox.whatsapp.list({ communicationId: id })[0]!.receivedAt)).sort((a, b) => a - b);
    const gaps = arrivals.slice(1).map((at, i) => at - arrivals[i]!);
    console.log(`rate limit, WhatsApp 3 messages to one client at 1/2s: gaps at the sandbox ${gaps.join(' ms, ')} ms`);
    // The slots are 2,030 ms apart; at the sandbox a loaded machine may shift one call against the
    // next by more than the 30 ms margin (1,995 ms seen in a full CI run), hence the allowance.
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(2_000 - ARRIVAL_JITTER_MS);
    for (const row of await rowsOf(ids)) expect(row).toMatchObject({ status: 'sent', attempt_count: 1, channel_attempts: 1 });
    const jobs = await Promise.all(ids.map((id) => producer.queue('crm.messaging').getJob(`${id}.whatsapp.1`)));
    expect(jobs.map((job) => job?.attemptsMade)).toEqual([1, 1, 1]);
    // Two of the three had their slot more than RATE_LIMIT_MAX_WAIT_MS away: postponed, then run again.
    expect(jobs.filter((job) => (job?.attemptsStarted ?? 0) > 1).length).toBeGreaterThanOrEqual(2);
    expect((await producer.queue('crm.messaging').getJobCounts('failed')).failed).toBe(0);
  }, 40_000);
});
