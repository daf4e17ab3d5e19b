import { sql } from 'kysely';
import {
  countStaleEncryptedValues,
  createCallbackSubscription,
  encryptedTables,
  getClientContact,
  piiKeyId,
  recordInbound,
  rotateEncryptionKeys,
  upsertClientContact,
  type PiiKeys,
} from '@crm/db';
import { testDatabasePerFile } from '@crm/testing';

const t = testDatabasePerFile();
const oldKey = 'old-encryption-key-0123456789abcdef';
const newKey = 'new-encryption-key-0123456789abcdef';
const blindIndexKey = 'b'.repeat(32);
const before: PiiKeys = { encryptionKey: oldKey, blindIndexKey };
const during: PiiKeys = { encryptionKey: newKey, blindIndexKey, previousEncryptionKeys: [oldKey] };
const after: PiiKeys = { encryptionKey: newKey, blindIndexKey };

const callbackSecret = async (keys: PiiKeys, id: string) =>
  (await sql<{ secret: string }>`SELECT crm_pii_decrypt(secret_encrypted, secret_key_id, ${[keys.encryptionKey].map(piiKeyId)}::text[], ${[keys.encryptionKey]}::text[]) AS secret
    FROM crm_callback_subscriptions WHERE id = ${id}::uuid`.execute(t.db)).rows[0]?.secret;
const inboundText = async (keys: PiiKeys, id: string) =>
  (await sql<{ text: string }>`SELECT crm_pii_decrypt(body_encrypted, body_key_id, ${[keys.encryptionKey].map(piiKeyId)}::text[], ${[keys.encryptionKey]}::text[]) AS text
    FROM crm_inbound_messages WHERE id = ${id}::uuid`.execute(t.db)).rows[0]?.text;

describe('encryption key rotation', () => {
  it('re-encrypts every value under the new key in batches, and every row stays readable throughout', async () => {
    const clients = Array.from({ length: 23 }, (_, i) => ({ clientId: `rot-${String(i).padStart(2, '0')}`, email: `rot${i}@example.com`, phone: `+1415555${String(1000 + i)}` }));
    for (const client of clients) await upsertClientContact(t.db, before, client);
    // A client with only an email, and one written before key ids existed (migration 0009).
    await upsertClientContact(t.db, before, { clientId: 'rot-email-only', email: 'only@example.com' });
    await upsertClientContact(t.db, before, { clientId: 'rot-legacy', email: 'legacy@example.com', phone: '+14155550999' });
    await t.db.updateTable('crm_client_preferences').set({ email_key_id: null, phone_key_id: null }).where('client_id', '=', 'rot-legacy').execute();
    // A callback subscription's signing secret is encrypted the same way.
    const subscription = await createCallbackSubscription(t.db, before, { url: 'http://127.0.0.1:9/events', events: ['client.replied'], secret: 'whsec_rotation' });
    const inbound = await recordInbound(t.db, before, {
      provider: 'twilio', providerMessageId: 'SM-rotation-1', channel: 'sms', from: '+14155551000', text: 'option 2 please', receivedAt: new Date(), replyWindowMs: 60_000,
    });

    // The new key is deployed with the old one as a previous key: both kinds of rows read.
    const mixed = await getClientContact(t.db, during, 'rot-03');
    expect(mixed).toEqual({ email: 'rot3@example.com', phone: '+14155551003' });
    // A change made meanwhile is written under the new key.
    await upsertClientContact(t.db, during, { clientId: 'rot-04', email: 'changed4@example.com' });
    expect(await countStaleEncryptedValues(t.db, during)).toEqual({ crm_client_preferences: 23 * 2 - 1 + 1 + 2, crm_inbound_messages: 1, crm_callback_subscriptions: 1 });

    const batches: number[] = [];
    const result = await rotateEncryptionKeys(t.db, during, { batchSize: 5, onBatch: (p) => batches.push(p.rows) });
    expect(result).toEqual({ rotated: { crm_client_preferences: 25, crm_inbound_messages: 1, crm_callback_subscriptions: 1 }, remaining: 0 });
    expect(Math.max(...batches)).toBeLessThanOrEqual(5);
    expect(batches.length).toBeGreaterThanOrEqual(6);

    // The old key can go: everything reads with the new key alone.
    for (const client of clients) {
      const email = client.clientId === 'rot-04' ? 'changed4@example.com' : client.email;
      expect(await getClientContact(t.db, after, client.clientId)).toEqual({ email, phone: client.phone });
    }
    expect(await getClientContact(t.db, after, 'rot-email-only')).toEqual({ email: 'only@example.com', phone: null });
    expect(await getClientContact(t.db, after, 'rot-legacy')).toEqual({ email: 'legacy@example.com', phone: '+14155550999' });
    if (inbound.outcome !== 'recorded') throw new Error(`inbound not recorded: ${inbound.outcome}`);
    expect(await inboundText(after, inbound.inboundId)).toBe('option 2 please');
    expect(await callbackSecret(after, subscription.id)).toBe('whsec_rotation');
    // …and not with the old one.
    await expect(getClientContact(t.db, before, 'rot-05')).rejects.toThrow(/no key decrypts/);

    // A second run has nothing to do.
    expect(await rotateEncryptionKeys(t.db, during)).toEqual({ rotated: { crm_client_preferences: 0, crm_inbound_messages: 0, crm_callback_subscriptions: 0 }, remaining: 0 });
  });

  it('keeps up with writers running at the same time (online): nothing unreadable, nothing left behind', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `online-${String(i).padStart(3, '0')}`);
    for (const clientId of ids) await upsertClientContact(t.db, before, { clientId, email: `${clientId}@example.com`, phone: '+14155552000' });
    let stop = false;
    let writes = 0;
    const writer = (async () => {
      // Updates of the same rows through the running engine's code, with the new key.
      for (let i = 0; !stop; i = (i + 7) % ids.length) {
        await upsertClientContact(t.db, during, { clientId: ids[i]!, phone: `+1415555${String(3000 + (writes % 1000)).padStart(4, '0')}` });
        writes++;
      }
    })();
    const result = await rotateEncryptionKeys(t.db, during, { batchSize: 20 });
    stop = true;
    await writer;
    expect(writes).toBeGreaterThan(0);
    expect(result.remaining).toBe(0);
    for (const clientId of ids) expect((await getClientContact(t.db, after, clientId))?.email).toBe(`${clientId}@example.com`);
  });

  it('covers every encrypted column of the schema', async () => {
    const { rows } = await sql<{ table_name: string; column_name: string }>`
      SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND column_name LIKE '%\\_encrypted' ORDER BY 1, 2`.execute(t.db);
    const listed = encryptedTables.flatMap(({ table, columns }) => columns.map((column) => `${table}.${column.value}`)).sort();
    expect(rows.map((row) => `${row.table_name}.${row.column_name}`)).toEqual(listed);
  });
});
