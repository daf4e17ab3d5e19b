import type { FastifyInstance } from 'fastify';
import { CommunicationRepository, rebuildAnalyticsRollups } from '@crm/db';
import { html, raw, withoutBlanks } from '../src/dashboard/html';
import { startTestIngest, type TestIngest } from './support/test-ingest';
import { browserAccept, operatorBasic, testOperator } from './support/operator';

// The dashboard's frame (login gate, headers, assets, the API routes mounted for the operator)
// and its overview and channels & engagement screens, on a real database.
const operator = testOperator;
const basic = operatorBasic;
const browser = browserAccept;
const today = new Date().toISOString().slice(0, 10);
let ingest: TestIngest;
let disabled: TestIngest;
let app: FastifyInstance;
beforeAll(async () => {
  [ingest, disabled] = await Promise.all([startTestIngest('ingest-dashboard-test', { operator }), startTestIngest('ingest-dashboard-off-test')]);
  ({ app } = ingest);
  // Two communications of today: one sent by SMS, one failed (a plan of its own).
  for (const [clientId, planId, status] of [['c-1', 'plan-a', 'sent'], ['<script>x</script>', 'plan-b', 'failed']] as const) {
    const { communication } = await CommunicationRepository.save(ingest.t.db, { clientId, planId, messageType: 'reminder', urgency: 'normal', requestedChannel: null, sendAt: null, variables: {}, metadata: {}, idempotencyKey: null, requestHash: null });
    const stamp = status === 'sent' ? { sent_at: new Date() } : { failed_at: new Date() };
    await ingest.t.db.updateTable('crm_communications').set({ status, channel: 'sms', ...stamp }).where('id', '=', communication.id).execute();
  }
  await rebuildAnalyticsRollups(ingest.t.db, today, today);
});
afterAll(() => Promise.all([ingest?.close(), disabled?.close()]));

const get = (url: string, headers: Record<string, string> = { ...basic, ...browser }) => app.inject({ method: 'GET', url, headers });

describe('the gate', () => {
  it('sends a browser without a session to the login, answers a script 401, and is 503 without an operator password', async () => {
    const page = await get('/dashboard/analytics?from=2026-01-01', browser);
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe(`/login?next=${encodeURIComponent('/dashboard/analytics?from=2026-01-01')}`);
    const script = await get('/dashboard/api/crm/analytics', {});
    expect(script.statusCode).toBe(401);
    expect(script.json()).toMatchObject({ code: 'operator_unauthorized' });
    const off = await disabled.app.inject({ method: 'GET', url: '/dashboard', headers: browser });
    expect(off.statusCode).toBe(503);
    expect(off.json()).toMatchObject({ code: 'operator_access_disabled' });
    // An API key is not an operator login.
    expect((await get('/dashboard', { ...ingest.auth, ...browser })).statusCode).toBe(303);
  });

  it('serves pages with a strict CSP (no inline code) and no caching', async () => {
    const page = await get('/dashboard');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers['x-frame-options']).toBe('DENY');
    // No inline script or style: only JSON data blocks and files.
    expect(page.body).not.toMatch(/<script(?![^>]*(type="application\/json"|src=))/);
    expect(page.body).not.toMatch(/\sstyle="/);
    expect((await get('/dashboard/')).headers.location).toBe('/dashboard');
  });

  it('serves its assets (ours and uPlot) and names a missing one', async () => {
    for (const [name, type] of [['dashboard.js', 'text/javascript'], ['dashboard.css', 'text/css'], ['uPlot.iife.min.js', 'text/javascript'], ['preferences.js', 'text/javascript']]) {
      const asset = await get(`/dashboard/assets/${name}`, basic);
      expect([name, asset.statusCode, asset.headers['content-type']]).toEqual([name, 200, `${type}; charset=utf-8`]);
    }
    const missing = await get('/dashboard/assets/..%2Fpackage.json', basic);
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'not_found', errors: [{ field: 'name' }] });
  });

  it('mounts the analytics and preferences API for the session: same answers as with an API key', async () => {
    const withKey = await app.inject({ method: 'GET', url: `/api/crm/analytics?from=${today}&to=${today}`, headers: ingest.auth });
    const withOperator = await get(`/dashboard/api/crm/analytics?from=${today}&to=${today}`, basic);
    expect(withOperator.statusCode).toBe(200);
    expect(withOperator.json()).toEqual(withKey.json());
    const bad = await get('/dashboard/api/crm/analytics?channel=fax', basic);
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'channel', in: 'query' }] });
    const csv = await get(`/dashboard/api/crm/analytics/export.csv?from=${today}&to=${today}&rows=communications`, basic);
    expect(csv.statusCode).toBe(200);
    expect(csv.body.trim().split('\r\n')).toHaveLength(3);
  });
});

describe('overview', () => {
  it('shows the period\'s figures exactly as the analytics API computes them', async () => {
    const api = (await app.inject({ method: 'GET', url: `/api/crm/analytics?from=${today}&to=${today}`, headers: ingest.auth })).json();
    expect(api.overall).toMatchObject({ total: 2, sent: 1, failed: 1 });
    const page = await get(`/dashboard?from=${today}&to=${today}`);
    for (const name of ['total', 'sent', 'delivered', 'failed', 'deliveryRate', 'openRate', 'humanOpenRate', 'clickRate', 'responseRate']) {
      const value = api.overall[name];
      expect(page.body).toContain(`data-figure="${name}" data-value="${value === null ? '' : value}"`);
    }
    // The links keep the filters; the exports go through the operator's mount of the API.
    expect(page.body).toContain(`href="/dashboard/api/crm/analytics/report.pdf?from=${today}&amp;to=${today}"`);
    expect(page.body).toContain('href="/admin/queues"');
  });

  it('answers 400 with each bad filter by its field, and the last 30 days below', async () => {
    const page = await get('/dashboard?from=2026-02-30&channel=fax&planId=');
    expect(page.statusCode).toBe(400);
    expect(page.body).toContain('id="from" name="from" type="date" value="2026-02-30" aria-invalid="true" aria-describedby="from-error"');
    expect(page.body).toMatch(/<p class="field-error" id="from-error">must be a date YYYY-MM-DD<\/p>/);
    expect(page.body).toMatch(/id="channel-error">[^<]+</);
    expect(page.body).toContain('showing the last 30 days instead');
    const reversed = await get(`/dashboard/analytics?from=${today}&to=2000-01-01`);
    expect(reversed.statusCode).toBe(400);
    expect(reversed.body).toContain('<p class="field-error" id="to-error">is before from</p>');
  });

  it('filters by plan (figures from the communications), escaping what it echoes', async () => {
    const page = await get(`/dashboard?from=${today}&to=${today}&planId=plan-b`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('data-figure="total" data-value="1"');
    expect(page.body).toContain('Figures from the communications');
    const hostile = await get(`/dashboard?planId=${encodeURIComponent('"><img src=x>')}`);
    expect(hostile.body).not.toContain('<img src=x>');
  });
});

describe('channels & engagement', () => {
  it('shows the channel table, the funnel, the preference distribution and a chart with its data as a table', async () => {
    const page = await get(`/dashboard/analytics?from=${today}&to=${today}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<caption>Figures by channel</caption>');
    expect(page.body).toMatch(/<tr><th scope="row">sms<\/th><td class="num">1<\/td>/);
    expect(page.body).toContain('<caption>Funnel</caption>');
    expect(page.body).toContain('Preference distribution');
    expect(page.body).toContain('<script type="application/json" id="timeline-channels">');
    expect(page.body).toContain('Sent per channel as a table');
  });
});

describe('html', () => {
  it('escapes every value but nested html and raw markup; JSON data cannot close its script element', async () => {
    const value = '<b>"x" & \'y\'</b>';
    expect(html`<p title="${value}">${value}${html`<i>${value}</i>`}${raw('<br>')}${[1, null, false, undefined, 'a']}</p>`.text).toBe(
      '<p title="&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;">&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;<i>&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;</i><br>1a</p>',
    );
    const page = await get('/dashboard');
    const json = /<script type="application\/json" id="timeline-overall">([^<]*)<\/script>/.exec(page.body);
    expect(JSON.parse(json![1]!)).toMatchObject({ x: expect.any(Array), series: expect.any(Array) });
    expect(withoutBlanks({ a: '', b: ' x ', c: ['1', '2'], d: 3 })).toEqual({ b: 'x', c: '2' });
  });
});
