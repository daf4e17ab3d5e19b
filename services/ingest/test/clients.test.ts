import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { sql, type Kysely } from 'kysely';
import { Worker } from 'bullmq';
import {
  claimAttempts,
  CommunicationRepository,
  ERASED_ID_PREFIX,
  joinDigest,
  moveCommunication,
  queueOnFirstChannelMany,
  recordSentMany,
  type ClientExport,
  type Database,
} from '@crm/db';
import { PreferencesCache } from '@crm/delivery';
import { buildApp, problemTypes } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { jobIdFor, QueueName } from '@crm/queue';
import { twilioSignature } from '@crm/providers';
import { jobsOfErasure } from '../src/routes/clients';
import { startTestIngest, testKeys, testWebhooks, type TestIngest } from './support/test-ingest';

// GDPR erase and export of a client through the HTTP API, on real PostgreSQL and Redis.
let ingest: TestIngest;
let app: FastifyInstance;
let cache: PreferencesCache;
beforeAll(async () => {
  ingest = await startTestIngest('ingest-clients-test', { webhooks: testWebhooks });
  // The same app with a preferences cache, to see the erasure invalidate it.
  cache = new PreferencesCache({ db: ingest.t.db, redis: ingest.connection, prefix: ingest.r.prefix });
  app = await buildApp({
    db: ingest.t.db, producer: ingest.producer, keys: testKeys, logger: createLogger({ service: 'ingest-clients-test', level: 'silent' }),
    redisPing: () => ingest.connection.ping(), bodyLimitBytes: 65_536, webhooks: testWebhooks, preferencesCache: cache,
  });
});
afterAll(async () => {
  await app?.close();
  await ingest?.close();
});

const erase = (clientId: string, headers: Record<string, string> = ingest.auth) =>
  app.inject({ method: 'DELETE', url: `/api/crm/clients/${encodeURIComponent(clientId)}`, headers });
const exportOf = (clientId: string, headers: Record<string, string> = ingest.auth) =>
  app.inject({ method: 'GET', url: `/api/crm/clients/${encodeURIComponent(clientId)}/export`, headers });
const request = (payload: object) => app.inject({ method: 'POST', url: '/api/crm/communications', payload, headers: ingest.auth });

const inboundPath = '/webhooks/twilio/inbound';
let sids = 0;
function smsFrom(from: string, body: string) {
  const sid = `SM${String(++sids).padStart(32, 'c')}`;
  const params = { MessageSid: sid, SmsSid: sid, AccountSid: `AC${'1'.repeat(32)}`, From: from, To: '+15005550006', Body: body, NumMedia: '0', SmsStatus: 'received', ApiVersion: '2010-04-01' };
  return app.inject({
    method: 'POST', url: inboundPath, payload: new URLSearchParams(params).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(testWebhooks.twilioAuthToken, `${testWebhooks.publicBaseUrl}${inboundPath}`, params) },
  });
}

/**
 * Every place in the database that holds `needle`: each text, varchar, json, jsonb, array and
 * enum column of every table (cast to text), and each bytea column read as escaped text.
 */
async function findInDatabase(db: Kysely<Database>, needle: string): Promise<string[]> {
  const { rows: columns } = await sql<{ table_name: string; column_name: string; data_type: string }>`
    SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
    JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
    WHERE c.table_schema = current_schema()
      AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'ARRAY', 'USER-DEFINED')
    ORDER BY 1, 2`.execute(db);
  expect(columns.map((column) => column.table_name)).toEqual(expect.arrayContaining(['crm_communications', 'crm_delivery_logs', 'crm_audit_log', 'crm_inbound_messages', 'crm_attachments']));
  const pattern = `%${needle.replace(/[\\%_]/g, '\\$&')}%`;
  const found: string[] = [];
  for (const { table_name: table, column_name: column, data_type: type } of columns) {
    const value = type === 'bytea' ? sql`encode(${sql.ref(column)}, 'escape')` : sql`${sql.ref(column)}::text`;
    const { rows } = await sql<{ n: string }>`SELECT count(*)::text AS n FROM ${sql.table(table)} WHERE ${value} ILIKE ${pattern}`.execute(db);
    if (Number(rows[0]?.n) > 0) found.push(`${table}.${column}`);
  }
  return found;
}

/** Every key under the test's queue prefix with everything it holds, as text. */
async function redisDump(): Promise<{ key: string; value: string }[]> {
  const { redis } = ingest.r;
  const dump: { key: string; value: string }[] = [];
  for (const key of await ingest.r.keys()) {
    const type = await redis.type(key);
    const value =
      type === 'string' ? await redis.get(key)
      : type === 'hash' ? JSON.stringify(await redis.hgetall(key))
      : type === 'list' ? JSON.stringify(await redis.lrange(key, 0, -1))
      : type === 'set' ? JSON.stringify(await redis.smembers(key))
      : type === 'zset' ? JSON.stringify(await redis.zrange(key, 0, -1))
      : type === 'stream' ? JSON.stringify(await redis.xrange(key, '-', '+'))
      : '';
    dump.push({ key, value: value ?? '' });
  }
  return dump;
}

describe('DELETE /api/crm/clients/:clientId (done when: nothing of the client is left anywhere)', () => {
  it('erases the client from every table and every queue; export shows everything before and 404 after; a second erase is 404', async () => {
    const tag = randomBytes(4).toString('hex');
    const clientId = `gdpr-client-${tag}`;
    const email = `ada.gdpr.${tag}@example.com`;
    const phone = `+1415${String(1_000_000 + (parseInt(tag, 16) % 9_000_000))}`;
    const name = `Lovelace${tag}`;
    const { db } = ingest.t;

    // The client arrives with a request that carries its contact details …
    const created: string[] = [];
    for (const body of [
      { messageType: 'vendor_options', variables: { clientName: name, vendors: [{ name: 'Rose Hall' }, { name: 'Oak Barn' }] }, recipient: { email, phone, timezone: 'Europe/London' }, idempotencyKey: `${clientId}:vendors:v1` },
      { messageType: 'budget_summary', variables: { clientName: name, total: 18_500, currency: 'EUR' } },
      { messageType: 'welcome', variables: { clientName: name } },
      { messageType: 'reminder', urgency: 'low', variables: { clientName: name }, metadata: { note: `ask ${name} about the cake` } },
    ]) {
      const response = await request({ clientId, planId: `plan-${name}`, ...body });
      expect(response.statusCode).toBe(202);
      created.push(response.json<{ id: string }>().id);
    }
    const [sentId, failedId, waitingId, digestItemId] = created as [string, string, string, string];

    // … one is sent by SMS (its messaging job, which carries the client id, completed) …
    await queueOnFirstChannelMany(db, [{ id: sentId, channel: 'sms', plan: ['sms'], reason: 'prefers sms' }]);
    await claimAttempts(db, testKeys, [{ id: sentId, attempt: 1, channel: 'sms', provider: 'twilio' }]);
    expect(await recordSentMany(db, [{ id: sentId, attempt: 1, channel: 'sms', provider: 'twilio', providerMessageId: `SM${tag}${'0'.repeat(24)}`, latencyMs: 4, detail: {} }])).toEqual([true]);
    await ingest.producer.enqueue(QueueName.messaging, { communicationId: sentId, channel: 'sms', attempt: 1, clientId });
    const workerConnection = ingest.connection.duplicate({ maxRetriesPerRequest: null });
    const worker = new Worker(QueueName.messaging, async () => 'sent', { connection: workerConnection, prefix: ingest.r.prefix });
    const completedJob = jobIdFor(QueueName.messaging, { communicationId: sentId, channel: 'sms', attempt: 1 });
    for (let i = 0; i < 200 && (await ingest.producer.queue(QueueName.messaging).getJobState(completedJob)) !== 'completed'; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    await worker.close();
    await workerConnection.quit();
    expect(await ingest.producer.queue(QueueName.messaging).getJobState(completedJob)).toBe('completed');

    // … one fails by email with an SMTP answer that echoes the address …
    await queueOnFirstChannelMany(db, [{ id: failedId, channel: 'email', plan: ['email'], reason: 'email only' }]);
    await claimAttempts(db, testKeys, [{ id: failedId, attempt: 1, channel: 'email', provider: 'smtp' }]);
    const failed = await moveCommunication(db, {
      id: failedId, guard: { statuses: ['sending'], attempt: 1, channel: 'email' }, to: 'failed', event: 'attempt_failed', provider: 'smtp',
      error: { message: `550 5.1.1 <${email}>: Recipient address rejected: User unknown`, code: '550', category: 'permanent' }, failureReason: 'all_channels_failed',
    });
    expect(failed.applied).toBe(true);

    // … one waits in crm.requests (its job is there since the request), one waits in a digest with its delayed flush job …
    expect(await ingest.producer.queue(QueueName.requests).getJobState(`${waitingId}.request`)).toBe('waiting');
    const digest = await joinDigest(db, { id: digestItemId, clientId, flushAt: new Date(Date.now() + 3_600_000), maxItems: 20, reason: 'low urgency' });
    expect(digest.joined).toBe(true);
    const digestId = digest.joined ? digest.digestId : '';
    await ingest.producer.enqueue(QueueName.digest, { clientId, windowId: digestId }, { delay: 3_600_000 });

    // … and the client answers by SMS from its phone.
    expect((await smsFrom(phone, '2')).statusCode).toBe(200);
    expect((await smsFrom(phone, `It's ${name}, please call me on ${phone}`)).statusCode).toBe(200);
    expect((await CommunicationRepository.findById(db, sentId))?.status).toBe('responded');
    // The routing preferences are cached.
    expect((await cache.getMany([clientId])).get(clientId)).toMatchObject({ hasEmail: true, hasPhone: true });
    expect(await ingest.connection.exists(cache.entryKey(clientId))).toBe(1);

    // The search finds what is there (so that finding nothing later means something).
    expect(await findInDatabase(db, clientId)).toEqual(expect.arrayContaining(['crm_communications.client_id', 'crm_client_preferences.client_id', 'crm_digests.client_id']));
    expect(await findInDatabase(db, email)).toEqual(expect.arrayContaining(['crm_communications.last_error', 'crm_delivery_logs.error_message']));
    expect(await findInDatabase(db, name)).toEqual(expect.arrayContaining(['crm_communications.variables', 'crm_communications.metadata', 'crm_communications.plan_id']));

    // Export before the erasure: everything, decrypted.
    const exported = await exportOf(clientId);
    expect(exported.statusCode).toBe(200);
    expect(exported.headers['content-type']).toContain('application/json');
    expect(exported.headers['content-disposition']).toBe(`attachment; filename="client-${clientId}-export.json"`);
    const data = exported.json<ClientExport>();
    expect(data.preferences).toMatchObject({ email, phone, timezone: 'Europe/London' });
    expect(data.communications.map((c) => c.id).sort()).toEqual([...created].sort());
    expect(data.communications.find((c) => c.id === sentId)?.deliveryLog.map((entry) => entry.event)).toContain('attempt_succeeded');
    expect(data.inboundMessages.map((m) => m.text).sort()).toEqual(['2', `It's ${name}, please call me on ${phone}`].sort());
    expect(data.digests).toEqual([expect.objectContaining({ id: digestId, status: 'open' })]);
    expect(exported.body).toContain(email);

    // In Redis meanwhile: the jobs of the requests, the digest and the answers' events.
    const before = (await redisDump()).filter(({ key, value }) => !key.endsWith(':events') && created.some((id) => value.includes(id))).map(({ key }) => key);
    expect(before).toEqual(expect.arrayContaining([
      `${ingest.r.prefix}:crm.requests:${waitingId}.request`,
      `${ingest.r.prefix}:crm.messaging:${completedJob}`,
      expect.stringMatching(new RegExp(`:crm\\.events:${sentId}\\.responded\\.\\d+$`)),
      expect.stringMatching(/:crm\.events:inbound\.[0-9a-f-]{36}\.replied$/),
    ]));
    expect(await ingest.producer.queue(QueueName.digest).getJobState(`digest.${digestId}`)).toBe('delayed');

    // Erase.
    const response = await erase(clientId);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ clientId, erased: true, communications: 4, cancelled: 2, inboundMessages: 2, attachments: 0 });

    // Nothing of the client in any column of any table: not the email, the phone (E.164 or
    // digits only), the name or the client id. The one exception is crm_audit_log.client_id:
    // the audit rows record whose data was exported and erased, by whom and when (the record
    // that the erasure was done, which the controller must be able to show); they hold no
    // contact details, no text and not the anonymous id, so they link to nothing that was kept.
    expect(await findInDatabase(db, email)).toEqual([]);
    expect(await findInDatabase(db, phone)).toEqual([]);
    expect(await findInDatabase(db, phone.slice(1))).toEqual([]);
    expect(await findInDatabase(db, name)).toEqual([]);
    expect(await findInDatabase(db, clientId)).toEqual(['crm_audit_log.client_id']);
    const audit = await db.selectFrom('crm_audit_log').select(['action', 'actor']).where('client_id', '=', clientId).orderBy('id').execute();
    expect(audit).toEqual([{ action: 'client.exported', actor: ingest.apiKeyId }, { action: 'client.erased', actor: ingest.apiKeyId }]);

    // The rows stay for anonymous counts, under an anonymous id; what had not left is cancelled.
    const kept = await db.selectFrom('crm_communications').select(['id', 'client_id', 'status']).where('id', 'in', created).orderBy('id').execute();
    expect(new Set(kept.map((row) => row.client_id)).size).toBe(1);
    expect(kept[0]!.client_id.startsWith(ERASED_ID_PREFIX)).toBe(true);
    expect(Object.fromEntries(kept.map((row) => [row.id, row.status]))).toEqual({ [sentId]: 'responded', [failedId]: 'failed', [waitingId]: 'cancelled', [digestItemId]: 'cancelled' });

    // No job of the client is left in Redis: not the waiting request, not the digest's delayed
    // flush, not the completed messaging job; nothing under the prefix holds its contact details,
    // its name or its id. The cached preferences are gone. (The cache's generation counter,
    // `prefs-gen:<clientId>`, outlives the entry on purpose: it keeps a read that began before the
    // erasure from caching the erased row again; it holds a number and expires within a day.)
    expect(await ingest.producer.queue(QueueName.requests).getJob(`${waitingId}.request`)).toBeUndefined();
    expect(await ingest.producer.queue(QueueName.digest).getJob(`digest.${digestId}`)).toBeUndefined();
    expect(await ingest.producer.queue(QueueName.messaging).getJob(completedJob)).toBeUndefined();
    expect(await ingest.connection.exists(cache.entryKey(clientId))).toBe(0);
    const dump = await redisDump();
    expect(dump.filter(({ key }) => created.some((id) => key.includes(id)) || key.includes(digestId))).toEqual([]);
    expect(dump.filter(({ key }) => key.includes(clientId)).map(({ key }) => key)).toEqual(
      (await ingest.connection.exists(cache.generationKey(clientId))) === 1 ? [cache.generationKey(clientId)] : [],
    );
    for (const needle of [clientId, email, phone, phone.slice(1), name]) {
      expect(dump.filter(({ value }) => value.includes(needle)).map(({ key }) => key)).toEqual([]);
    }
    // No job (of any queue, crm.events included: the `responded` event and the `client.replied`
    // of the answers) names the client's communications any more. BullMQ's own event streams
    // (`<queue>:events`, capped) still list job ids that were added and removed: ids, nothing more.
    const jobsNaming = dump.filter(({ key, value }) => !key.endsWith(':events') && created.some((id) => value.includes(id)));
    expect(jobsNaming.map(({ key }) => key)).toEqual([]);
    expect(await ingest.producer.queue(QueueName.requests).getWaitingCount()).toBe(0);

    // After: nothing to export, nothing to erase.
    const gone = await exportOf(clientId);
    expect(gone.statusCode).toBe(404);
    expect(gone.headers['content-type']).toContain('application/problem+json');
    expect(gone.json()).toMatchObject({ code: 'client_not_found', status: 404, errors: [{ field: 'clientId', in: 'params' }] });
    const again = await erase(clientId);
    expect(again.statusCode).toBe(404);
    expect(again.json()).toMatchObject({ code: 'client_not_found' });
    expect(await db.selectFrom('crm_audit_log').select('id').where('client_id', '=', clientId).execute()).toHaveLength(2);
  });
});

describe('/api/crm/clients/:clientId: input and auth', () => {
  it('404 for a client never seen, on both routes', async () => {
    for (const response of [await erase('never-seen-client'), await exportOf('never-seen-client')]) {
      expect(response.statusCode).toBe(404);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.json()).toMatchObject({ code: 'client_not_found', title: problemTypes.client_not_found.title });
    }
  });

  it('400 naming clientId for an id that is not one (an email address, a space, a leading dash, a semicolon)', async () => {
    for (const bad of ['ada@example.com', 'has space', '-leading-dash', 'semi;colon']) {
      for (const response of [await erase(bad), await exportOf(bad)]) {
        expect(response.statusCode).toBe(400);
        expect(response.headers['content-type']).toContain('application/problem+json');
        const body = response.json<{ code: string; detail: string; errors: { field: string; in: string }[] }>();
        expect(body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'clientId', in: 'params' }] });
        // The value is never echoed back.
        expect(JSON.stringify(body)).not.toContain('ada@example.com');
      }
    }
  });

  it('a client id of up to 128 characters reaches the routes; a longer one is a 400 naming clientId', async () => {
    const longest = 'x'.repeat(128);
    for (const response of [await erase(longest), await exportOf(longest)]) {
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ code: 'client_not_found' });
    }
    for (const response of [await erase('x'.repeat(129)), await exportOf('x'.repeat(129))]) {
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'clientId', in: 'params' }] });
    }
  });

  it('401 without a valid API key, and nothing is erased or exported', async () => {
    const clientId = `auth-client-${randomBytes(3).toString('hex')}`;
    expect((await request({ clientId, planId: 'p', messageType: 'welcome', variables: { clientName: 'Ada' }, recipient: { email: 'ada@example.com' } })).statusCode).toBe(202);
    for (const headers of [{}, { authorization: 'Bearer crm_not_a_real_key' }] as Record<string, string>[]) {
      for (const response of [await erase(clientId, headers), await exportOf(clientId, headers)]) {
        expect(response.statusCode).toBe(401);
        expect(response.json()).toMatchObject({ code: 'unauthorized' });
      }
    }
    expect(await ingest.t.db.selectFrom('crm_client_preferences').select('client_id').where('client_id', '=', clientId).execute()).toHaveLength(1);
    expect(await ingest.t.db.selectFrom('crm_audit_log').select('id').where('client_id', '=', clientId).execute()).toHaveLength(0);
  });

  it('names the export file after a sanitised client id', async () => {
    const clientId = `crm:client.${randomBytes(3).toString('hex')}`;
    expect((await request({ clientId, planId: 'p', messageType: 'welcome', variables: { clientName: 'Ada' }, recipient: { email: 'ada@example.com' } })).statusCode).toBe(202);
    const response = await exportOf(clientId);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-disposition']).toBe(`attachment; filename="client-${clientId.replace(':', '_')}-export.json"`);
    expect(response.headers['cache-control']).toBe('no-store');
  });
});

describe('jobsOfErasure', () => {
  it('names every job a communication and a digest can have', () => {
    const id = '6f1c2b9e-8a4d-4c1e-9f3a-2b7d5e8c1a90';
    const due = new Date('2026-01-01T08:00:00Z');
    const jobs = jobsOfErasure({ jobs: [{ id, attemptCount: 2, scheduledFor: due }], digestIds: ['0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d'] });
    const ids = jobs.map((job) => `${job.queue} ${job.jobId}`);
    expect(ids).toEqual(expect.arrayContaining([
      `crm.requests ${id}.request`, `crm.requests ${id}.request.${due.getTime()}`,
      `crm.email ${id}.email.1`, `crm.email ${id}.email.3`, `crm.messaging ${id}.sms.2`, `crm.messaging ${id}.whatsapp.3`,
      `crm.fallback ${id}.fallback.email`, `crm.fallback ${id}.fallback.sms`, `crm.fallback ${id}.fallback.whatsapp`,
      'crm.digest digest.0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d',
    ]));
  });
});
