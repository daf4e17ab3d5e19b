import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parse } from 'csv-parse/sync';
import { rebuildAnalyticsRollups } from '@crm/db';
import { insertAnalyticsFixture } from '../../../packages/db/test/analytics-fixture';
import { startTestIngest, type TestIngest } from './support/test-ingest';

let ingest: TestIngest;
let app: FastifyInstance;
let auth: { authorization: string };
let ids: string[];

beforeAll(async () => {
  ingest = await startTestIngest('ingest-analytics-test');
  ({ app, auth } = ingest);
  ids = await insertAnalyticsFixture(ingest.t.db);
  await rebuildAnalyticsRollups(ingest.t.db, '2026-05-01', '2026-05-31');
  await ingest.t.db.insertInto('crm_client_preferences').values([
    { client_id: 'client-1', channels: ['email', 'sms'], timezone: 'Europe/Paris', opt_outs: ['sms'], quiet_hours_start: '22:00', quiet_hours_end: '07:00' },
    { client_id: 'client-7', channels: ['sms'], timezone: 'America/New_York', opt_outs: [] },
  ]).execute();
});
afterAll(() => ingest.close());

const get = (url: string) => app.inject({ method: 'GET', url, headers: auth });
const range = 'from=2026-05-10&to=2026-05-11';

interface Metrics { [name: string]: number | null }
interface Report {
  filters: Record<string, string>;
  source: string;
  overall: Metrics;
  byChannel: (Metrics & { channel: string })[];
  byMessageType: (Metrics & { messageType: string })[];
  byDay: (Metrics & { day: string })[];
  funnel: { stage: string; count: number; rateOfSent: number | null }[];
  preferences: { clients: number; firstChoice: { channel: string; clients: number }[]; optOuts: unknown[]; quietHoursSet: number };
}

describe('GET /api/crm/analytics', () => {
  it('answers the hand-computed figures of the fixture (see packages/db/test/analytics-queries.test.ts)', async () => {
    const response = await get(`/api/crm/analytics?${range}`);
    expect(response.statusCode).toBe(200);
    const report = response.json<Report>();
    expect(report.filters).toEqual({ from: '2026-05-10', to: '2026-05-11' });
    expect(report.source).toBe('rollups');
    // Rows 1–19: 15 sent, 12 delivered, 6 opened (4 by people), 1 click, 4 responses (600, 120, 300, 60 s).
    expect(report.overall).toEqual({
      total: 19, sent: 15, delivered: 12, opened: 6, openedHuman: 4, clicked: 1, responded: 4, failed: 2, bounced: 1, cancelled: 1,
      responseCount: 4, responseTimeSumSeconds: 1080,
      deliveryRate: 0.8, openRate: 0.5, humanOpenRate: 0.3333, clickRate: 0.0833, responseRate: 0.3333, // 12/15, 6/12, 4/12, 1/12, 4/12
      avgResponseSeconds: 270, medianResponseSeconds: 210, // 1080/4; (120+300)/2
    });
    expect(report.byChannel.map((c) => [c.channel, c.deliveryRate, c.openRate, c.humanOpenRate, c.clickRate, c.responseRate, c.medianResponseSeconds])).toEqual([
      ['email', 0.8571, 0.8333, 0.5, 0.1667, 0.1667, 600], // 6/7, 5/6, 3/6, 1/6, 1/6
      ['sms', 0.8, 0, 0, 0, 0.5, 90], // 4/5, 0/4, 0/4, 0/4, 2/4; (60+120)/2
      ['whatsapp', 0.6667, 0.5, 0.5, 0, 0.5, 300], // 2/3, 1/2, 1/2, 0/2, 1/2
    ]);
    expect(report.byDay.map((d) => [d.day, d.total])).toEqual([['2026-05-10', 15], ['2026-05-11', 4]]);
    expect(report.funnel.map((s) => [s.stage, s.count])).toEqual([['sent', 15], ['delivered', 12], ['opened', 6], ['clicked', 1], ['responded', 4]]);
    expect(report.preferences).toMatchObject({ clients: 2, quietHoursSet: 1, firstChoice: [{ channel: 'email', clients: 1 }, { channel: 'sms', clients: 1 }] });
  });

  it('filters by channel, message type and plan', async () => {
    const sms = (await get(`/api/crm/analytics?${range}&channel=sms`)).json<Report>();
    expect([sms.overall.total, sms.overall.sent, sms.overall.delivered, sms.overall.responseRate]).toEqual([6, 5, 4, 0.5]);
    const welcome = (await get(`/api/crm/analytics?${range}&messageType=welcome`)).json<Report>();
    expect([welcome.overall.total, welcome.overall.sent, welcome.overall.cancelled]).toEqual([4, 2, 1]);
    // plan-a: rows 1–10, 14, 15, 18, 19: 10 sent, 9 delivered, responses 600, 120, 60.
    const planA = (await get(`/api/crm/analytics?${range}&planId=plan-a`)).json<Report>();
    expect(planA.source).toBe('communications');
    expect([planA.overall.total, planA.overall.sent, planA.overall.delivered, planA.overall.deliveryRate, planA.overall.avgResponseSeconds, planA.overall.medianResponseSeconds])
      .toEqual([14, 10, 9, 0.9, 260, 120]);
  });

  it('answers 400 naming each bad field, as problem+json', async () => {
    const response = await get('/api/crm/analytics?from=2026-13-01&to=yesterday&channel=pigeon&messageType=x&planId=a%20b&extra=1');
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const fields = response.json<{ errors: { field: string; in: string }[] }>().errors.map((e) => e.field).sort();
    expect(fields).toEqual(['channel', 'extra', 'from', 'messageType', 'planId', 'to']);
    const reversed = await get('/api/crm/analytics?from=2026-05-11&to=2026-05-10');
    expect(reversed.statusCode).toBe(400);
    expect(reversed.json<{ errors: { field: string }[] }>().errors).toEqual([{ field: 'to', in: 'query', message: 'is before from' }]);
    const long = await get('/api/crm/analytics?from=2020-01-01&to=2026-01-01');
    expect(long.statusCode).toBe(400);
    expect(long.json<{ errors: { field: string }[] }>().errors.map((e) => e.field)).toEqual(['to']);
    const impossible = await get('/api/crm/analytics?from=2026-02-30');
    expect(impossible.statusCode).toBe(400);
  });

  it('requires an API key on every analytics route', async () => {
    for (const url of ['/api/crm/analytics', '/api/crm/analytics/export.csv', '/api/crm/analytics/report.pdf']) {
      const response = await app.inject({ method: 'GET', url });
      expect([url, response.statusCode]).toEqual([url, 401]);
    }
  });
});

describe('GET /api/crm/analytics/export.csv', () => {
  it('streams one row per day × channel × type that parses and matches the API', async () => {
    const response = await get(`/api/crm/analytics/export.csv?${range}`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    const rows = parse(response.body, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
    // 05-10: email/budget_summary, none/welcome, sms/reminder, whatsapp/vendor_options; 05-11: email/welcome, sms/reminder.
    expect(rows.map((r) => [r.day, r.channel, r.message_type, r.total])).toEqual([
      ['2026-05-10', 'email', 'budget_summary', '6'],
      ['2026-05-10', 'none', 'welcome', '2'],
      ['2026-05-10', 'sms', 'reminder', '4'],
      ['2026-05-10', 'whatsapp', 'vendor_options', '3'],
      ['2026-05-11', 'email', 'welcome', '2'],
      ['2026-05-11', 'sms', 'reminder', '2'],
    ]);
    // The CSV adds up to the API's figures, and its per-cell rates are the API's for the same cell.
    const report = (await get(`/api/crm/analytics?${range}`)).json<Report>();
    for (const [column, field] of [['total', 'total'], ['sent', 'sent'], ['delivered', 'delivered'], ['opened', 'opened'], ['opened_human', 'openedHuman'], ['clicked', 'clicked'], ['responded', 'responded'], ['failed', 'failed']] as const) {
      expect([column, rows.reduce((sum, r) => sum + Number(r[column]), 0)]).toEqual([column, report.overall[field]]);
    }
    const whatsapp = (await get(`/api/crm/analytics?${range}&channel=whatsapp`)).json<Report>().overall;
    const row = rows.find((r) => r.channel === 'whatsapp');
    expect([row?.delivery_rate, row?.open_rate, row?.response_rate, row?.median_response_seconds].map(Number))
      .toEqual([whatsapp.deliveryRate, whatsapp.openRate, whatsapp.responseRate, whatsapp.medianResponseSeconds]);
    // A cell with nothing sent has empty rates.
    expect(rows.find((r) => r.channel === 'none')).toMatchObject({ delivery_rate: '', open_rate: '', avg_response_seconds: '' });
  });

  it('streams the history rows with rows=communications, without personal data', async () => {
    const response = await get(`/api/crm/analytics/export.csv?${range}&rows=communications&planId=plan-b`);
    expect(response.statusCode).toBe(200);
    const rows = parse(response.body, { columns: true }) as Record<string, string>[];
    // plan-b in the range: rows 11, 12, 13, 16, 17.
    expect(rows.map((r) => r.id)).toEqual([ids[10], ids[11], ids[12], ids[15], ids[16]]);
    expect(Object.keys(rows[0] ?? {})).toEqual(['id', 'plan_id', 'message_type', 'channel', 'status', 'urgency', 'created_at', 'sent_at', 'delivered_at', 'opened_at', 'clicked_at', 'responded_at', 'failed_at', 'bounced_at', 'cancelled_at']);
    expect(rows[0]).toMatchObject({ plan_id: 'plan-b', channel: 'whatsapp', status: 'responded', created_at: '2026-05-10T09:00:10.000Z', sent_at: '2026-05-10T09:01:10.000Z', responded_at: '2026-05-10T09:06:10.000Z' });
    expect(response.body).not.toMatch(/client-/);
    const all = parse((await get(`/api/crm/analytics/export.csv?${range}&rows=communications`)).body, { columns: true }) as unknown[];
    expect(all).toHaveLength(19);
  });

  it('answers 400 for a bad rows value', async () => {
    const response = await get('/api/crm/analytics/export.csv?rows=everything');
    expect(response.statusCode).toBe(400);
    expect(response.json<{ errors: { field: string }[] }>().errors.map((e) => e.field)).toEqual(['rows']);
  });
});

describe('GET /api/crm/analytics/report.pdf', () => {
  it('is a PDF whose text holds the title, period, filters and figures', async () => {
    const probe = spawnSync('pdftotext', ['-v'], { encoding: 'utf8' });
    if (probe.error) throw new Error('pdftotext is missing: install poppler-utils (apt-get install poppler-utils) to run this test');
    const response = await get(`/api/crm/analytics/report.pdf?${range}&channel=email`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/pdf');
    expect(response.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    const dir = mkdtempSync(join(tmpdir(), 'crm-analytics-pdf-'));
    try {
      const file = join(dir, 'report.pdf');
      writeFileSync(file, response.rawPayload);
      const result = spawnSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
      expect(result.status).toBe(0);
      const text = result.stdout.replace(/[ \t]+/g, ' ');
      expect(text).toContain('Communication analytics report');
      expect(text).toContain('Period: 2026-05-10 to 2026-05-11');
      expect(text).toContain('channel: email; message type: all; plan: all');
      // Email, rows 1–6, 16, 17: 7 sent, 6 delivered (85.7 %), open 5/6 (83.3 %), human 3/6 (50.0 %),
      // click 1/6 (16.7 %), response 1/6 (16.7 %), one response after 600 s (10.0 min).
      expect(text).toMatch(/Sent 7\b/);
      expect(text).toMatch(/Delivered 6\b/);
      expect(text).toMatch(/Delivery rate 85\.7 %/);
      expect(text).toMatch(/Open rate 83\.3 %/);
      expect(text).toMatch(/Open rate without machine opens 50\.0 %/);
      expect(text).toMatch(/Click-through rate 16\.7 %/);
      expect(text).toMatch(/Response rate 16\.7 %/);
      expect(text).toMatch(/Median time to response 10\.0 min/);
      expect(text).toMatch(/email 7 6 85\.7 % 83\.3 % 50\.0 % 16\.7 % 16\.7 % 10\.0 min/);
      expect(text).toContain('Sent, delivered and opened per day');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers 400 for bad filters', async () => {
    const response = await get('/api/crm/analytics/report.pdf?channel=fax');
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});
