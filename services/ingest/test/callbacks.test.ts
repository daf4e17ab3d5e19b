import { sql } from 'kysely';
import { startTestIngest, type TestIngest } from './support/test-ingest';

let ingest: TestIngest;
beforeAll(async () => {
  ingest = await startTestIngest('ingest-callbacks-test');
});
afterAll(() => ingest.close());

interface Created { id: string; url: string; events: string[]; secret: string; createdAt: string }
interface Problem { code: string; status: number; errors?: { field: string; in: string; message: string }[] }

const post = (payload: unknown) => ingest.app.inject({ method: 'POST', url: '/api/crm/callbacks', headers: ingest.auth, payload: payload as Record<string, unknown> });
const list = async () => (await ingest.app.inject({ method: 'GET', url: '/api/crm/callbacks', headers: ingest.auth })).json<{ items: Record<string, unknown>[] }>().items;
const fieldsOf = (body: Problem) => (body.errors ?? []).map((e) => e.field);

describe('callback subscriptions API', () => {
  it('creates a subscription with a generated secret shown once, lists it without the secret, and deletes it', async () => {
    const created = await post({ url: 'https://planner.example.com/crm/events?token=abc', events: ['client.replied', 'communication.delivered'] });
    expect(created.statusCode).toBe(201);
    const body = created.json<Created>();
    expect(body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/), url: 'https://planner.example.com/crm/events?token=abc',
      events: ['client.replied', 'communication.delivered'], secret: expect.stringMatching(/^whsec_[A-Za-z0-9_-]{43}$/), createdAt: expect.any(String),
    });
    expect(Buffer.from(body.secret.slice('whsec_'.length), 'base64url')).toHaveLength(32);

    const items = await list();
    expect(items).toEqual([{ id: body.id, url: body.url, events: body.events, createdAt: body.createdAt }]);
    expect(JSON.stringify(items)).not.toContain(body.secret);

    const deleted = await ingest.app.inject({ method: 'DELETE', url: `/api/crm/callbacks/${body.id}`, headers: ingest.auth });
    expect(deleted.statusCode).toBe(204);
    expect(await list()).toEqual([]);
    // Deleting again: 404 naming the id.
    const again = await ingest.app.inject({ method: 'DELETE', url: `/api/crm/callbacks/${body.id}`, headers: ingest.auth });
    expect(again.statusCode).toBe(404);
    expect(again.headers['content-type']).toContain('application/problem+json');
    expect(fieldsOf(again.json<Problem>())).toEqual(['id']);
    // The deleted subscription's secret is gone from the database.
    const row = await ingest.t.db.selectFrom('crm_callback_subscriptions').select(['secret_encrypted', 'deleted_at']).where('id', '=', body.id).executeTakeFirstOrThrow();
    expect(row.secret_encrypted).toBeNull();
    expect(row.deleted_at).toBeInstanceOf(Date);
  });

  it('stores a given secret encrypted, never in plain text', async () => {
    const secret = 'my-own-signing-secret-0123456789';
    const created = await post({ url: 'http://127.0.0.1:9/hook', events: ['communication.sent'], secret });
    expect(created.statusCode).toBe(201);
    const { id, secret: shown } = created.json<Created>();
    expect(shown).toBe(secret);
    const row = await ingest.t.db.selectFrom('crm_callback_subscriptions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.secret_encrypted).toBeInstanceOf(Buffer);
    expect(row.secret_encrypted?.toString('latin1')).not.toContain(secret);
    expect(row.secret_key_id).toMatch(/^[0-9a-f]{16}$/);
    const { rows } = await sql<{ secret: string }>`SELECT pgp_sym_decrypt(secret_encrypted, ${'e'.repeat(32)}) AS secret FROM crm_callback_subscriptions WHERE id = ${id}::uuid`.execute(ingest.t.db);
    expect(rows[0]?.secret).toBe(secret);
    // No column of the table holds it in plain text.
    const dump = await sql<{ row: string }>`SELECT row_to_json(s)::text AS row FROM crm_callback_subscriptions s`.execute(ingest.t.db);
    for (const { row: text } of dump.rows) expect(text).not.toContain(secret);
  });

  it.each([
    ['a URL that is not one', { url: 'not a url', events: ['client.replied'] }, ['url']],
    ['another scheme', { url: 'ftp://example.com/x', events: ['client.replied'] }, ['url']],
    ['credentials in the URL', { url: 'https://user:pw@example.com/x', events: ['client.replied'] }, ['url']],
    ['an unknown event type', { url: 'https://example.com/x', events: ['client.replied', 'communication.opened'] }, ['events.1']],
    ['no event types', { url: 'https://example.com/x', events: [] }, ['events']],
    ['no events field', { url: 'https://example.com/x' }, ['events']],
    ['a short secret', { url: 'https://example.com/x', events: ['client.replied'], secret: 'short' }, ['secret']],
    ['an unknown field', { url: 'https://example.com/x', events: ['client.replied'], extra: 1 }, ['extra']],
  ])('refuses %s, naming the field', async (_, payload, fields) => {
    const response = await post(payload);
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toContain('application/problem+json');
    const body = response.json<Problem>();
    expect(body.code).toBe('validation_failed');
    expect(fieldsOf(body)).toEqual(fields);
    expect(JSON.stringify(body)).not.toContain('user:pw');
  });

  it('refuses a malformed id on delete', async () => {
    const response = await ingest.app.inject({ method: 'DELETE', url: '/api/crm/callbacks/not-a-uuid', headers: ingest.auth });
    expect(response.statusCode).toBe(400);
    expect(fieldsOf(response.json<Problem>())).toEqual(['id']);
  });

  it('needs an API key', async () => {
    const response = await ingest.app.inject({ method: 'GET', url: '/api/crm/callbacks' });
    expect(response.statusCode).toBe(401);
  });
});

describe('callback subscriptions API with NODE_ENV=production', () => {
  let production: TestIngest;
  beforeAll(async () => {
    production = await startTestIngest('ingest-callbacks-production-test', { callbacks: { requireHttps: true } });
  });
  afterAll(() => production.close());
  const create = (url: string) => production.app.inject({ method: 'POST', url: '/api/crm/callbacks', headers: production.auth, payload: { url, events: ['client.replied'] } });

  it('requires https except on loopback hosts', async () => {
    const refused = await create('http://planner.example.com/hook');
    expect(refused.statusCode).toBe(400);
    expect(fieldsOf(refused.json<Problem>())).toEqual(['url']);
    for (const url of ['https://planner.example.com/hook', 'http://127.0.0.1:8080/hook', 'http://localhost/hook', 'http://[::1]:9000/hook']) {
      expect([url, (await create(url)).statusCode]).toEqual([url, 201]);
    }
  });
});

describe('strings PostgreSQL cannot store (found by npm run fuzz)', () => {
  it('answers a NUL in the URL 400 naming the field, and stores nothing (was a 500)', async () => {
    const count = async () => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM crm_callback_subscriptions`.execute(ingest.t.db)).rows[0]?.n);
    const before = await count();
    const response = await post({ url: 'http://127.0.0.1:9/hook\u0000', events: ['communication.sent'] });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ code: 'validation_failed', errors: [expect.objectContaining({ field: 'url' })] });
    expect(await count()).toBe(before);
  });
});
