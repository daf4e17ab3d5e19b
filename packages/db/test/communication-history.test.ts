import { sql } from 'kysely';
import type { CommunicationStatus, MessageChannel } from '@crm/core';
import { CommunicationRepository, InvalidCursorError, encodeCursor, type CommunicationRow, type HistoryQuery } from '@crm/db';
import { createTestDatabase, type TestDatabase } from '@crm/testing';

let t: TestDatabase;
let all: CommunicationRow[];

// 40 communications over 4 plans, 3 clients, 3 channels and several statuses, with pairs that
// share a created_at to exercise the tie-break on id.
beforeAll(async () => {
  t = await createTestDatabase();
  const base = Date.parse('2026-03-01T00:00:00.000Z');
  const channels: (MessageChannel | null)[] = ['email', 'sms', 'whatsapp', null];
  const statuses: CommunicationStatus[] = ['pending', 'queued', 'sent', 'delivered', 'failed'];
  for (let i = 0; i < 40; i++) {
    const { communication } = await CommunicationRepository.save(t.db, {
      clientId: `client-${i % 3}`,
      planId: `plan-${i % 4}`,
      messageType: i % 2 ? 'reminder' : 'welcome',
      urgency: 'normal',
      requestedChannel: null,
      sendAt: null,
      variables: {},
      metadata: {},
      idempotencyKey: null,
      requestHash: null,
    });
    await t.db
      .updateTable('crm_communications')
      .set({
        created_at: new Date(base + Math.floor(i / 2) * 3_600_000), // two rows per hour
        channel: channels[i % 4] ?? null,
        status: statuses[i % 5] ?? 'pending',
      })
      .where('id', '=', communication.id)
      .execute();
  }
  all = await t.db.selectFrom('crm_communications').selectAll().execute();
});
afterAll(() => t.destroy());

const expected = (predicate: (row: CommunicationRow) => boolean) =>
  all
    .filter(predicate)
    .sort((a, b) => b.created_at.getTime() - a.created_at.getTime() || (a.id < b.id ? 1 : -1))
    .map((row) => row.id);

async function collect(query: HistoryQuery): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = query.cursor ?? null;
  let pages = 0;
  do {
    const page = await CommunicationRepository.getHistory(t.db, { ...query, cursor });
    ids.push(...page.items.map((row) => row.id));
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  return { ids, pages };
}

describe('getHistory', () => {
  const from = new Date('2026-03-01T05:00:00.000Z');
  const to = new Date('2026-03-01T12:00:00.000Z');
  const cases: [string, HistoryQuery, (row: CommunicationRow) => boolean][] = [
    ['no filter', {}, () => true],
    ['plan', { planId: 'plan-1' }, (r) => r.plan_id === 'plan-1'],
    ['client', { clientId: 'client-2' }, (r) => r.client_id === 'client-2'],
    ['channel', { channel: 'sms' }, (r) => r.channel === 'sms'],
    ['channels', { channel: ['sms', 'whatsapp'] }, (r) => r.channel === 'sms' || r.channel === 'whatsapp'],
    ['status', { status: 'failed' }, (r) => r.status === 'failed'],
    ['statuses', { status: ['sent', 'delivered'] }, (r) => r.status === 'sent' || r.status === 'delivered'],
    ['date range (from inclusive, to exclusive)', { from, to }, (r) => r.created_at >= from && r.created_at < to],
    ['from only', { from }, (r) => r.created_at >= from],
    ['to only', { to }, (r) => r.created_at < to],
    ['plan + client + status', { planId: 'plan-0', clientId: 'client-0', status: ['pending', 'queued', 'sent', 'delivered', 'failed'] }, (r) => r.plan_id === 'plan-0' && r.client_id === 'client-0'],
    ['plan + channel + range', { planId: 'plan-2', channel: 'whatsapp', from, to }, (r) => r.plan_id === 'plan-2' && r.channel === 'whatsapp' && r.created_at >= from && r.created_at < to],
    ['nothing matches', { planId: 'plan-none' }, () => false],
  ];

  it.each(cases)('filters by %s, newest first, in one page', async (_name, query, predicate) => {
    const page = await CommunicationRepository.getHistory(t.db, { ...query, limit: 500 });
    expect(page.items.map((row) => row.id)).toEqual(expected(predicate));
    expect(page.nextCursor).toBeNull();
  });

  it.each(cases)('pages through %s with a stable order, no repeats, no gaps', async (_name, query, predicate) => {
    const { ids, pages } = await collect({ ...query, limit: 3 });
    const want = expected(predicate);
    expect(ids).toEqual(want);
    expect(pages).toBe(Math.max(1, Math.ceil(want.length / 3)));
  });

  it('breaks ties on created_at by id', async () => {
    const { ids } = await collect({ limit: 1 });
    expect(ids).toEqual(expected(() => true));
  });

  it('is not disturbed by rows inserted while paging', async () => {
    const first = await CommunicationRepository.getHistory(t.db, { planId: 'plan-3', limit: 4 });
    // A newer row arrives: it sorts before the cursor, so later pages neither repeat nor skip.
    const { communication } = await CommunicationRepository.save(t.db, {
      clientId: 'client-9', planId: 'plan-3', messageType: 'welcome', urgency: 'low', requestedChannel: null, sendAt: null, variables: {}, metadata: {}, idempotencyKey: null, requestHash: null,
    });
    const rest = await collect({ planId: 'plan-3', limit: 4, cursor: first.nextCursor });
    expect([...first.items.map((r) => r.id), ...rest.ids]).toEqual(expected((r) => r.plan_id === 'plan-3'));
    await t.db.deleteFrom('crm_communications').where('id', '=', communication.id).execute();
  });

  it('refuses a cursor it did not produce', async () => {
    for (const cursor of ['garbage', Buffer.from('2026-01-01|not-a-uuid').toString('base64url'), Buffer.from('yesterday|00000000-0000-4000-8000-000000000000').toString('base64url')]) {
      await expect(CommunicationRepository.getHistory(t.db, { cursor })).rejects.toBeInstanceOf(InvalidCursorError);
    }
    const valid = encodeCursor({ createdAt: new Date(), id: '00000000-0000-4000-8000-000000000000' });
    await expect(CommunicationRepository.getHistory(t.db, { cursor: valid })).resolves.toBeDefined();
  });

  it('refuses a limit outside 1..500', async () => {
    await expect(CommunicationRepository.getHistory(t.db, { limit: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(CommunicationRepository.getHistory(t.db, { limit: 501 })).rejects.toBeInstanceOf(RangeError);
  });

  it('is served by an index for each filter', async () => {
    // With sequential scans discouraged, every query shape must find an index.
    await sql`ANALYZE crm_communications`.execute(t.db);
    await t.db.transaction().execute(async (trx) => {
      await sql`SET LOCAL enable_seqscan = off`.execute(trx);
      for (const [column, value] of [['plan_id', 'plan-1'], ['client_id', 'client-1'], ['status', 'sent'], ['channel', 'sms']] as const) {
        const { rows } = await sql<{ 'QUERY PLAN': string }>`
          EXPLAIN SELECT * FROM crm_communications WHERE ${sql.ref(column)} = ${value}
          AND (created_at, id) < (now(), '00000000-0000-4000-8000-000000000000'::uuid)
          ORDER BY created_at DESC, id DESC LIMIT 51`.execute(trx);
        const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
        expect(plan).toMatch(new RegExp(`Index.*crm_communications_${column.replace('_id', '')}_idx`));
      }
    });
  });
});
