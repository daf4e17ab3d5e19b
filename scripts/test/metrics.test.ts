import { CommunicationRepository } from '@crm/db';
import { watchQueues } from '@crm/observability';
import { createTestApiKey, waitFor } from '@crm/testing';
import { startTestEngine, type TestEngine } from './support/engine';

// Issue 9 item 1, "Done when": a scrape of ingest's /metrics after a few messages shows each
// metric with the right values. This file's process runs one engine, so the registry holds
// only its numbers; still, every check compares a scrape before with one after.
let engine: TestEngine;
let unwatch: () => void;
beforeAll(async () => {
  engine = await startTestEngine({ messaging: true, webhooks: { callbackDelayMs: 10 }, deliverableChannels: ['email', 'sms', 'whatsapp'] });
  // As createRuntime does with its producer in the services.
  unwatch = watchQueues(engine.producer.allQueues());
});
afterAll(async () => {
  unwatch?.();
  await engine?.close();
});

const scrape = async (): Promise<string> => {
  const response = await fetch(`${engine.ingestUrl}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
};

/** The value of one sample of a scrape (0 when it is absent), labels given in any order. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.keys(present).length !== Object.keys(labels).length) continue;
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[3]);
  }
  return 0;
}

const delta = (before: string, after: string, name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);

const reachStatus = (id: string, wanted: string) =>
  waitFor(async () => {
    const row = await CommunicationRepository.findById(engine.t.db, id);
    return row?.status === wanted ? row : undefined;
  }, { timeoutMs: 15_000, message: `communication ${id} to be ${wanted}` });

/** Scrapes until `check` holds for the scrape (counters move just after the row does). */
const scrapeUntil = (check: (text: string) => boolean, message: string) =>
  waitFor(async () => {
    const text = await scrape();
    return check(text) ? text : undefined;
  }, { timeoutMs: 10_000, message });

describe('ingest /metrics after a few messages', () => {
  it('counts an email sent: each status change, the time to sent, the job durations', async () => {
    const before = await scrape();
    const id = await engine.send({ email: 'metrics-ada@example.com', channel: 'email', messageType: 'reminder' });
    await reachStatus(id, 'sent');
    const labels = { channel: 'email', message_type: 'reminder' };
    const after = await scrapeUntil((text) => delta(before, text, 'crm_communications_total', { ...labels, status: 'sent' }) === 1, 'the sent email to be counted');
    expect(['queued', 'sending', 'sent'].map((status) => delta(before, after, 'crm_communications_total', { ...labels, status }))).toEqual([1, 1, 1]);
    expect(delta(before, after, 'crm_delivery_time_seconds_count', { channel: 'email', stage: 'sent' })).toBe(1);
    const seconds = delta(before, after, 'crm_delivery_time_seconds_sum', { channel: 'email', stage: 'sent' });
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(15);
    // Within the 1 h bucket, by definition of the buckets; and one strategy and one email job ran.
    expect(delta(before, after, 'crm_delivery_time_seconds_bucket', { channel: 'email', stage: 'sent', le: '3600' })).toBe(1);
    expect(delta(before, after, 'crm_job_duration_seconds_count', { queue: 'crm.email', outcome: 'completed' })).toBe(1);
    expect(delta(before, after, 'crm_job_duration_seconds_count', { queue: 'crm.requests', outcome: 'completed' })).toBe(1);
    // No contact detail or id in any label.
    expect(after).not.toContain('metrics-ada');
    expect(after).not.toContain(id);
  });

  it('counts an SMS delivered through the sandbox\'s signed callbacks, with the time to delivered', async () => {
    const before = await scrape();
    const id = await engine.send({ phone: '+14155550199', channel: 'sms', messageType: 'budget_summary', variables: { clientName: 'Ada', total: 18500, currency: 'EUR' } });
    await reachStatus(id, 'delivered');
    const labels = { channel: 'sms', message_type: 'budget_summary' };
    const after = await scrapeUntil((text) => delta(before, text, 'crm_communications_total', { ...labels, status: 'delivered' }) === 1, 'the delivered SMS to be counted');
    expect(['queued', 'sending', 'sent', 'delivered'].map((status) => delta(before, after, 'crm_communications_total', { ...labels, status }))).toEqual([1, 1, 1, 1]);
    expect(delta(before, after, 'crm_delivery_time_seconds_count', { channel: 'sms', stage: 'sent' })).toBe(1);
    expect(delta(before, after, 'crm_delivery_time_seconds_count', { channel: 'sms', stage: 'delivered' })).toBe(1);
    // Delivered after sent: the histogram's sums say so.
    expect(delta(before, after, 'crm_delivery_time_seconds_sum', { channel: 'sms', stage: 'delivered' })).toBeGreaterThanOrEqual(
      delta(before, after, 'crm_delivery_time_seconds_sum', { channel: 'sms', stage: 'sent' }),
    );
    expect(delta(before, after, 'crm_job_duration_seconds_count', { queue: 'crm.messaging', outcome: 'completed' })).toBe(1);
    expect(after).not.toContain('4155550199');
  });

  it('counts a provider error by provider, category and code, and the message that bounced', async () => {
    await engine.fault('email', { errorCode: 550 });
    try {
      const before = await scrape();
      const id = await engine.send({ email: 'metrics-bounce@example.com', channel: 'email', messageType: 'reminder' });
      await reachStatus(id, 'bounced');
      const after = await scrapeUntil((text) => delta(before, text, 'crm_communications_total', { channel: 'email', message_type: 'reminder', status: 'bounced' }) === 1, 'the bounce to be counted');
      expect(delta(before, after, 'crm_api_errors_total', { provider: 'smtp', category: 'permanent', code: '550' })).toBe(1);
      // sending → queued (awaiting the fallback) → bounced; never sent.
      expect(delta(before, after, 'crm_communications_total', { channel: 'email', message_type: 'reminder', status: 'sent' })).toBe(0);
      expect(delta(before, after, 'crm_communications_total', { channel: 'email', message_type: 'reminder', status: 'queued' })).toBe(2);
      expect(delta(before, after, 'crm_job_duration_seconds_count', { queue: 'crm.fallback', outcome: 'completed' })).toBe(1);
    } finally {
      await engine.fault('email', { errorCode: null });
    }
  });

  it('counts a request accepted over HTTP as pending (no channel yet) and its cancellation', async () => {
    const { headers } = await createTestApiKey(engine.t.db, 'metrics');
    const before = await scrape();
    // Far in the future: the strategy schedules it, and it can still be cancelled.
    const accepted = await fetch(`${engine.ingestUrl}/api/crm/communications`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({
        clientId: 'metrics-http-client', planId: 'plan-7', messageType: 'reminder', channel: 'email', sendAt: '2099-01-01T09:00:00Z',
        variables: { clientName: 'Ada', eventName: 'Summer gala', reminderText: 'Please confirm the guest list.', dueDate: '2026-12-01' },
        recipient: { email: 'metrics-http@example.com' },
      }),
    });
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    await reachStatus(id, 'scheduled');
    const cancelled = await fetch(`${engine.ingestUrl}/api/crm/communications/${id}/cancel`, { method: 'POST', headers });
    expect(cancelled.status).toBe(200);
    const after = await scrape();
    expect(delta(before, after, 'crm_communications_total', { channel: 'none', message_type: 'reminder', status: 'pending' })).toBe(1);
    expect(delta(before, after, 'crm_communications_total', { channel: 'none', message_type: 'reminder', status: 'scheduled' })).toBe(1);
    expect(delta(before, after, 'crm_communications_total', { channel: 'none', message_type: 'reminder', status: 'cancelled' })).toBe(1);
  });

  it('reports the queues\' job counts at scrape time, as BullMQ counts them', async () => {
    await engine.producer.enqueue('crm.digest', { clientId: 'metrics-digest-client', windowId: 'metrics-window' }, { delay: 3_600_000 });
    const text = await scrape();
    const counts = await engine.producer.queue('crm.events').getJobCounts('waiting', 'active', 'delayed', 'failed');
    expect(sample(text, 'crm_queue_jobs', { queue: 'crm.digest', state: 'delayed' })).toBe(1);
    // Nobody consumes crm.events in this engine: the delivery events wait there.
    expect(counts.waiting).toBeGreaterThan(0);
    expect(sample(text, 'crm_queue_jobs', { queue: 'crm.events', state: 'waiting' })).toBe(counts.waiting);
    for (const state of ['waiting', 'active', 'delayed', 'failed']) expect(text).toMatch(new RegExp(`crm_queue_jobs\\{queue="crm\\.email",state="${state}"\\} \\d+`));
  });

  it('reports each breaker\'s state: 2 once a provider\'s breaker opens', async () => {
    expect(sample(await scrape(), 'crm_breaker_state', { provider: 'smtp' })).toBe(0);
    engine.breakers.trip('twilio');
    expect(sample(await scrape(), 'crm_breaker_state', { provider: 'twilio' })).toBe(2);
  });

  it('declares the open-rate gauge (set by the analytics worker) and the default process metrics', async () => {
    const text = await scrape();
    expect(text).toContain('# TYPE crm_open_rate gauge');
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(text).toContain('# TYPE nodejs_heap_size_used_bytes gauge');
  });
});
