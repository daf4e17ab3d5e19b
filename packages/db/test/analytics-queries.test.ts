import { sql } from 'kysely';
import {
  CommunicationRepository,
  getAnalyticsCells,
  getAnalyticsReport,
  getPreferenceDistribution,
  markAnalyticsDirty,
  rebuildAnalyticsRollups,
  recomputeDirtyAnalyticsCells,
  exportCommunicationPages,
  type AnalyticsMetrics,
} from '@crm/db';
import { testDatabasePerFile } from '@crm/testing';
import { insertAnalyticsFixture } from './analytics-fixture';

const t = testDatabasePerFile();
let ids: string[];

beforeAll(async () => {
  ids = await insertAnalyticsFixture(t.db);
  // The migration marks nothing (the table was empty); a rebuild fills the rollups.
  await rebuildAnalyticsRollups(t.db, '2026-05-01', '2026-05-31');
});

const range = { from: '2026-05-10', to: '2026-05-11' };

/** The fixture's figures, worked out by hand (see analytics-fixture.ts for rows #1…#20). */
const expected = {
  // Rows 1–19. sent: all but 5, 9 (never sent), 14, 15 (never routed) = 15.
  // delivered: sent minus 8 (failed), 13 and 17 (sent only) = 12 (2 counts: opened implies delivered).
  // opened: 2, 3, 4, 6, 11, 16 = 6; human: 2 (human log), 4 (clicked), 6 (one human log), 11 (WhatsApp read, no flag) = 4.
  // clicked: 4 = 1. responded: 6, 7, 11, 18 = 4. failed: 8, 9. bounced: 5. cancelled: 15.
  // Responses 600, 120, 300, 60 s: sum 1080, mean 270, median (120 + 300) / 2 = 210.
  overall: {
    total: 19, sent: 15, delivered: 12, opened: 6, openedHuman: 4, clicked: 1, responded: 4, failed: 2, bounced: 1, cancelled: 1,
    responseCount: 4, responseTimeSumSeconds: 1080,
    deliveryRate: 0.8, // 12 / 15
    openRate: 0.5, // 6 / 12
    humanOpenRate: 0.3333, // 4 / 12
    clickRate: 0.0833, // 1 / 12
    responseRate: 0.3333, // 4 / 12
    avgResponseSeconds: 270, medianResponseSeconds: 210,
  },
  // Rows 1–6, 16, 17: sent 1, 2, 3, 4, 6, 16, 17 = 7; delivered 1, 2, 3, 4, 6, 16 = 6; opened 2, 3, 4, 6, 16 = 5;
  // human 2, 4, 6 = 3; clicked 4; responded 6 (600 s); bounced 5.
  email: {
    total: 8, sent: 7, delivered: 6, opened: 5, openedHuman: 3, clicked: 1, responded: 1, failed: 0, bounced: 1, cancelled: 0,
    responseCount: 1, responseTimeSumSeconds: 600,
    deliveryRate: 0.8571, openRate: 0.8333, humanOpenRate: 0.5, clickRate: 0.1667, responseRate: 0.1667, // 6/7, 5/6, 3/6, 1/6, 1/6
    avgResponseSeconds: 600, medianResponseSeconds: 600,
  },
  // Rows 7–10, 18, 19: sent 7, 8, 10, 18, 19 = 5; delivered 7, 10, 18, 19 = 4; responded 7 (120 s), 18 (60 s); failed 8, 9.
  sms: {
    total: 6, sent: 5, delivered: 4, opened: 0, openedHuman: 0, clicked: 0, responded: 2, failed: 2, bounced: 0, cancelled: 0,
    responseCount: 2, responseTimeSumSeconds: 180,
    deliveryRate: 0.8, openRate: 0, humanOpenRate: 0, clickRate: 0, responseRate: 0.5, // 4/5, 0/4, 0/4, 0/4, 2/4
    avgResponseSeconds: 90, medianResponseSeconds: 90,
  },
  // Rows 11–13: all sent; delivered 11, 12; opened (read) 11, human; responded 11 (300 s).
  whatsapp: {
    total: 3, sent: 3, delivered: 2, opened: 1, openedHuman: 1, clicked: 0, responded: 1, failed: 0, bounced: 0, cancelled: 0,
    responseCount: 1, responseTimeSumSeconds: 300,
    deliveryRate: 0.6667, openRate: 0.5, humanOpenRate: 0.5, clickRate: 0, responseRate: 0.5, // 2/3, 1/2, 1/2, 0/2, 1/2
    avgResponseSeconds: 300, medianResponseSeconds: 300,
  },
} satisfies Record<string, AnalyticsMetrics>;

describe('getAnalyticsReport (rollups)', () => {
  it('computes every rate overall and by channel as worked out by hand', async () => {
    const report = await getAnalyticsReport(t.db, range);
    expect(report.source).toBe('rollups');
    expect(report.overall).toEqual(expected.overall);
    // Rows 14 and 15 were never routed: in the totals, not in any channel.
    expect(report.byChannel).toEqual([
      { channel: 'email', ...expected.email },
      { channel: 'sms', ...expected.sms },
      { channel: 'whatsapp', ...expected.whatsapp },
    ]);
  });

  it('splits by message type and by day', async () => {
    const report = await getAnalyticsReport(t.db, range);
    expect(report.byMessageType.map((m) => [m.messageType, m.total, m.sent, m.delivered, m.opened, m.openedHuman, m.clicked, m.responded, m.cancelled])).toEqual([
      // budget_summary: rows 1–6; sent 1, 2, 3, 4, 6; opened 2, 3, 4, 6; human 2, 4, 6.
      ['budget_summary', 6, 5, 5, 4, 3, 1, 1, 0],
      // reminder = the SMS rows.
      ['reminder', 6, 5, 4, 0, 0, 0, 2, 0],
      // vendor_options = the WhatsApp rows.
      ['vendor_options', 3, 3, 2, 1, 1, 0, 1, 0],
      // welcome: 14 (pending), 15 (cancelled), 16 (machine open), 17 (sent).
      ['welcome', 4, 2, 1, 1, 0, 0, 0, 1],
    ]);
    expect(report.byDay.map((d) => [d.day, d.total, d.sent, d.delivered, d.opened, d.openedHuman, d.responded, d.avgResponseSeconds, d.medianResponseSeconds])).toEqual([
      // 05-10: rows 1–15; responses 600, 120, 300: mean 340, median 300.
      ['2026-05-10', 15, 11, 9, 5, 4, 3, 340, 300],
      // 05-11: rows 16–19; one response, 60 s.
      ['2026-05-11', 4, 4, 3, 1, 0, 1, 60, 60],
    ]);
  });

  it('gives the funnel sent → delivered → opened → clicked → responded', async () => {
    const { funnel } = await getAnalyticsReport(t.db, range);
    expect(funnel).toEqual([
      { stage: 'sent', count: 15, rateOfSent: 1, rateOfPrevious: 1 },
      { stage: 'delivered', count: 12, rateOfSent: 0.8, rateOfPrevious: 0.8 }, // 12/15
      { stage: 'opened', count: 6, rateOfSent: 0.4, rateOfPrevious: 0.5 }, // 6/15, 6/12
      { stage: 'clicked', count: 1, rateOfSent: 0.0667, rateOfPrevious: 0.1667 }, // 1/15, 1/6
      // SMS and WhatsApp replies need no click: responded may exceed clicked.
      { stage: 'responded', count: 4, rateOfSent: 0.2667, rateOfPrevious: 4 }, // 4/15, 4/1
    ]);
  });

  it('filters by channel, message type and date range', async () => {
    expect((await getAnalyticsReport(t.db, { ...range, channel: 'sms' })).overall).toEqual(expected.sms);
    expect((await getAnalyticsReport(t.db, { ...range, messageType: 'vendor_options' })).overall).toEqual(expected.whatsapp);
    // Row 20 alone.
    const early = await getAnalyticsReport(t.db, { from: '2026-05-01', to: '2026-05-01' });
    expect([early.overall.total, early.overall.sent, early.overall.delivered, early.overall.deliveryRate]).toEqual([1, 1, 1, 1]);
    const empty = await getAnalyticsReport(t.db, { from: '2026-06-01', to: '2026-06-02' });
    expect(empty.overall).toMatchObject({ total: 0, deliveryRate: null, openRate: null, avgResponseSeconds: null, medianResponseSeconds: null });
    expect(empty.byDay.map((d) => d.day)).toEqual(['2026-06-01', '2026-06-02']);
  });
});

describe('getAnalyticsReport with a plan (from the communications)', () => {
  it('computes plan-a by hand', async () => {
    const report = await getAnalyticsReport(t.db, { ...range, planId: 'plan-a' });
    expect(report.source).toBe('communications');
    // Rows 1–10, 14, 15, 18, 19. sent 1, 2, 3, 4, 6, 7, 8, 10, 18, 19 = 10; delivered: minus 8 = 9;
    // opened 2, 3, 4, 6; human 2, 4, 6; responded 6 (600), 7 (120), 18 (60): mean 260, median 120.
    expect(report.overall).toEqual({
      total: 14, sent: 10, delivered: 9, opened: 4, openedHuman: 3, clicked: 1, responded: 3, failed: 2, bounced: 1, cancelled: 1,
      responseCount: 3, responseTimeSumSeconds: 780,
      deliveryRate: 0.9, openRate: 0.4444, humanOpenRate: 0.3333, clickRate: 0.1111, responseRate: 0.3333, // 9/10, 4/9, 3/9, 1/9, 3/9
      avgResponseSeconds: 260, medianResponseSeconds: 120,
    });
  });

  it('combines a plan with a channel', async () => {
    const report = await getAnalyticsReport(t.db, { ...range, planId: 'plan-b', channel: 'whatsapp' });
    expect(report.overall).toEqual(expected.whatsapp);
  });

  it('the rollups equal the raw query: the cells of plan-a and plan-b add up to the rollup cells', async () => {
    const rollup = await getAnalyticsCells(t.db, { from: '2026-05-01', to: '2026-05-31' });
    const a = await getAnalyticsCells(t.db, { from: '2026-05-01', to: '2026-05-31', planId: 'plan-a' });
    const b = await getAnalyticsCells(t.db, { from: '2026-05-01', to: '2026-05-31', planId: 'plan-b' });
    // No cell has rows of both plans in this fixture, so the union is the rollups.
    const key = (c: { day: string; channel: string; messageType: string }) => `${c.day}|${c.channel}|${c.messageType}`;
    expect([...a, ...b].sort((x, y) => key(x).localeCompare(key(y)))).toEqual(rollup);
    // And the older raw query (getCommunicationAnalytics) agrees on every count.
    const raw = await CommunicationRepository.getAnalytics(t.db, { from: new Date('2026-05-10T00:00:00Z'), to: new Date('2026-05-12T00:00:00Z') });
    const { overall } = await getAnalyticsReport(t.db, range);
    for (const name of ['total', 'sent', 'delivered', 'opened', 'clicked', 'responded', 'failed', 'bounced', 'cancelled'] as const) {
      expect([name, overall[name]]).toEqual([name, raw.overall[name]]);
    }
  });
});

describe('rollup upkeep', () => {
  it('recomputes a dirty cell from the communications; recomputing again changes nothing', async () => {
    const id = ids[12]; // row 13: WhatsApp, sent only
    if (id === undefined) throw new Error('fixture');
    await t.db.updateTable('crm_communications').set({ status: 'delivered', delivered_at: new Date('2026-05-10T10:00:00Z') }).where('id', '=', id).execute();
    // Not yet: the rollup still has the old figure.
    expect((await getAnalyticsReport(t.db, { ...range, channel: 'whatsapp' })).overall.delivered).toBe(2);
    expect(await markAnalyticsDirty(t.db, id)).toEqual({ day: '2026-05-10', channel: 'whatsapp', messageType: 'vendor_options' });
    expect(await markAnalyticsDirty(t.db, id)).not.toBeNull(); // a redelivered event marks the same cell once
    expect(await recomputeDirtyAnalyticsCells(t.db)).toEqual([{ day: '2026-05-10', channel: 'whatsapp', messageType: 'vendor_options' }]);
    expect(await recomputeDirtyAnalyticsCells(t.db)).toEqual([]);
    const after = await getAnalyticsReport(t.db, { ...range, channel: 'whatsapp' });
    expect([after.overall.delivered, after.overall.deliveryRate]).toEqual([3, 1]);
    // The same event again: the cell is recomputed to the same figures, not counted twice.
    await markAnalyticsDirty(t.db, id);
    await recomputeDirtyAnalyticsCells(t.db);
    expect((await getAnalyticsReport(t.db, { ...range, channel: 'whatsapp' })).overall).toEqual(after.overall);
    // Put it back for the other tests.
    await t.db.updateTable('crm_communications').set({ status: 'sent', delivered_at: null }).where('id', '=', id).execute();
    await markAnalyticsDirty(t.db, id);
    await recomputeDirtyAnalyticsCells(t.db);
    expect((await getAnalyticsReport(t.db, { ...range, channel: 'whatsapp' })).overall).toEqual(expected.whatsapp);
  });

  it('marks nothing for an unknown communication', async () => {
    expect(await markAnalyticsDirty(t.db, '00000000-0000-4000-8000-000000000000')).toBeNull();
  });

  it('reads the rollups by the primary key, not the communications', async () => {
    const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN SELECT * FROM crm_analytics_daily WHERE day BETWEEN '2026-05-10' AND '2026-05-11'`.execute(t.db);
    expect(rows.map((r) => r['QUERY PLAN']).join('\n')).not.toMatch(/crm_communications/);
  });
});

describe('exportCommunicationPages', () => {
  it('pages through the range by keyset, oldest first, without personal data', async () => {
    const pages: string[][] = [];
    for await (const page of exportCommunicationPages(t.db, range, 4)) pages.push(page.map((row) => row.id));
    // 19 rows in pages of 4: 4, 4, 4, 4, 3.
    expect(pages.map((p) => p.length)).toEqual([4, 4, 4, 4, 3]);
    expect(pages.flat()).toEqual(ids.slice(0, 19));
    const [first] = await exportCommunicationPages(t.db, { ...range, planId: 'plan-b', channel: 'email' }).next().then((r) => r.value ?? []);
    expect(first).toEqual({
      id: ids[15], plan_id: 'plan-b', message_type: 'welcome', channel: 'email', status: 'opened', urgency: 'normal',
      created_at: '2026-05-11T09:00:15.000Z', sent_at: '2026-05-11T09:01:15.000Z', delivered_at: '2026-05-11T09:02:15.000Z',
      opened_at: '2026-05-11T09:03:15.000Z', clicked_at: null, responded_at: null, failed_at: null, bounced_at: null, cancelled_at: null,
    });
    expect(Object.keys(first ?? {})).not.toContain('client_id');
  });
});

describe('getPreferenceDistribution', () => {
  it('counts first choices, time zones, opt-outs, quiet hours, batching and languages', async () => {
    await t.db.insertInto('crm_client_preferences').values([
      { client_id: 'p1', channels: ['email', 'sms'], timezone: 'Europe/Paris', opt_outs: ['sms'], quiet_hours_start: '22:00', quiet_hours_end: '07:00', language: 'fr', batching: false },
      { client_id: 'p2', channels: ['whatsapp'], timezone: 'Europe/Paris', opt_outs: ['sms', 'email'], batching: true, language: 'en' },
      { client_id: 'p3', channels: null, timezone: null, language: 'en', batching: false },
    ]).execute();
    expect(await getPreferenceDistribution(t.db)).toEqual({
      clients: 3,
      firstChoice: [{ channel: 'default', clients: 1 }, { channel: 'email', clients: 1 }, { channel: 'whatsapp', clients: 1 }],
      timezones: [{ timezone: 'Europe/Paris', clients: 2 }, { timezone: 'default', clients: 1 }],
      optOuts: [{ channel: 'sms', clients: 2 }, { channel: 'email', clients: 1 }],
      quietHoursSet: 1,
      batching: 1,
      languages: [{ language: 'en', clients: 2 }, { language: 'fr', clients: 1 }],
    });
  });
});
