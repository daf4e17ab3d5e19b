import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import {
  acceptCommunication,
  acceptCommunications,
  CommunicationRepository,
  findAttachmentSizes,
  loadAttachments,
  MissingAttachmentError,
  saveAttachment,
  uuidArrayLiteral,
  type NewCommunication,
} from '@crm/db';
import { testDatabasePerFile, testPiiKeys } from '@crm/testing';

const t = testDatabasePerFile();
const keys = testPiiKeys;

const pdf = Buffer.from('%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n');
const png = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from([0, 1, 2, 0xff, 0xfe, 0])]);
const jpeg = Buffer.from('ffd8ffe000104a464946000101ffd9', 'hex');
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const communication = (overrides: Partial<NewCommunication> = {}): NewCommunication => ({
  clientId: 'attach-1', planId: 'plan-1', messageType: 'blueprint_delivery', urgency: 'normal', requestedChannel: 'email',
  sendAt: null, variables: {}, metadata: {}, idempotencyKey: null, requestHash: null, ...overrides,
});
const attachmentIdsOf = async (id: string) => (await CommunicationRepository.findById(t.db, id))?.attachment_ids;

describe('saveAttachment', () => {
  it('stores the file and returns its id, size and SHA-256', async () => {
    const saved = await saveAttachment(t.db, { filename: 'Blueprint – v2.pdf', contentType: 'application/pdf', content: pdf });
    expect(saved).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), filename: 'Blueprint – v2.pdf', contentType: 'application/pdf', size: pdf.length, sha256: sha256(pdf) });
    const row = await t.db.selectFrom('crm_attachments').selectAll().where('id', '=', saved.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ filename: 'Blueprint – v2.pdf', content_type: 'application/pdf', size_bytes: pdf.length });
    expect(row.content.equals(pdf)).toBe(true);
    expect(row.sha256.toString('hex')).toBe(sha256(pdf));
    expect(row.created_at).toBeInstanceOf(Date);
  });

  it('refuses content that is not of the declared type, writing nothing', async () => {
    const before = await t.db.selectFrom('crm_attachments').select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow();
    await expect(saveAttachment(t.db, { filename: 'x.png', contentType: 'image/png', content: pdf })).rejects.toThrow(/application\/pdf, not image\/png/);
    await expect(saveAttachment(t.db, { filename: 'x.gif', contentType: 'image/gif' as 'image/png', content: Buffer.from('GIF89a') })).rejects.toThrow(TypeError);
    const after = await t.db.selectFrom('crm_attachments').select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  it('is backed by CHECK constraints for any other writer', async () => {
    const raw = (contentType: string, content: Buffer, size: number) =>
      sql`INSERT INTO crm_attachments (filename, content_type, size_bytes, sha256, content)
          VALUES ('f', ${contentType}, ${size}, ${createHash('sha256').update(content).digest()}, ${content})`.execute(t.db);
    await expect(raw('image/gif', png, png.length)).rejects.toThrow(/check constraint/);
    await expect(raw('image/png', png, png.length + 1)).rejects.toThrow(/crm_attachments_size_matches/);
  });
});

describe('findAttachmentSizes', () => {
  it('answers size, type and name of the stored ones only, without their content', async () => {
    const a = await saveAttachment(t.db, { filename: 'a.png', contentType: 'image/png', content: png });
    const b = await saveAttachment(t.db, { filename: 'b.jpg', contentType: 'image/jpeg', content: jpeg });
    const unknown = randomUUID();
    const sizes = await findAttachmentSizes(t.db, [a.id, unknown, b.id, a.id, 'not-a-uuid']);
    expect([...sizes.entries()]).toEqual([
      [a.id, { size: png.length, contentType: 'image/png', filename: 'a.png' }],
      [b.id, { size: jpeg.length, contentType: 'image/jpeg', filename: 'b.jpg' }],
    ]);
    // Upper-case spellings of an id are found and keyed as given.
    expect((await findAttachmentSizes(t.db, [a.id.toUpperCase()])).get(a.id.toUpperCase())).toMatchObject({ size: png.length });
    expect(await findAttachmentSizes(t.db, [])).toEqual(new Map());
  });
});

describe('loadAttachments', () => {
  it('returns the files with their bytes in the order asked, repeats included', async () => {
    const a = await saveAttachment(t.db, { filename: 'a.pdf', contentType: 'application/pdf', content: pdf });
    const b = await saveAttachment(t.db, { filename: 'b.png', contentType: 'image/png', content: png });
    const files = await loadAttachments(t.db, [b.id, a.id, b.id]);
    expect(files.map((file) => [file.id, file.filename, file.contentType])).toEqual([
      [b.id, 'b.png', 'image/png'], [a.id, 'a.pdf', 'application/pdf'], [b.id, 'b.png', 'image/png'],
    ]);
    expect(files.map((file) => Buffer.isBuffer(file.content) && sha256(file.content))).toEqual([sha256(png), sha256(pdf), sha256(png)]);
    expect(await loadAttachments(t.db, [])).toEqual([]);
  });

  it('throws naming every id that is not stored', async () => {
    const a = await saveAttachment(t.db, { filename: 'a.pdf', contentType: 'application/pdf', content: pdf });
    const [x, y] = [randomUUID(), randomUUID()];
    const error = await loadAttachments(t.db, [x, a.id, y, x]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingAttachmentError);
    expect((error as MissingAttachmentError).ids).toEqual([x, y]);
  });
});

describe('attachment ids stored with a communication', () => {
  let ids: string[];
  beforeAll(async () => {
    ids = [
      (await saveAttachment(t.db, { filename: 'one.pdf', contentType: 'application/pdf', content: pdf })).id,
      (await saveAttachment(t.db, { filename: 'two.png', contentType: 'image/png', content: png })).id,
    ];
  });

  it('saveCommunication stores them in order, [] by default', async () => {
    const { communication: withFiles } = await CommunicationRepository.save(t.db, communication({ attachmentIds: [ids[1]!, ids[0]!] }));
    expect(withFiles.attachment_ids).toEqual([ids[1], ids[0]]);
    const { communication: without } = await CommunicationRepository.save(t.db, communication());
    expect(without.attachment_ids).toEqual([]);
  });

  it('saveCommunications (batch) stores each row its own list, of any length', async () => {
    const saved = await CommunicationRepository.saveMany(t.db, [
      communication({ attachmentIds: ids }), communication(), communication({ attachmentIds: [ids[1]!] }),
    ]);
    expect(await Promise.all(saved.map((item) => attachmentIdsOf(item.id)))).toEqual([ids, [], [ids[1]]]);
  });

  it('acceptCommunication (the prepared statement of the single route) stores them', async () => {
    const result = await acceptCommunication(t.db, keys, communication({ attachmentIds: ids }), { email: 'ada@example.com' });
    if (result.outcome !== 'created') throw new Error(`not created: ${result.outcome}`);
    expect(await attachmentIdsOf(result.id)).toEqual(ids);
    const plain = await acceptCommunication(t.db, keys, communication(), null);
    if (plain.outcome !== 'created') throw new Error(`not created: ${plain.outcome}`);
    expect(await attachmentIdsOf(plain.id)).toEqual([]);
  });

  it('acceptCommunications (grouped requests) stores each its own list', async () => {
    const results = await acceptCommunications(t.db, keys, [
      { input: communication({ attachmentIds: [ids[0]!] }), recipient: null },
      { input: communication(), recipient: null },
      { input: communication({ attachmentIds: [ids[1]!, ids[0]!, ids[1]!] }), recipient: null },
    ]);
    const stored = await Promise.all(results.map((result) => (result.outcome === 'created' ? attachmentIdsOf(result.id) : null)));
    expect(stored).toEqual([[ids[0]], [], [ids[1], ids[0], ids[1]]]);
  });
});

describe('uuidArrayLiteral', () => {
  it('quotes every element, so that PostgreSQL reads back exactly the values given', async () => {
    expect(uuidArrayLiteral([])).toBe('{}');
    expect(uuidArrayLiteral(undefined)).toBe('{}');
    const odd = ['a,b', 'c"d', 'e\\f', '{g}', 'NULL'];
    const { rows } = await sql<{ back: string[] }>`SELECT ${uuidArrayLiteral(odd)}::text[] AS back`.execute(t.db);
    expect(rows[0]!.back).toEqual(odd);
  });
});
