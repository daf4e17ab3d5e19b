import type { Redis } from 'ioredis';
import { getAnalyticsReport, rebuildAnalyticsRollups, type AnalyticsCellKey } from '@crm/db';
import { createLogger, openRateGauge } from '@crm/observability';
import { createRedisConnection } from '@crm/queue';
import { testDatabasePerFile, testProducerPerFile, waitFor } from '@crm/testing';
import { startAnalyticsWorker, type AnalyticsWorker } from '@crm/analytics-worker';
import { insertAnalyticsFixture } from '../../../packages/db/test/analytics-fixture';

const t = testDatabasePerFile();
const q = testProducerPerFile();
let ids: string[];
let connection: Redis;
let worker: AnalyticsWorker;
const passes: (readonly AnalyticsCellKey[])[] = [];

const id = (row: number): string => {
  const found = ids[row - 1];
  if (found === undefined) throw new Error(`no fixture row ${row}`);
  return found;
};
const range = { from: '2026-05-10', to: '2026-05-11' };
const whatsappCell: AnalyticsCellKey = { day: '2026-05-10', channel: 'whatsapp', messageType: 'vendor_options' };
const emailCell: AnalyticsCellKey = { day: '2026-05-10', channel: 'email', messageType: 'budget_summary' };
const key = (c: AnalyticsCellKey) => `${c.day}|${c.channel}|${c.messageType}`;
const recomputesOf = (cell: AnalyticsCellKey) => passes.flat().filter((c) => key(c) === key(cell)).length;

beforeAll(async () => {
  ids = await insertAnalyticsFixture(t.db);
  await rebuildAnalyticsRollups(t.db, '2026-05-01', '2026-05-31');
  connection = createRedisConnection({ url: q.r.url, role: 'worker' });
  worker = startAnalyticsWorker({
    db: t.db, logger: createLogger({ service: 'analytics-worker-test', level: 'silent' }), connection, prefix: q.r.prefix,
    flushDelayMs: 300, maxFlushDelayMs: 3000, sweepIntervalMs: null, gaugeIntervalMs: null,
    clock: () => new Date('2026-05-11T18:00:00Z'),
    onRecomputed: (cells) => passes.push(cells),
  });
  await worker.ready();
});
afterAll(async () => {
  await worker.close();
  await connection.quit();
});

describe('analytics worker', () => {
  it('recomputes each touched cell once per burst of events', async () => {
    // Rows 12 and 13 (WhatsApp) get read receipts; row 1 (email) is opened by a person.
    await t.db.updateTable('crm_communications').set({ status: 'opened', opened_at: new Date('2026-05-10T12:00:00Z') }).where('id', 'in', [id(12), id(13)]).execute();
    await t.db.updateTable('crm_communications').set({ delivered_at: new Date('2026-05-10T11:00:00Z') }).where('id', '=', id(13)).execute();
    await t.db.updateTable('crm_communications').set({ status: 'opened', opened_at: new Date('2026-05-10T12:00:00Z') }).where('id', '=', id(1)).execute();
    passes.length = 0;
    const at = (s: number) => new Date(Date.UTC(2026, 4, 10, 12, 0, s)).toISOString();
    await q.producer.enqueueMany('crm.events', [
      { communicationId: id(12), event: 'opened', at: at(1) },
      { communicationId: id(13), event: 'delivered', at: at(2) },
      { communicationId: id(13), event: 'opened', at: at(3) },
      { communicationId: id(11), event: 'opened', at: at(4) },
      { communicationId: id(1), event: 'opened', at: at(5) },
    ]);
    await waitFor(() => recomputesOf(whatsappCell) > 0 && recomputesOf(emailCell) > 0, { message: 'the cells to be recomputed' });
    await new Promise((resolve) => setTimeout(resolve, 600)); // room for a second pass, if there were one
    expect([recomputesOf(whatsappCell), recomputesOf(emailCell), passes.flat().length]).toEqual([1, 1, 2]);

    // WhatsApp: rows 11, 12, 13 all delivered and opened (read, no machine flag) now: 3/3.
    const whatsapp = (await getAnalyticsReport(t.db, { ...range, channel: 'whatsapp' })).overall;
    expect([whatsapp.delivered, whatsapp.opened, whatsapp.openedHuman, whatsapp.deliveryRate, whatsapp.openRate]).toEqual([3, 3, 3, 1, 1]);
    // Email, budget_summary: row 1 now opened with no machine flag: opened 5 of 5 delivered, human 4 (2, 1, 4, 6).
    const email = (await getAnalyticsReport(t.db, { ...range, messageType: 'budget_summary' })).overall;
    expect([email.delivered, email.opened, email.openedHuman]).toEqual([5, 5, 4]);
  });

  it('changes nothing when an event is delivered again', async () => {
    const before = await getAnalyticsReport(t.db, range);
    passes.length = 0;
    await q.producer.enqueue('crm.events', { communicationId: id(12), event: 'opened', at: '2026-05-10T12:00:01.500Z' });
    await waitFor(() => recomputesOf(whatsappCell) === 1, { message: 'the cell to be recomputed' });
    expect(await getAnalyticsReport(t.db, range)).toEqual(before);
  });

  it('ignores a reply to no communication', async () => {
    passes.length = 0;
    await q.producer.enqueue('crm.events', { event: 'client.replied', inboundId: '00000000-0000-4000-8000-000000000001', at: '2026-05-10T12:00:00.000Z' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(passes).toEqual([]);
  });

  it('sets crm_open_rate over the rolling 7-day window', async () => {
    await worker.updateGauge();
    const values = (await openRateGauge.get()).values.map((v) => [v.labels.channel, v.labels.message_type, Math.round(v.value * 10_000) / 10_000]);
    // 05-05…05-11 (row 20, on 05-01, is outside). email/budget_summary: 5 opened of 5 delivered (after the first test);
    // email/welcome: row 16, 1 of 1; sms/reminder: 0 of 4; whatsapp/vendor_options: 3 of 3.
    expect(values.sort()).toEqual([
      ['email', 'budget_summary', 1],
      ['email', 'welcome', 1],
      ['sms', 'reminder', 0],
      ['whatsapp', 'vendor_options', 1],
    ]);
  });
});
