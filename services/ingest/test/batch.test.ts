import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { CommunicationRepository, getClientContact } from '@crm/db';
import { type QueueProducer } from '@crm/queue';
import type { TestDatabase, TestRedis } from '@crm/testing';
import { startTestIngest, testKeys, type TestIngest } from './support/test-ingest';

let t: TestDatabase;
let r: TestRedis;
let producer: QueueProducer;
let app: FastifyInstance;
let auth: { authorization: string };
const keys = testKeys;

let ingest: TestIngest;
beforeAll(async () => {
  ingest = await startTestIngest('ingest-batch-test', { bodyLimitBytes: 1_048_576 });
  ({ t, r, producer, app, auth } = ingest);
});
afterAll(() => ingest.close());

interface BatchAnswer { items: { index: number; id: string; status: string; outcome: string }[] }
const item = (n: number, overrides: Record<string, unknown> = {}) => ({
  clientId: `client-${n % 7}`, planId: 'plan-batch', messageType: 'reminder', variables: { n },
  recipient: { email: `person${n % 7}@example.com` }, ...overrides,
});
const postBatch = (items: unknown[], headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/api/crm/communications/batch', payload: { items }, headers: { ...auth, ...headers } });
const counts = async () => {
  const { rows } = await sql<{ c: string; l: string; p: string }>`
    SELECT (SELECT count(*) FROM crm_communications) AS c, (SELECT count(*) FROM crm_delivery_logs) AS l,
           (SELECT count(*) FROM crm_client_preferences) AS p`.execute(t.db);
  return rows[0];
};
const requestJobs = () => producer.queue('crm.requests').getJobCountByTypes('waiting', 'delayed', 'active', 'completed');

describe('POST /api/crm/communications/batch', () => {
  it('stores every item in one go, answers in order, and enqueues one job per created item', async () => {
    const jobsBefore = await requestJobs();
    const response = await postBatch(Array.from({ length: 25 }, (_, n) => item(n)));
    expect(response.statusCode).toBe(202);
    const { items } = response.json<BatchAnswer>();
    expect(items).toHaveLength(25);
    items.forEach((answer, n) => expect(answer).toEqual({ index: n, id: expect.any(String), status: 'pending', outcome: 'created' }));

    const row = await CommunicationRepository.findById(t.db, items[9]!.id);
    expect(row).toMatchObject({ client_id: 'client-2', plan_id: 'plan-batch', message_type: 'reminder', variables: { n: 9 }, status: 'pending' });
    expect(await CommunicationRepository.listLogs(t.db, items[9]!.id)).toEqual([expect.objectContaining({ event: 'created', to_status: 'pending' })]);
    expect(await getClientContact(t.db, keys, 'client-3')).toEqual({ email: 'person3@example.com', phone: null });
    expect(await requestJobs()).toBe(jobsBefore + 25);
    expect((await producer.queue('crm.requests').getJob(`${items[0]!.id}.request`))?.data).toEqual({ communicationId: items[0]!.id });
    // Nothing personal in Redis.
    const dump = (await Promise.all((await r.keys()).map(async (key) => JSON.stringify(await r.redis.hgetall(key).catch(() => ({})))))).join('\n');
    expect(dump).not.toContain('@example.com');
  });

  it('answers 200 when every item is a duplicate, and 202 when some are new', async () => {
    const batch = [item(1, { idempotencyKey: 'dup-1' }), item(2, { idempotencyKey: 'dup-2' })];
    const first = await postBatch(batch);
    expect(first.statusCode).toBe(202);
    const again = await postBatch(batch);
    expect(again.statusCode).toBe(200);
    expect(again.json<BatchAnswer>().items.map((i) => [i.id, i.outcome])).toEqual(first.json<BatchAnswer>().items.map((i) => [i.id, 'duplicate']));
    const mixed = await postBatch([...batch, item(3, { idempotencyKey: 'dup-3' })]);
    expect(mixed.statusCode).toBe(202);
    expect(mixed.json<BatchAnswer>().items.map((i) => i.outcome)).toEqual(['duplicate', 'duplicate', 'created']);
  });

  it('treats a repeated key inside one batch as a duplicate of its first item', async () => {
    const response = await postBatch([item(1, { idempotencyKey: 'same-in-batch' }), item(1, { idempotencyKey: 'same-in-batch' })]);
    expect(response.statusCode).toBe(202);
    const [a, b] = response.json<BatchAnswer>().items;
    expect(b).toEqual({ index: 1, id: a!.id, status: 'pending', outcome: 'duplicate' });
  });

  it('derives item keys <header>:<index> from an Idempotency-Key header', async () => {
    const batch = [item(1), item(2), item(3)];
    const first = await postBatch(batch, { 'idempotency-key': 'batch-h1' });
    expect(first.statusCode).toBe(202);
    const ids = first.json<BatchAnswer>().items.map((i) => i.id);
    const stored = await t.db.selectFrom('crm_communications').select(['id', 'idempotency_key']).where('id', 'in', ids).execute();
    expect(Object.fromEntries(stored.map((s) => [s.id, s.idempotency_key]))).toEqual({ [ids[0]!]: 'batch-h1:0', [ids[1]!]: 'batch-h1:1', [ids[2]!]: 'batch-h1:2' });
    const again = await postBatch(batch, { 'idempotency-key': 'batch-h1' });
    expect(again.statusCode).toBe(200);
    expect(again.json<BatchAnswer>().items.map((i) => i.id)).toEqual(ids);

    const both = await postBatch([item(1), item(2, { idempotencyKey: 'own' })], { 'idempotency-key': 'batch-h2' });
    expect(both.statusCode).toBe(400);
    expect(both.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'items.1.idempotencyKey' }] });
  });

  it('refuses a batch with a bad item, naming its index and field, writing nothing', async () => {
    const before = await counts();
    const response = await postBatch([item(0), item(1), item(2), item(3, { clientId: 'not an id!' }), item(4, { messageType: 'newsletter' })]);
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const fields = response.json<{ errors: { field: string }[] }>().errors.map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['items.3.clientId', 'items.4.messageType']));
    expect(await counts()).toEqual(before);
  });

  it.each([
    ['no items', []],
    ['more than 1,000 items', Array.from({ length: 1001 }, (_, n) => ({ clientId: 'c', planId: 'p', messageType: 'reminder', variables: { n } }))],
  ])('answers 400 naming items for %s', async (_name, items) => {
    const response = await postBatch(items);
    expect(response.statusCode).toBe(400);
    expect(response.json<{ errors: { field: string }[] }>().errors.map((e) => e.field)).toContain('items');
  });

  it('refuses a body that is not { items }', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/crm/communications/batch', payload: [item(1)], headers: auth });
    expect(response.statusCode).toBe(400);
    const extra = await app.inject({ method: 'POST', url: '/api/crm/communications/batch', payload: { items: [item(1)], more: 1 }, headers: auth });
    expect(extra.json<{ errors: { field: string }[] }>().errors.map((e) => e.field)).toContain('more');
  });

  it('answers 409 naming the item whose key was used with another body, writing nothing', async () => {
    await postBatch([item(5, { idempotencyKey: 'taken-key' })]);
    const before = await counts();
    const jobsBefore = await requestJobs();
    const response = await postBatch([item(20, { clientId: 'fresh-client', recipient: { email: 'fresh@example.com' } }), item(6, { idempotencyKey: 'taken-key' })]);
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ code: 'idempotency_conflict', errors: [{ field: 'items.1.idempotencyKey' }] });
    expect(await counts()).toEqual(before);
    expect(await getClientContact(t.db, keys, 'fresh-client')).toBeUndefined();
    expect(await requestJobs()).toBe(jobsBefore);
  });

  it('answers 422 naming the item whose client cannot be reached, writing nothing', async () => {
    const before = await counts();
    const response = await postBatch([item(1), item(2, { clientId: 'nobody', recipient: { timezone: 'Europe/Paris' } })]);
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({ code: 'unreachable_client', errors: [{ field: 'items.1.recipient' }] });
    expect(await counts()).toEqual(before);
  });

  it('accepts a client reached through contact details stored earlier or in another item', async () => {
    const response = await postBatch([
      item(1, { clientId: 'late-client', recipient: null }),
      item(2, { clientId: 'late-client', recipient: { phone: '+14155550123' } }),
      item(3, { clientId: 'client-3', recipient: null }),
    ]);
    expect(response.statusCode).toBe(202);
  });

  it('takes 1,000 items in one request', async () => {
    const before = await counts();
    const response = await postBatch(Array.from({ length: 1000 }, (_, n) => ({
      clientId: `big-${n % 100}`, planId: 'plan-big', messageType: 'reminder', variables: { n }, idempotencyKey: `big-${n}`,
      recipient: { email: `big${n % 100}@example.com` },
    })));
    expect(response.statusCode).toBe(202);
    expect(response.json<BatchAnswer>().items.filter((i) => i.outcome === 'created')).toHaveLength(1000);
    const after = await counts();
    expect(Number(after!.c) - Number(before!.c)).toBe(1000);
    expect(Number(after!.l) - Number(before!.l)).toBe(1000);
  });
});
