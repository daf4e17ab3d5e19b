import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { CommunicationRepository, flushDigest, joinDigest } from '@crm/db';
import type { TestDatabase } from '@crm/testing';
import { startTestIngest, type TestIngest } from './support/test-ingest';

let t: TestDatabase;
let app: FastifyInstance;
let auth: { authorization: string };

let ingest: TestIngest;
beforeAll(async () => {
  ingest = await startTestIngest('ingest-read-test');
  ({ t, app, auth } = ingest);
});
afterAll(() => ingest.close());

const get = (url: string) => app.inject({ method: 'GET', url, headers: auth });
const create = async (body: Record<string, unknown>): Promise<string> => {
  const response = await app.inject({ method: 'POST', url: '/api/crm/communications', payload: body, headers: auth });
  expect(response.statusCode).toBe(202);
  return response.json<{ id: string }>().id;
};
interface Page { items: Record<string, unknown>[]; nextCursor: string | null }

describe('GET /api/crm/communications/:id', () => {
  it('answers the communication in camelCase with its delivery log, and no contact details', async () => {
    const id = await create({
      clientId: 'read-client', planId: 'read-plan', messageType: 'budget_summary', urgency: 'high', channel: 'email',
      sendAt: '2031-05-06T07:08:09.123+02:00', variables: { clientName: 'Ada', total: 18500 }, metadata: { workflowRunId: 'run-1' },
      idempotencyKey: 'read-key', recipient: { email: 'read.person@example.com', phone: '+14155550177' },
    });
    await CommunicationRepository.updateStatus(t.db, { id, to: 'queued', channel: 'email', strategyReason: 'preferred channel' });
    await CommunicationRepository.updateStatus(t.db, { id, to: 'sending', channel: 'email', attempt: 1, event: 'attempt_started' });
    await CommunicationRepository.updateStatus(t.db, {
      id, to: 'failed', channel: 'email', attempt: 1, event: 'attempt_failed', failureReason: 'smtp_permanent',
      error: { message: 'SMTP server replied 550', code: '550', category: 'permanent' }, provider: 'smtp', latencyMs: 12,
    });

    const response = await get(`/api/crm/communications/${id}`);
    expect(response.statusCode).toBe(200);
    const body = response.json<Record<string, unknown> & { deliveryLog: Record<string, unknown>[] }>();
    expect(body).toMatchObject({
      id, clientId: 'read-client', planId: 'read-plan', messageType: 'budget_summary', urgency: 'high', status: 'failed',
      channel: 'email', channelsTried: ['email'], attemptCount: 1, requestedChannel: 'email',
      sendAt: '2031-05-06T05:08:09.123Z', scheduledFor: null, idempotencyKey: 'read-key', providerMessageId: null,
      lastError: { code: '550', category: 'permanent', message: 'SMTP server replied 550' },
      failureReason: 'smtp_permanent', strategyReason: 'preferred channel',
      metadata: { workflowRunId: 'run-1' }, variables: { clientName: 'Ada', total: 18500 },
      createdAt: expect.stringMatching(/Z$/), updatedAt: expect.stringMatching(/Z$/),
      queuedAt: expect.any(String), sendingAt: expect.any(String), failedAt: expect.any(String),
    });
    // Only the stamps that happened.
    for (const absent of ['sentAt', 'deliveredAt', 'cancelledAt', 'scheduledAt', 'client_id', 'request_hash', 'requestHash']) expect(body).not.toHaveProperty(absent);
    expect(body.deliveryLog.map((entry) => [entry.event, entry.fromStatus, entry.toStatus])).toEqual([
      ['created', null, 'pending'], ['status_changed', 'pending', 'queued'], ['attempt_started', 'queued', 'sending'], ['attempt_failed', 'sending', 'failed'],
    ]);
    expect(body.deliveryLog[3]).toMatchObject({
      id: expect.any(String), channel: 'email', attempt: 1, provider: 'smtp', errorCode: '550', errorCategory: 'permanent',
      errorMessage: 'SMTP server replied 550', latencyMs: 12, detail: {}, createdAt: expect.any(String),
    });
    expect(response.body).not.toContain('read.person');
    expect(response.body).not.toContain('4155550177');
  });

  it('answers 400 naming id for a malformed id and 404 for an unknown one', async () => {
    const bad = await get('/api/crm/communications/not-a-uuid');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'id', in: 'params' }] });
    const unknown = await get('/api/crm/communications/00000000-0000-0000-0000-000000000000');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(unknown.json()).toMatchObject({ code: 'not_found' });
  });
});

describe('GET /api/crm/communications', () => {
  let ids: string[];
  beforeAll(async () => {
    ids = [];
    for (let n = 0; n < 12; n++) {
      ids.push(await create({
        clientId: `hist-client-${n % 3}`, planId: n < 8 ? 'hist-plan-a' : 'hist-plan-b', messageType: n % 2 === 0 ? 'reminder' : 'welcome',
        variables: { secret: `var-${n}` }, recipient: { email: `hist${n % 3}@example.com` },
      }));
    }
    // One second apart, so that the expected order does not depend on the clock's resolution.
    for (const [n, id] of ids.entries()) {
      await t.db.updateTable('crm_communications').set({ created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)) }).where('id', '=', id).execute();
    }
    await CommunicationRepository.updateStatus(t.db, { id: ids[0]!, to: 'queued', channel: 'sms' });
    await CommunicationRepository.updateStatus(t.db, { id: ids[1]!, to: 'cancelled' });
  });

  it('pages through a plan newest first, without variables', async () => {
    const seen: string[] = [];
    let url = '/api/crm/communications?planId=hist-plan-a&limit=3';
    for (;;) {
      const response = await get(url);
      expect(response.statusCode).toBe(200);
      const page = response.json<Page>();
      expect(page.items.length).toBeLessThanOrEqual(3);
      for (const item of page.items) {
        expect(item).not.toHaveProperty('variables');
        expect(item).not.toHaveProperty('deliveryLog');
        seen.push(item.id as string);
      }
      if (!page.nextCursor) break;
      url = `/api/crm/communications?planId=hist-plan-a&limit=3&cursor=${encodeURIComponent(page.nextCursor)}`;
    }
    expect(seen).toEqual([...ids.slice(0, 8)].reverse());
    const body = (await get('/api/crm/communications?planId=hist-plan-a')).body;
    expect(body).not.toContain('var-');
    expect(body).not.toContain('@example.com');
  });

  it('filters by client, channel, status lists, message type and date range', async () => {
    const ofQuery = async (query: string) => (await get(`/api/crm/communications?${query}`)).json<Page>().items.map((item) => item.id as string);
    expect(await ofQuery('clientId=hist-client-1')).toEqual(ids.filter((_, n) => n % 3 === 1).reverse());
    expect(await ofQuery('channel=sms')).toEqual([ids[0]]);
    expect(await ofQuery('status=queued,cancelled&planId=hist-plan-a')).toEqual([ids[1], ids[0]]);
    expect(await ofQuery('status=queued&status=cancelled')).toEqual([ids[1], ids[0]]);
    expect(await ofQuery('messageType=welcome&planId=hist-plan-b')).toEqual([ids[11], ids[9]]);
    expect(await ofQuery('from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z')).toEqual([]);
    const { rows } = await sql<{ at: Date }>`SELECT created_at AS at FROM crm_communications WHERE id = ${ids[5]!}`.execute(t.db);
    const at = rows[0]!.at.toISOString();
    const fromFifth = await ofQuery(`planId=hist-plan-a&from=${encodeURIComponent(at)}`);
    expect(fromFifth).toEqual(expect.arrayContaining([ids[5], ids[6], ids[7]]));
    expect(fromFifth).not.toContain(ids[0]);
  });

  it.each([
    ['a bad cursor', 'cursor=bm90LWEtY3Vyc29y', 'cursor'],
    ['an unknown status', 'status=sent,lost', 'status'],
    ['an unknown channel', 'channel=fax', 'channel'],
    ['a limit over 500', 'limit=501', 'limit'],
    ['a limit of 0', 'limit=0', 'limit'],
    ['a date without offset', 'from=2026-01-01T00:00:00', 'from'],
    ['to before from', 'from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'to'],
    ['an unknown parameter', 'colour=red', 'colour'],
    ['an email as client id', 'clientId=ada@example.com', 'clientId'],
  ])('answers 400 naming the parameter for %s', async (_name, query, field) => {
    const response = await get(`/api/crm/communications?${query}`);
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json<{ errors: { field: string; in: string }[] }>().errors).toEqual(expect.arrayContaining([expect.objectContaining({ field, in: 'query' })]));
  });
});

describe('digests in the API', () => {
  it('shows an item batched into a digest with the digest\'s id and the reason, and the digest message itself', async () => {
    const ids = [await create({ clientId: 'read-digest', planId: 'read-plan', messageType: 'reminder', urgency: 'low', recipient: { email: 'digest@example.com' } }),
      await create({ clientId: 'read-digest', planId: 'read-plan', messageType: 'vendor_options', urgency: 'low' })];
    for (const id of ids) {
      const joined = await joinDigest(t.db, { id, clientId: 'read-digest', flushAt: new Date(Date.now() + 60_000), maxItems: 10, reason: 'low urgency: waits up to 1 min for a digest of up to 10' });
      expect(joined.joined).toBe(true);
    }
    const waiting = (await get(`/api/crm/communications/${ids[0]}`)).json<Record<string, unknown>>();
    expect(waiting).toMatchObject({ status: 'scheduled', digestId: expect.any(String), strategyReason: 'low urgency: waits up to 1 min for a digest of up to 10' });
    const flushed = await flushDigest(t.db, waiting.digestId as string);
    expect(flushed).toMatchObject({ flushed: true, itemIds: ids });
    const digestId = (flushed as { communicationId: string }).communicationId;

    const item = (await get(`/api/crm/communications/${ids[1]}`)).json<{ status: string; deliveryLog: { toStatus: string; detail: Record<string, unknown> }[] }>();
    expect(item.status).toBe('batched');
    expect(item.deliveryLog.at(-1)).toMatchObject({ toStatus: 'batched', detail: { digestCommunicationId: digestId } });
    const digest = await get(`/api/crm/communications/${digestId}`);
    expect(digest.statusCode).toBe(200);
    expect(digest.json()).toMatchObject({ messageType: 'digest', status: 'pending', clientId: 'read-digest', variables: { items: ids.map((id) => ({ communicationId: id })) } });
    const listed = (await get('/api/crm/communications?clientId=read-digest&messageType=digest')).json<Page>();
    expect(listed.items.map((i) => i.id)).toEqual([digestId]);
  });
});
