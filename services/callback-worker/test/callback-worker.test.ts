import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { CommunicationStatus, MessageType } from '@crm/core';
import {
  createCallbackSubscription,
  deleteCallbackSubscription,
  dispatchCallbackEvents,
  listCallbackSubscriptions,
  recordInbound,
  saveCommunication,
  updateCommunicationStatus,
  upsertClientContact,
  type CallbackEventType,
} from '@crm/db';
import { verifyCrmEvent } from '@crm/client';
import { createLogger } from '@crm/observability';
import { createRedisConnection } from '@crm/queue';
import { testDatabasePerFile, testPiiKeys, testProducerPerFile, waitFor } from '@crm/testing';
import { signCallback, startCallbackWorker, type CallbackWorker } from '@crm/callback-worker';

const t = testDatabasePerFile();
const q = testProducerPerFile();
const keys = testPiiKeys;
const logger = createLogger({ service: 'callback-worker-test', level: 'silent' });
const MAX_ATTEMPTS = 3;

/** What the receiver got: one POST. */
interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  readonly at: number;
}
interface EventBody {
  id: string;
  type: CallbackEventType;
  createdAt: string;
  data: Record<string, unknown>;
}

let server: Server;
let baseUrl: string;
const received: Received[] = [];
/** Answers by path: `/flaky/<n>` fails twice then succeeds (per event id), `/down` always 500, anything else 200. */
const failuresByEvent = new Map<string, number>();
let connection: Redis;
let worker: CallbackWorker;

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = request.url ?? '/';
      received.push({ path, headers: request.headers, raw, at: Date.now() });
      let status = 200;
      if (path.startsWith('/down')) status = 500;
      if (path.startsWith('/flaky')) {
        const eventId = String(request.headers['crm-event-id']);
        const failures = failuresByEvent.get(eventId) ?? 0;
        if (failures < 2) {
          failuresByEvent.set(eventId, failures + 1);
          status = 500;
        }
      }
      response.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  connection = createRedisConnection({ url: q.r.url, role: 'worker' });
  worker = startCallbackWorker({
    db: t.db, keys, logger, connection, prefix: q.r.prefix, maxAttempts: MAX_ATTEMPTS, backoffBaseMs: 20, backoffMaxMs: 200,
    dispatchIntervalMs: 50, reconcileIntervalMs: null, timeoutMs: 2_000,
  });
  await worker.ready();
});
afterAll(async () => {
  await worker.close();
  await connection.quit();
  await new Promise((resolve) => server.close(resolve));
});

const secret = 'whsec_test-secret-0123456789abcdefghij';
const subscribe = (path: string, events: readonly CallbackEventType[] = ['communication.sent', 'communication.delivered', 'communication.failed', 'communication.responded', 'client.replied']) =>
  createCallbackSubscription(t.db, keys, { url: `${baseUrl}${path}`, events, secret });

let serial = 0;
/** A new communication walked along `path` (from `pending`). */
async function communication(path: CommunicationStatus[], messageType: MessageType = 'reminder', clientId = 'cb-client', variables: Record<string, unknown> = {}): Promise<string> {
  serial += 1;
  const { communication: row } = await saveCommunication(t.db, {
    clientId, planId: 'cb-plan', messageType, urgency: 'normal', requestedChannel: null, sendAt: null,
    variables: variables as never, metadata: { workflowRunId: `run-${serial}` }, idempotencyKey: null, requestHash: null,
  });
  for (const to of path) {
    const result = await updateCommunicationStatus(t.db, { id: row.id, to, ...(to === 'queued' && { channel: 'sms' as const }) });
    expect([to, result.applied]).toEqual([to, true]);
  }
  return row.id;
}

const bodyOf = (r: Received) => JSON.parse(r.raw) as EventBody;
const at = (path: string) => received.filter((r) => r.path === path);

/** Checks the signature as a receiver would: HMAC-SHA256(secret, `${t}.${raw}`), constant-time, within 300 s. */
function verify(r: Received): boolean {
  const header = String(r.headers['crm-signature']);
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!match) return false;
  const [, ts, v1] = match as unknown as [string, string, string];
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${ts}.${r.raw}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex'));
}

const deliveriesOf = (subscriptionId: string) =>
  t.db.selectFrom('crm_callback_deliveries').selectAll().where('subscription_id', '=', subscriptionId).orderBy('created_at').execute();

describe('signCallback', () => {
  it('signs `${t}.${body}` with HMAC-SHA256 in hex', () => {
    const expected = createHmac('sha256', 'whsec_x').update('1790000000.{"a":1}').digest('hex');
    expect(signCallback('whsec_x', '{"a":1}', 1_790_000_000)).toBe(`t=1790000000,v1=${expected}`);
  });
});

describe('callback worker', () => {
  // Each test's subscriptions end with it (a failed test would otherwise leave them listening).
  afterEach(async () => {
    for (const sub of await listCallbackSubscriptions(t.db)) await deleteCallbackSubscription(t.db, sub.id);
  });

  it('POSTs a status change and a client reply as signed events with stable ids, carrying no personal data in jobs', async () => {
    const sub = await subscribe('/ok');
    const phone = '+14155550142';
    await upsertClientContact(t.db, keys, { clientId: 'cb-replier', phone });
    const asked = await communication(['queued', 'sending', 'sent'], 'vendor_options', 'cb-replier', { vendors: ['A', 'B', 'C'] });
    const delivered = await communication(['queued', 'sending', 'sent', 'delivered']);
    const reply = await recordInbound(t.db, keys, {
      provider: 'twilio', providerMessageId: 'SMcb0001', channel: 'sms', from: phone, text: 'Option 2 please', receivedAt: new Date(), replyWindowMs: 86_400_000,
    });
    expect(reply).toMatchObject({ outcome: 'recorded', communicationId: asked, responded: true });
    const inboundId = reply.outcome === 'recorded' ? reply.inboundId : '';

    // sent (asked), sent + delivered (delivered), responded (asked), client.replied.
    await waitFor(() => at('/ok').length >= 5 && at('/ok').length, { message: 'five events' });
    const events = at('/ok');
    for (const r of events) {
      expect(verify(r)).toBe(true);
      // The SDK's check (the contract receivers use) agrees.
      expect(verifyCrmEvent({ secret, body: r.raw, signature: r.headers['crm-signature'] }).id).toBe(bodyOf(r).id);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['user-agent']).toBe('crm-engine-callbacks/1');
      const body = bodyOf(r);
      expect(r.headers['crm-event-id']).toBe(body.id);
      expect(r.headers['crm-event-type']).toBe(body.type);
      expect(body.id).toMatch(/^evt_[0-9a-f]{32}$/);
      expect(new Date(body.createdAt).toISOString()).toBe(body.createdAt);
    }
    const bodies = events.map(bodyOf);
    const of = (type: CallbackEventType, communicationId: string) => bodies.filter((b) => b.type === type && b.data.communicationId === communicationId);
    expect(of('communication.sent', asked)).toHaveLength(1);
    expect(of('communication.responded', asked)).toHaveLength(1);
    expect(of('communication.sent', delivered)).toHaveLength(1);
    expect(of('communication.delivered', delivered)[0]?.data).toEqual({
      communicationId: delivered, clientId: 'cb-client', planId: 'cb-plan', messageType: 'reminder', status: 'delivered', channel: 'sms',
      channelsTried: ['sms'], failureReason: null, metadata: { workflowRunId: expect.stringMatching(/^run-/) }, at: expect.any(String),
    });
    expect(of('client.replied', asked)[0]?.data).toEqual({
      inboundId, clientId: 'cb-replier', planId: 'cb-plan', communicationId: asked, channel: 'sms', text: 'Option 2 please', selection: 2, at: expect.any(String),
    });
    expect(new Set(bodies.map((b) => b.id)).size).toBe(5);

    // Every delivery delivered after one attempt, each event id the one sent.
    const rows = await waitFor(async () => {
      const all = await deliveriesOf(sub.id);
      return all.length === 5 && all.every((row) => row.status === 'delivered') && all;
    }, { message: 'five deliveries delivered' });
    expect(rows.map((row) => [row.status, row.attempts, row.last_status_code])).toEqual(Array(5).fill(['delivered', 1, 200]));
    expect(rows.map((row) => row.event_id).sort()).toEqual(bodies.map((b) => b.id).sort());

    // Dispatching again finds nothing new: the ids are stable and each event has one delivery.
    expect((await dispatchCallbackEvents(t.db)).deliveryIds).toEqual([]);
    expect(await deliveriesOf(sub.id)).toHaveLength(5);

    // The jobs carry the delivery id only: no phone number, reply text, URL or secret in Redis.
    const jobs = await q.producer.queue('crm.callbacks').getJobs(['completed', 'waiting', 'delayed', 'active', 'failed']);
    expect(jobs.length).toBeGreaterThanOrEqual(5);
    for (const job of jobs) {
      expect(Object.keys(job.data as object)).toEqual(['deliveryId']);
      expect(job.id).toBe(`callback.${(job.data as { deliveryId: string }).deliveryId}`);
    }
    const dump = JSON.stringify(jobs.map((job) => [job.id, job.data, job.returnvalue]));
    for (const personal of [phone, 'Option 2 please', secret, baseUrl]) expect(dump).not.toContain(personal);
    await deleteCallbackSubscription(t.db, sub.id);
  });

  it('retries a receiver that answers 500 twice with the same event id, then marks the delivery delivered after 3 attempts', async () => {
    const sub = await subscribe('/flaky', ['communication.sent']);
    const id = await communication(['queued', 'sending', 'sent']);
    await waitFor(async () => (await deliveriesOf(sub.id))[0]?.status === 'delivered', { message: 'the delivery to succeed' });
    const calls = at('/flaky');
    expect(calls).toHaveLength(3);
    expect(new Set(calls.map((r) => r.headers['crm-event-id'])).size).toBe(1);
    expect(new Set(calls.map((r) => bodyOf(r).id)).size).toBe(1);
    expect(calls.every(verify)).toBe(true);
    expect(bodyOf(calls[0]!).data.communicationId).toBe(id);
    // Waits between the attempts (backoff base 20 ms: ≥ 10 ms, then ≥ 20 ms).
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(9);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(19);
    const [row] = await deliveriesOf(sub.id);
    expect(row).toMatchObject({ status: 'delivered', attempts: 3, last_status_code: 200, last_error: null, delivered_at: expect.any(Date) });
    await deleteCallbackSubscription(t.db, sub.id);
  });

  it('marks the delivery failed after the last attempt when the receiver always fails', async () => {
    const sub = await subscribe('/down', ['communication.failed']);
    const id = await communication(['queued', 'sending', 'failed']);
    await waitFor(async () => (await deliveriesOf(sub.id))[0]?.status === 'failed', { message: 'the delivery to fail' });
    const [row] = await deliveriesOf(sub.id);
    expect(row).toMatchObject({ status: 'failed', attempts: MAX_ATTEMPTS, last_status_code: 500, last_error: 'HTTP 500', failed_at: expect.any(Date), event_type: 'communication.failed' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const calls = at('/down');
    expect(calls).toHaveLength(MAX_ATTEMPTS);
    expect(bodyOf(calls[0]!)).toMatchObject({ type: 'communication.failed', data: { communicationId: id, status: 'failed' } });
    await deleteCallbackSubscription(t.db, sub.id);
  });

  it('delivers nothing recorded before the subscription existed', async () => {
    const before = await communication(['queued', 'sending', 'sent', 'delivered']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const sub = await subscribe('/late');
    const after = await communication(['queued', 'sending', 'sent']);
    await waitFor(() => at('/late').length >= 1, { message: 'the new event' });
    await new Promise((resolve) => setTimeout(resolve, 300)); // room for anything else
    expect(at('/late').map((r) => [bodyOf(r).type, bodyOf(r).data.communicationId])).toEqual([['communication.sent', after]]);
    expect((await deliveriesOf(sub.id)).map((row) => row.communication_id)).not.toContain(before);
    await deleteCallbackSubscription(t.db, sub.id);
  });

  it('delivers an event whose transaction commits after later events were dispatched', async () => {
    const sub = await subscribe('/late-commit', ['communication.sent']);
    const slow = await communication(['queued', 'sending']);
    let quick = '';
    await t.db.transaction().execute(async (trx) => {
      // Recorded first (lower log id, earlier created_at), committed last.
      expect((await updateCommunicationStatus(trx, { id: slow, to: 'sent' })).applied).toBe(true);
      quick = await communication(['queued', 'sending', 'sent']);
      await waitFor(() => at('/late-commit').length >= 1, { message: 'the later event' });
      await new Promise((resolve) => setTimeout(resolve, 150)); // a few more dispatcher passes
    });
    await waitFor(() => at('/late-commit').length >= 2, { message: 'the event committed late' });
    expect(at('/late-commit').map((r) => bodyOf(r).data.communicationId)).toEqual([quick, slow]);
    expect(await deliveriesOf(sub.id)).toHaveLength(2);
  });

  it('makes one delivery per event however many dispatchers run at once', async () => {
    const other = startCallbackWorker({ db: t.db, keys, logger, connection, prefix: q.r.prefix, dispatchIntervalMs: null, reconcileIntervalMs: null, backoffBaseMs: 20 });
    try {
      const sub = await subscribe('/many', ['communication.sent', 'communication.delivered']);
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push(await communication(['queued', 'sending', 'sent', 'delivered']));
      // Besides the main worker's own loop.
      await Promise.all([other.dispatch(), worker.dispatch(), other.dispatch(), worker.dispatch(), other.dispatch()]);
      await waitFor(() => at('/many').length >= 12, { message: 'twelve events' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const rows = await deliveriesOf(sub.id);
      expect(rows).toHaveLength(12);
      expect(new Set(rows.map((row) => row.event_id)).size).toBe(12);
      const eventIds = at('/many').map((r) => bodyOf(r).id);
      expect(eventIds).toHaveLength(12);
      expect(new Set(eventIds).size).toBe(12);
      await deleteCallbackSubscription(t.db, sub.id);
    } finally {
      await other.close();
    }
  });

  it('gives pending deliveries their job back after the queue was lost (Redis flushed, crash before enqueue)', async () => {
    // The worker stops; a crash between the dispatcher's commit and its enqueue leaves pending rows without jobs.
    await worker.close();
    const sub = await subscribe('/recovered', ['communication.sent']);
    for (let i = 0; i < 3; i++) await communication(['queued', 'sending', 'sent']);
    const { deliveryIds } = await dispatchCallbackEvents(t.db);
    expect(deliveryIds).toHaveLength(3);
    // And whatever jobs there were are gone, as after FLUSHALL.
    await q.producer.queue('crm.callbacks').obliterate({ force: true });
    expect(await q.producer.queue('crm.callbacks').getJobCounts()).toEqual(expect.objectContaining({ waiting: 0, delayed: 0, completed: 0 }));

    const restarted = startCallbackWorker({ db: t.db, keys, logger, connection, prefix: q.r.prefix, dispatchIntervalMs: null, reconcileIntervalMs: null, reconcileMinAgeMs: 0 });
    try {
      await restarted.ready();
      expect((await restarted.reconcile()).sort()).toEqual([...deliveryIds].sort());
      await waitFor(async () => (await deliveriesOf(sub.id)).every((row) => row.status === 'delivered') && true, { message: 'the restored deliveries' });
      expect(at('/recovered')).toHaveLength(3);
      // A second pass finds nothing to restore.
      expect(await restarted.reconcile()).toEqual([]);
      await deleteCallbackSubscription(t.db, sub.id);
    } finally {
      await restarted.close();
    }
  });

  it('stops the pending deliveries of a deleted subscription, even one deleted while its jobs wait', async () => {
    // The main worker is closed (previous test): nothing sends until the one below starts.
    const stopped = await subscribe('/gone', ['communication.sent']);
    const raced = await subscribe('/gone-raced', ['communication.sent']);
    await communication(['queued', 'sending', 'sent']);
    const { deliveryIds } = await dispatchCallbackEvents(t.db);
    expect(deliveryIds).toHaveLength(2);
    await q.producer.enqueueMany('crm.callbacks', deliveryIds.map((deliveryId) => ({ deliveryId })));
    // Deleted through the API's function: its pending delivery ends at once.
    expect(await deleteCallbackSubscription(t.db, stopped.id)).toBe(true);
    expect((await deliveriesOf(stopped.id)).map((row) => [row.status, row.last_error])).toEqual([['failed', 'subscription deleted']]);
    // Deleted by a writer that left its delivery pending (a dispatcher racing the delete): the worker stops it.
    await t.db.updateTable('crm_callback_subscriptions').set({ deleted_at: new Date(), secret_encrypted: null, secret_key_id: null }).where('id', '=', raced.id).execute();

    const restarted = startCallbackWorker({ db: t.db, keys, logger, connection, prefix: q.r.prefix, dispatchIntervalMs: null, reconcileIntervalMs: null });
    try {
      await restarted.ready();
      await waitFor(async () => (await deliveriesOf(raced.id))[0]?.status === 'failed', { message: 'the raced delivery to stop' });
      expect((await deliveriesOf(raced.id)).map((row) => [row.status, row.attempts, row.last_error])).toEqual([['failed', 0, 'subscription deleted']]);
      expect(at('/gone').length + at('/gone-raced').length).toBe(0);
    } finally {
      await restarted.close();
    }
  });

  it('refuses to send to an http URL when https is required (production), loopback excepted', async () => {
    const sub = await createCallbackSubscription(t.db, keys, { url: 'http://planner.example.invalid/hook', events: ['communication.sent'], secret });
    const loopback = await subscribe('/loopback-in-production', ['communication.sent']);
    await communication(['queued', 'sending', 'sent']);
    const production = startCallbackWorker({ db: t.db, keys, logger, connection, prefix: q.r.prefix, dispatchIntervalMs: null, reconcileIntervalMs: null, requireHttps: true });
    try {
      await production.ready();
      expect(await production.dispatch()).toHaveLength(2);
      await waitFor(async () => (await deliveriesOf(sub.id))[0]?.status === 'failed' && (await deliveriesOf(loopback.id))[0]?.status === 'delivered', { message: 'both verdicts' });
      expect((await deliveriesOf(sub.id))[0]).toMatchObject({ attempts: 0, last_error: expect.stringMatching(/^refused URL: must be an https URL/) });
      expect(at('/loopback-in-production')).toHaveLength(1);
      await Promise.all([deleteCallbackSubscription(t.db, sub.id), deleteCallbackSubscription(t.db, loopback.id)]);
    } finally {
      await production.close();
    }
  });
});
