import { createHash, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { buildApp } from '@crm/ingest';
import { CommunicationRepository } from '@crm/db';
import { createLogger } from '@crm/observability';
import type { QueueProducer } from '@crm/queue';
import type { TestDatabase, TestRedis } from '@crm/testing';
import { startTestIngest, testKeys, type TestIngest } from './support/test-ingest';

/** Attachment limit of this file's app: small, so that tests cross it with small files. */
const LIMIT = 4096;

let t: TestDatabase;
let r: TestRedis;
let producer: QueueProducer;
let app: FastifyInstance;
let auth: { authorization: string };
let ingest: TestIngest;
beforeAll(async () => {
  ingest = await startTestIngest('ingest-attachments-test', {
    bodyLimitBytes: 65_536,
    email: { trackingSecret: 't'.repeat(32), machineOpenWindowMs: 5000, attachmentMaxTotalBytes: LIMIT },
  });
  ({ t, r, producer, app, auth } = ingest);
});
afterAll(() => ingest.close());

/** A file of `size` bytes starting with the magic bytes of its type; the rest carries `marker`. */
function file(type: 'pdf' | 'png' | 'jpeg', size: number, marker = 'ATTACHMENT-BYTES-5e1d'): Buffer {
  const head = { pdf: Buffer.from('%PDF-1.7\n'), png: Buffer.from('89504e470d0a1a0a', 'hex'), jpeg: Buffer.from('ffd8ffe0', 'hex') }[type];
  const body = Buffer.alloc(size - head.length, ' ');
  body.write(marker, 0);
  return Buffer.concat([head, body]);
}
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

interface Uploaded { id: string; filename: string; contentType: string; size: number; sha256: string }
const upload = (content: Buffer | string, contentType: string | undefined, filename: string | null = 'file.bin', target: FastifyInstance = app) =>
  target.inject({
    method: 'POST',
    url: filename === null ? '/api/crm/attachments' : `/api/crm/attachments?filename=${encodeURIComponent(filename)}`,
    headers: { ...auth, ...(contentType !== undefined && { 'content-type': contentType }) },
    payload: content,
  });
const uploaded = async (content: Buffer, contentType: string, filename = 'file.bin'): Promise<Uploaded> => {
  const response = await upload(content, contentType, filename);
  expect(response.statusCode).toBe(201);
  return response.json<Uploaded>();
};
const countAttachments = async () => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM crm_attachments`.execute(t.db)).rows[0]?.n);
const countCommunications = async () => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM crm_communications`.execute(t.db)).rows[0]?.n);

/** Every value under the test's Redis prefix, whatever the key's type. */
async function redisDump(): Promise<string> {
  const values = await Promise.all((await r.keys()).map(async (key) => {
    const type = await r.redis.type(key);
    if (type === 'hash') return r.redis.hgetall(key);
    if (type === 'string') return r.redis.get(key);
    if (type === 'list') return r.redis.lrange(key, 0, -1);
    if (type === 'set') return r.redis.smembers(key);
    if (type === 'zset') return r.redis.zrange(key, 0, -1);
    if (type === 'stream') return r.redis.xrange(key, '-', '+');
    return null;
  }));
  return JSON.stringify(values);
}

const request = (overrides: Record<string, unknown> = {}) => ({
  clientId: 'client-files', planId: 'plan-files', messageType: 'blueprint_delivery', recipient: { email: 'files@example.com' }, ...overrides,
});
const post = (body: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/api/crm/communications', payload: body as object, headers: { ...auth, ...headers } });
const postBatch = (items: unknown[]) => app.inject({ method: 'POST', url: '/api/crm/communications/batch', payload: { items }, headers: auth });

describe('POST /api/crm/attachments', () => {
  it.each([
    ['application/pdf', 'pdf', 'Budget 2026 – final.pdf'],
    ['image/png', 'png', 'floor plan.png'],
    ['image/jpeg', 'jpeg', 'venue.jpg'],
  ] as const)('stores a %s and answers 201 with its id, size and SHA-256', async (contentType, type, filename) => {
    const content = file(type, 1000);
    const response = await upload(content, contentType, filename);
    expect(response.statusCode).toBe(201);
    const body = response.json<Uploaded>();
    expect(body).toEqual({ id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/), filename, contentType, size: 1000, sha256: sha256(content) });
    const row = await t.db.selectFrom('crm_attachments').selectAll().where('id', '=', body.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ filename, content_type: contentType, size_bytes: 1000 });
    expect(row.content.equals(content)).toBe(true);
  });

  it('takes the type from the header with parameters and in any case', async () => {
    expect((await upload(file('png', 100), 'Image/PNG; charset=binary')).json()).toMatchObject({ contentType: 'image/png' });
  });

  it.each([
    ['image/png', 'pdf', 'declared image/png but the content is a PDF'],
    ['application/pdf', 'png', 'declared application/pdf but the content is a PNG'],
    ['image/png', 'jpeg', 'declared image/png but the content is a JPEG'],
    ['image/jpeg', 'gif', 'declared image/jpeg but the content is not a PDF, PNG or JPEG'],
  ] as const)('refuses a declared %s whose magic bytes say %s, naming the body (415)', async (contentType, actual, message) => {
    const before = await countAttachments();
    const content = actual === 'gif' ? Buffer.from('GIF89a, named photo.jpg') : file(actual, 200);
    const response = await upload(content, contentType, 'looks-fine.jpg');
    expect(response.statusCode).toBe(415);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ status: 415, code: 'attachment_type_mismatch', detail: `body: ${message}`, errors: [{ field: 'body', in: 'body', message }] });
    expect(await countAttachments()).toBe(before);
  });

  it.each([['text/plain'], ['application/json'], ['image/gif'], ['application/octet-stream'], ['multipart/form-data; boundary=x']])(
    'refuses the content type %s (415 naming the header)',
    async (contentType) => {
      const before = await countAttachments();
      const response = await upload(file('pdf', 100), contentType);
      expect(response.statusCode).toBe(415);
      expect(response.json()).toMatchObject({
        code: 'unsupported_media_type', errors: [{ field: 'content-type', in: 'header', message: 'must be application/pdf, image/png or image/jpeg' }],
      });
      expect(await countAttachments()).toBe(before);
    },
  );

  it('refuses a body without a content type (415) and an empty file (400)', async () => {
    expect((await upload(file('pdf', 100), undefined)).json()).toMatchObject({ status: 415, code: 'unsupported_media_type' });
    const empty = await upload(Buffer.alloc(0), 'application/pdf');
    expect(empty.statusCode).toBe(400);
    expect(empty.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'body', in: 'body' }] });
  });

  it.each([
    ['missing', null],
    ['empty', ''],
    ['longer than 200 characters', `${'a'.repeat(197)}.pdf`],
    ['a path', 'plans/budget.pdf'],
    ['a Windows path', 'C:\\budget.pdf'],
    ['a line break (header injection)', 'budget.pdf\r\nBcc: x@example.com'],
    ['a NUL', 'budget\u0000.pdf'],
    ['a right-to-left override', 'invoice\u202Efdp.exe'],
  ])('refuses a filename that is %s (400 naming filename)', async (_name, filename) => {
    const before = await countAttachments();
    const response = await upload(file('pdf', 100), 'application/pdf', filename);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'filename', in: 'query' }] });
    expect(await countAttachments()).toBe(before);
  });

  it('takes a filename of 200 characters, spaces and accents included', async () => {
    const name = `Résumé – ${'x'.repeat(187)}.pdf`;
    expect(name).toHaveLength(200);
    expect((await uploaded(file('pdf', 100), 'application/pdf', name)).filename).toBe(name);
  });

  it('refuses a file over the attachment limit (413) and stores nothing; the limit itself is fine', async () => {
    const before = await countAttachments();
    const response = await upload(file('pdf', LIMIT + 1), 'application/pdf');
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ code: 'body_too_large', errors: [{ field: 'body' }] });
    expect(await countAttachments()).toBe(before);
    expect((await uploaded(file('pdf', LIMIT), 'application/pdf')).size).toBe(LIMIT);
  });

  it('uses the attachment limit, not the JSON body limit, and 10 MiB by default', async () => {
    // BODY_LIMIT_BYTES of 4 KiB and no email settings: uploads may still be up to 10 MiB.
    const small = await buildApp({
      db: t.db, producer, keys: testKeys, logger: createLogger({ service: 'ingest-attachments-default', level: 'silent' }),
      redisPing: () => Promise.resolve('PONG'), bodyLimitBytes: 4096,
    });
    try {
      expect((await upload(file('png', 100_000), 'image/png', 'big.png', small)).statusCode).toBe(201);
      expect((await upload(file('png', 10 * 1024 * 1024), 'image/png', 'max.png', small)).statusCode).toBe(201);
      expect((await upload(file('png', 10 * 1024 * 1024 + 1), 'image/png', 'over.png', small)).json()).toMatchObject({ status: 413, code: 'body_too_large' });
      // JSON routes keep their own limit.
      const json = await small.inject({ method: 'POST', url: '/api/crm/communications', headers: auth, payload: request({ variables: { pad: 'x'.repeat(5000) } }) });
      expect(json.statusCode).toBe(413);
    } finally {
      await small.close();
    }
  });

  it('needs an API key, and reads nothing without one', async () => {
    const before = await countAttachments();
    const response = await app.inject({ method: 'POST', url: '/api/crm/attachments?filename=a.pdf', headers: { 'content-type': 'application/pdf' }, payload: file('pdf', 100) });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ code: 'unauthorized' });
    expect(await countAttachments()).toBe(before);
  });

  it('does not change how other routes parse: JSON routes still refuse a PDF body', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/crm/communications', headers: { ...auth, 'content-type': 'application/pdf' }, payload: file('pdf', 100) });
    expect(response.statusCode).toBe(415);
    expect(response.json()).toMatchObject({ code: 'unsupported_media_type', errors: [{ field: 'content-type', message: 'must be application/json' }] });
  });
});

describe('attachments of POST /api/crm/communications', () => {
  it('stores the ids with the communication; Redis gets only the communication id', async () => {
    const pdf = file('pdf', 1200, 'PDF-SECRET-BYTES-91c2');
    const a = await uploaded(pdf, 'application/pdf', 'blueprint-for-ada.pdf');
    const b = await uploaded(file('jpeg', 800), 'image/jpeg', 'venue.jpg');
    const response = await post(request({ attachments: [b.id, a.id] }));
    expect(response.statusCode).toBe(202);
    const { id } = response.json<{ id: string }>();
    expect((await CommunicationRepository.findById(t.db, id))?.attachment_ids).toEqual([b.id, a.id]);

    const job = await producer.queue('crm.requests').getJob(`${id}.request`);
    expect(job?.data).toEqual({ communicationId: id });
    const dump = await redisDump();
    expect(dump).toContain(id);
    for (const absent of ['PDF-SECRET-BYTES-91c2', pdf.toString('base64').slice(0, 40), 'blueprint-for-ada.pdf', a.id, b.id, a.sha256]) {
      expect(dump).not.toContain(absent);
    }
  });

  it('stores [] when there are none', async () => {
    const { id } = (await post(request())).json<{ id: string }>();
    expect((await CommunicationRepository.findById(t.db, id))?.attachment_ids).toEqual([]);
  });

  it('refuses an unknown id with 422 naming attachments.<n>, writing nothing', async () => {
    const known = await uploaded(file('png', 100), 'image/png');
    const before = await countCommunications();
    const response = await post(request({ clientId: 'client-unknown-file', recipient: { email: 'new@example.com' }, attachments: [known.id, randomUUID()] }));
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({ code: 'unknown_attachment', errors: [{ field: 'attachments.1', in: 'body' }] });
    expect(await countCommunications()).toBe(before);
    // The recipient was not stored either.
    const stored = await t.db.selectFrom('crm_client_preferences').select('client_id').where('client_id', '=', 'client-unknown-file').execute();
    expect(stored).toEqual([]);
  });

  it('refuses attachments over the limit in total with 413 naming the one that crosses it', async () => {
    // 1500 + 1500 = 3000 fits in 4096; the third brings it to 4500.
    const files = await Promise.all([1500, 1500, 1500, 100].map((size) => uploaded(file('pdf', size), 'application/pdf')));
    const before = await countCommunications();
    const response = await post(request({ attachments: files.map((f) => f.id) }));
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({
      code: 'attachments_too_large', detail: `attachments.2: brings the attachments to 4500 bytes, over the limit of ${LIMIT}`,
      errors: [{ field: 'attachments.2', in: 'body' }],
    });
    expect(await countCommunications()).toBe(before);
    // The same file twice counts twice.
    const twice = await post(request({ attachments: [files[0]!.id, files[0]!.id, files[0]!.id] }));
    expect(twice.json()).toMatchObject({ status: 413, errors: [{ field: 'attachments.2' }] });
    // Exactly at the limit is accepted.
    const exact = await uploaded(file('png', LIMIT - 1500), 'image/png');
    expect((await post(request({ attachments: [files[0]!.id, exact.id] }))).statusCode).toBe(202);
  });

  it('validates the list itself: ids only, at most ten', async () => {
    const bad = await post(request({ attachments: ['budget.pdf'] }));
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'attachments.0' }] });
    const many = await post(request({ attachments: Array.from({ length: 11 }, () => randomUUID()) }));
    expect(many.json()).toMatchObject({ status: 400, errors: [{ field: 'attachments' }] });
  });

  it('makes the attachments part of the idempotent request: other attachments with the same key conflict', async () => {
    const [a, b] = await Promise.all([uploaded(file('pdf', 100), 'application/pdf'), uploaded(file('png', 100), 'image/png')]);
    const headers = { 'idempotency-key': `files-${randomUUID()}` };
    const first = await post(request({ attachments: [a.id] }), headers);
    expect(first.statusCode).toBe(202);
    expect((await post(request({ attachments: [a.id] }), headers)).json()).toEqual(first.json());
    const other = await post(request({ attachments: [a.id, b.id] }), headers);
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({ code: 'idempotency_conflict' });
  });
});

describe('attachments of POST /api/crm/communications/batch', () => {
  it('stores each item its own ids; jobs carry only communication ids', async () => {
    const [a, b] = await Promise.all([uploaded(file('pdf', 300, 'BATCH-PDF-BYTES-77aa'), 'application/pdf', 'batch-secret.pdf'), uploaded(file('png', 300), 'image/png')]);
    const response = await postBatch([request({ attachments: [a.id, b.id] }), request(), request({ attachments: [b.id] })]);
    expect(response.statusCode).toBe(202);
    const { items } = response.json<{ items: { id: string }[] }>();
    const stored = await Promise.all(items.map(async (item) => (await CommunicationRepository.findById(t.db, item.id))?.attachment_ids));
    expect(stored).toEqual([[a.id, b.id], [], [b.id]]);
    for (const item of items) expect((await producer.queue('crm.requests').getJob(`${item.id}.request`))?.data).toEqual({ communicationId: item.id });
    const dump = await redisDump();
    for (const absent of ['BATCH-PDF-BYTES-77aa', 'batch-secret.pdf', a.id, b.id]) expect(dump).not.toContain(absent);
  });

  it('refuses the whole batch for an unknown id (422) or an item over the limit (413), naming the item', async () => {
    const [small, big] = await Promise.all([uploaded(file('jpeg', 100), 'image/jpeg'), uploaded(file('pdf', 4000), 'application/pdf')]);
    const before = await countCommunications();

    const unknown = await postBatch([request({ attachments: [small.id] }), request({ attachments: [small.id, small.id, randomUUID()] })]);
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json()).toMatchObject({ code: 'unknown_attachment', errors: [{ field: 'items.1.attachments.2', in: 'body' }] });

    // Each item has its own limit: 4000 + 100 in one item is over, 4000 alone in another is not.
    const over = await postBatch([request({ attachments: [big.id] }), request({ attachments: [small.id, big.id] })]);
    expect(over.statusCode).toBe(413);
    expect(over.json()).toMatchObject({ code: 'attachments_too_large', errors: [{ field: 'items.1.attachments.1', in: 'body' }] });
    expect(await countCommunications()).toBe(before);

    expect((await postBatch([request({ attachments: [big.id] }), request({ attachments: [small.id] })])).statusCode).toBe(202);
  });
});
