import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { readEnvironment } from '@crm/config';
import { CommunicationRepository } from '@crm/db';
import { waitFor } from '@crm/testing';
import { startTestEngine, testKeys, type TestEngine } from './support/engine';

// The email worker as a separate process, killed the hard way (SIGKILL) in the middle of a
// send, and stopped the polite way (SIGTERM) with sends in flight.
const root = join(__dirname, '..', '..');
let engine: TestEngine;

beforeAll(async () => {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'services/email-worker'], { cwd: root, stdio: 'inherit' });
  engine = await startTestEngine({ inProcessEmail: false });
}, 180_000);
afterAll(() => engine.close());
afterEach(() => fetch(`${engine.sandbox.httpUrl}/admin/faults`, { method: 'DELETE' }));

interface Worker {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

async function startEmailWorkerProcess(): Promise<Worker> {
  const env = readEnvironment();
  const child = spawn(process.execPath, ['services/email-worker/dist/main.js'], {
    cwd: root,
    env: {
      PATH: env.PATH ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: engine.t.url,
      REDIS_URL: env.REDIS_URL || 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: engine.prefix,
      DB_ENCRYPTION_KEY: testKeys.encryptionKey,
      BLIND_INDEX_KEY: testKeys.blindIndexKey,
      SMTP_HOST: engine.sandbox.host,
      SMTP_PORT: String(engine.sandbox.smtpPort),
      QUEUE_LOCK_DURATION_MS: '2000',
      RETRY_BASE_DELAY_MS: '20',
      RETRY_MAX_DELAY_MS: '200',
    },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  await waitFor(() => output.includes('"msg":"started"'), { timeoutMs: 20_000, message: `the email worker to start:\n${output}` });
  return { child, exited, output: () => output };
}

const statusOf = async (id: string) => (await CommunicationRepository.findById(engine.t.db, id))?.status;

it('SIGKILLed during the provider call: the message still ends sent, and the sandbox received it exactly once', async () => {
  // The sandbox holds its final answer for 4 s: the worker dies while waiting for it.
  await engine.fault('email', { latencyMs: 4_000 });
  const first = await startEmailWorkerProcess();
  const id = await engine.send({ email: 'killed@example.com' });
  await waitFor(async () => (await statusOf(id)) === 'sending', { message: 'the send to start' });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  first.child.kill('SIGKILL');
  expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
  await fetch(`${engine.sandbox.httpUrl}/admin/faults/email`, { method: 'DELETE' });

  // Another worker takes the job over once its lock has expired (BullMQ's stalled-job check).
  const second = await startEmailWorkerProcess();
  try {
    expect(await engine.finished(id, 30_000)).toMatchObject({ status: 'sent', attempt_count: 1 });
    expect(await engine.sandbox.mailbox.list({ communicationId: id })).toHaveLength(1);
    const logs = await CommunicationRepository.listLogs(engine.t.db, id);
    expect(logs.filter((l) => l.event === 'attempt_started').map((l) => [l.attempt, l.from_status])).toEqual([[1, 'queued'], [1, 'sending']]);
    expect(logs.at(-1)).toMatchObject({ event: 'attempt_succeeded', detail: expect.objectContaining({ resumed: true }) });
    const stats = (await (await fetch(`${engine.sandbox.httpUrl}/smtp/stats`)).json()) as { dropped: number };
    expect(stats.dropped).toBeGreaterThanOrEqual(1);
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
  }
}, 60_000);

it('SIGTERM: finishes the sends in flight, exits 0 and leaves no job locked', async () => {
  await engine.fault('email', { latencyMs: 1_500 });
  const worker = await startEmailWorkerProcess();
  const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => engine.send({ email: `drain-${i}@example.com` })));
  await waitFor(async () => (await Promise.all(ids.map(statusOf))).filter((s) => s === 'sending').length >= 3, { message: 'sends in flight' });
  worker.child.kill('SIGTERM');
  expect(await worker.exited).toEqual({ code: 0, signal: null });

  const queue = engine.producer.queue('crm.email');
  expect(await queue.getActiveCount()).toBe(0);
  const redis = new Redis(readEnvironment().REDIS_URL || 'redis://127.0.0.1:6379');
  try {
    expect(await redis.keys(`${engine.prefix}:crm.email:*:lock`)).toEqual([]);
  } finally {
    redis.disconnect();
  }
  const statuses = await Promise.all(ids.map(statusOf));
  expect(statuses).not.toContain('sending');

  await fetch(`${engine.sandbox.httpUrl}/admin/faults/email`, { method: 'DELETE' });
  const next = await startEmailWorkerProcess();
  try {
    for (const id of ids) {
      expect((await engine.finished(id, 20_000)).status).toBe('sent');
      expect(await engine.sandbox.mailbox.list({ communicationId: id })).toHaveLength(1);
    }
  } finally {
    next.child.kill('SIGTERM');
    await next.exited;
  }
}, 60_000);
