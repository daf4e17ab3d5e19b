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
  ingest = await startTestIngest('ingest-test', { bodyLimitBytes: 4096 });
  ({ t, r, producer, app, auth } = ingest);
});
afterAll(() => ingest.close());

const valid = {
  clientId: 'client-42',
  planId: 'plan-7',
  messageType: 'welcome',
  variables: { clientName: 'Ada' },
  recipient: { email: 'ada@example.com' },
};
const post = (payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/api/crm/communications', payload: payload as object, headers: { ...auth, ...headers } });
const countRows = async () =>
  Number((await sql<{ n: string }>`SELECT count(*) AS n FROM crm_communications`.execute(t.db)).rows[0]?.n);
const countPreferences = async () =>
  Number((await sql<{ n: string }>`SELECT count(*) AS n FROM crm_client_preferences`.execute(t.db)).rows[0]?.n);

describe('POST /api/crm/communications', () => {
  it('stores the row, then enqueues a job that carries only the id', async () => {
    const response = await post(valid);
    expect(response.statusCode).toBe(202);
    const body = response.json<{ id: string; status: string }>();
    expect(body).toEqual({ id: expect.any(String), status: 'pending' });
    expect(response.headers['x-request-id']).toEqual(expect.any(String));

    const row = await CommunicationRepository.findById(t.db, body.id);
    expect(row).toMatchObject({ client_id: 'client-42', plan_id: 'plan-7', message_type: 'welcome', urgency: 'normal', status: 'pending', variables: { clientName: 'Ada' } });
    expect(await getClientContact(t.db, keys, 'client-42')).toEqual({ email: 'ada@example.com', phone: null });

    const job = await producer.queue('crm.requests').getJob(`${body.id}.request`);
    expect(job?.data).toEqual({ communicationId: body.id });
    // Nothing personal in Redis: neither the address nor the name.
    const dump = (await Promise.all((await r.keys()).map(async (key) => JSON.stringify(await r.redis.hgetall(key).catch(() => ({})))))).join('\n');
    expect(dump).not.toContain('ada@example.com');
    expect(dump).not.toContain('Ada');
  });

  it('returns the first communication for a repeated Idempotency-Key and 409 for a different body', async () => {
    const headers = { 'idempotency-key': 'plan-7:welcome:v1' };
    const first = await post(valid, headers);
    const again = await post(valid, headers);
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    const conflict = await post({ ...valid, variables: { clientName: 'Bob' }, recipient: { email: 'bob@example.com' } }, headers);
    expect(conflict.statusCode).toBe(409);
    // Refused as a whole: the new address in the refused request was not stored.
    expect(await getClientContact(t.db, keys, 'client-42')).toEqual({ email: 'ada@example.com', phone: null });
    expect(conflict.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(conflict.json()).toMatchObject({ status: 409, code: 'idempotency_conflict', errors: [{ field: 'idempotencyKey' }] });
    // The key in the body works the same way; a header that contradicts it is refused.
    const viaBody = await post({ ...valid, idempotencyKey: 'plan-7:welcome:v1' });
    expect(viaBody.statusCode).toBe(200);
    const contradicting = await post({ ...valid, idempotencyKey: 'other' }, headers);
    expect(contradicting.statusCode).toBe(400);
  });

  it('stores one row for 20 concurrent identical requests with one Idempotency-Key', async () => {
    const headers = { 'idempotency-key': 'concurrent-20' };
    const body = { ...valid, clientId: 'client-concurrent', recipient: { email: 'concurrent@example.com' } };
    const responses = await Promise.all(Array.from({ length: 20 }, () => post(body, headers)));
    const codes = responses.map((response) => response.statusCode);
    expect(codes.filter((code) => code === 202)).toHaveLength(1);
    expect(codes.filter((code) => code === 200)).toHaveLength(19);
    const ids = new Set(responses.map((response) => response.json<{ id: string }>().id));
    expect(ids.size).toBe(1);
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM crm_communications WHERE idempotency_key = 'concurrent-20'`.execute(t.db);
    expect(Number(rows[0]?.n)).toBe(1);
    expect(await producer.queue('crm.requests').getJob(`${[...ids][0]}.request`)).toBeDefined();
  });

  it('answers 422 for a client with no address, writing nothing', async () => {
    const before = [await countRows(), await countPreferences()];
    const response = await post({ ...valid, clientId: 'client-unknown', recipient: undefined });
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({ code: 'unreachable_client', errors: [{ field: 'recipient' }] });
    const emptyRecipient = await post({ ...valid, clientId: 'client-empty', recipient: { timezone: 'Europe/Paris' } });
    expect(emptyRecipient.statusCode).toBe(422);
    expect([await countRows(), await countPreferences()]).toEqual(before);
  });

  const badBodies: [string, unknown, string][] = [
    ['a missing field', { ...valid, planId: undefined }, 'planId'],
    ['a wrong type', { ...valid, clientId: 42 }, 'clientId'],
    ['an unknown enum value', { ...valid, messageType: 'newsletter' }, 'messageType'],
    ['an unknown urgency', { ...valid, urgency: 'urgent' }, 'urgency'],
    ['an unknown channel', { ...valid, channel: 'fax' }, 'channel'],
    ['an unknown field', { ...valid, chanel: 'email' }, 'chanel'],
    ['a bad nested field', { ...valid, recipient: { email: 'not-an-address' } }, 'recipient.email'],
    ['a bad phone', { ...valid, recipient: { phone: '0151 1234' } }, 'recipient.phone'],
    ['a bad time zone', { ...valid, recipient: { email: 'a@b.co', timezone: 'Mars/Olympus' } }, 'recipient.timezone'],
    ['a date without offset', { ...valid, sendAt: '2026-12-01T10:00:00' }, 'sendAt'],
    ['an email as client id', { ...valid, clientId: 'ada@example.com' }, 'clientId'],
    ['an array body', [valid], '(root)'],
  ];

  it.each(badBodies)('answers 400 naming the field for %s, writing nothing', async (_name, payload, field) => {
    const before = [await countRows(), await countPreferences()];
    const response = await post(payload);
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = response.json<{ status: number; code: string; errors: { field: string; in: string }[]; detail: string }>();
    expect(problem).toMatchObject({ status: 400, code: 'validation_failed', title: expect.any(String), type: expect.any(String) });
    expect(problem.errors.map((e) => e.field)).toContain(field);
    expect(problem.detail).toContain(field);
    expect(response.body).not.toMatch(/at .+\.ts:\d+/); // no stack trace
    expect([await countRows(), await countPreferences()]).toEqual(before);
  });

  it('never echoes a rejected value', async () => {
    const response = await post({ ...valid, recipient: { email: 'secret-person@@example.com' } });
    expect(response.statusCode).toBe(400);
    expect(response.body).not.toContain('secret-person');
  });

  it('answers 400 for a body that is not JSON', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/crm/communications', payload: '{"clientId": ', headers: { ...auth, 'content-type': 'application/json' } });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ code: 'invalid_json', errors: [{ field: 'body' }] });
    const empty = await app.inject({ method: 'POST', url: '/api/crm/communications', payload: '', headers: { ...auth, 'content-type': 'application/json' } });
    expect(empty.statusCode).toBe(400);
    expect(empty.json()).toMatchObject({ code: 'invalid_json' });
  });

  it('answers 415 naming the header for an unknown content type', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const response = await app.inject({ method: 'POST', url: '/api/crm/communications', payload: JSON.stringify(valid), headers: { ...auth, 'content-type': contentType } });
      expect(response.statusCode).toBe(415);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json()).toMatchObject({ code: 'unsupported_media_type', errors: [{ field: 'content-type', in: 'header' }] });
    }
  });

  it('answers 413 for a body over the limit, writing nothing', async () => {
    const before = await countRows();
    const response = await post({ ...valid, variables: { notes: 'x'.repeat(5000) } });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ status: 413, code: 'body_too_large' });
    expect(await countRows()).toBe(before);
  });

  it('answers 404 problem+json for an unknown route', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/crm/nothing-here', headers: auth });
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

describe('health', () => {
  it('answers /health and /ready', async () => {
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toEqual({ status: 'ok' });
    const ready = await app.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', postgres: true, redis: true, migrations: true, pendingMigrations: [] });
  });
});

describe('strings PostgreSQL cannot store (found by npm run fuzz)', () => {
  it('answers a lone UTF-16 surrogate in variables or metadata 400 naming the field, and stores nothing (was a 500: jsonb refuses it)', async () => {
    const before = [await countRows(), await countPreferences()];
    for (const [body, field] of [
      [{ ...valid, clientId: 'surrogate-1', variables: { clientName: '\uD800' } }, 'variables.clientName'],
      [{ ...valid, clientId: 'surrogate-2', metadata: { note: 'x\uDC00' } }, 'metadata.note'],
      [{ ...valid, clientId: 'surrogate-3', variables: { '\uDBFF': 1 } }, 'variables'],
    ] as const) {
      const response = await post(body);
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json<{ code: string; errors: { field: string }[] }>()).toMatchObject({ code: 'validation_failed' });
      expect(response.json<{ errors: { field: string }[] }>().errors.map((e) => e.field).join(' ')).toContain(field);
    }
    expect([await countRows(), await countPreferences()]).toEqual(before);
    // A surrogate pair (an emoji) is a character, and stored.
    expect((await post({ ...valid, clientId: 'surrogate-4', variables: { clientName: 'Ada 😀' } })).statusCode).toBe(202);
  });
});
