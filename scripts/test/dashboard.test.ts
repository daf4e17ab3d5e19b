import type { Page } from 'playwright-core';
import { CommunicationRepository, rebuildAnalyticsRollups, type AnalyticsMetrics } from '@crm/db';
import { loadEmailTemplateSources } from '@crm/templates';
import { waitFor } from '@crm/testing';
import { loadSampleHistory } from '../src/sample-history';
import { testEmailContent } from './support/engine';
import { accessibilityProblems, launchChromium, logIn, photograph, startDashboard, type DashboardFixture } from './support/dashboard';

// The dashboard's login, overview and channels & engagement screens in Debian's Chromium,
// against a test engine that really sent email, SMS and WhatsApp through the sandbox (with
// receipts, an open, a fallback and a failure): the figures on screen are the analytics API's.

let fixture: DashboardFixture;
const today = new Date().toISOString().slice(0, 10);
const monthAgo = new Date(Date.now() - 31 * 86_400_000).toISOString().slice(0, 10);
const samples = new Map(loadEmailTemplateSources().map((source) => [source.messageType, source.sampleVariables]));

beforeAll(async () => {
  fixture = await startDashboard();
  const { engine } = fixture;
  const status = async (id: string) => (await CommunicationRepository.findById(engine.t.db, id))?.status;
  const delivered = (id: string) => waitFor(async () => (await status(id)) === 'delivered', { message: `${id} delivered` });

  // Email: three sent, one opened (the pixel, fetched from ingest at once: a likely machine open).
  const emails: string[] = [];
  for (const [i, type] of (['budget_summary', 'welcome', 'reminder'] as const).entries()) {
    emails.push(await engine.send({ clientId: `email-${i}`, email: `client${i}@example.com`, channel: 'email', messageType: type, planId: 'plan-gala', variables: samples.get(type)! }));
  }
  for (const id of emails) expect(await engine.finished(id)).toMatchObject({ status: 'sent' });
  const [message] = await engine.sandbox.mailbox.messages({ communicationId: emails[0]! });
  const pixel = new RegExp(`${testEmailContent.publicBaseUrl}/t/o/([A-Za-z0-9_.-]+)`).exec(message?.html ?? '')?.[1];
  expect((await fetch(`${fixture.baseUrl}/t/o/${pixel}`, { headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64)' } })).status).toBe(200);
  await waitFor(async () => (await status(emails[0]!)) === 'opened', { message: 'the open' });

  // SMS and WhatsApp, delivered (the sandbox posts signed receipts to ingest).
  const sms = await engine.send({ clientId: 'sms-1', phone: '+14155550111', channel: 'sms', planId: 'plan-gala' });
  const whatsapp = await engine.send({ clientId: 'wa-1', phone: '+14155550112', channel: 'whatsapp', planId: 'plan-wedding' });
  await delivered(sms);
  // WhatsApp's receipts end with `read`: an open.
  await waitFor(async () => (await status(whatsapp)) === 'opened', { message: 'the WhatsApp message read' });

  // A fallback (WhatsApp refuses, SMS delivers) and a failure on every channel.
  await engine.fault('whatsapp', { errorCode: 131026 });
  const fallback = await engine.send({ clientId: 'fallback-1', phone: '+14155550113', planId: 'plan-wedding' });
  await delivered(fallback);
  await engine.fault('sms', { errorCode: 21211 });
  const failed = await engine.send({ clientId: 'failed-1', phone: '+14155550114', planId: 'plan-wedding' });
  expect(await engine.finished(failed)).toMatchObject({ status: 'failed' });
  await fetch(`${engine.sandbox.httpUrl}/admin/faults`, { method: 'DELETE' });

  // Thirty days of history before today (generated rows, as the analytics benchmark loads), so
  // the charts have a shape; today holds only what the engine really sent above.
  await loadSampleHistory(engine.t.db, { communications: 2_000, clients: 150, days: 30 });
  // What the analytics worker does in production (the test engine does not run it).
  await rebuildAnalyticsRollups(engine.t.db, monthAgo, today);
}, 60_000);
afterAll(() => fixture?.close());

const figuresOn = (page: Page) =>
  page.$$eval('[data-figure]', (elements) =>
    Object.fromEntries(elements.map((e) => [e.getAttribute('data-figure'), { value: e.getAttribute('data-value'), text: e.firstChild?.textContent ?? '' }])),
  );

/** What the overview must print for a figure of the API. */
function printed(name: string, value: number | null): string {
  if (value === null) return '–';
  if (name.endsWith('Rate')) return `${(value * 100).toFixed(1)} %`;
  if (name.endsWith('Seconds')) {
    if (value < 120) return `${value.toFixed(0)} s`;
    return value < 7_200 ? `${(value / 60).toFixed(1)} min` : `${(value / 3_600).toFixed(1)} h`;
  }
  return value.toLocaleString('en-US');
}

describe('login', () => {
  it('sends a visitor to the login form, refuses a wrong password, and lands on the asked page after logging in', async () => {
    const context = await fixture.browser.newContext();
    const page = await context.newPage();
    const response = await page.goto(`${fixture.baseUrl}/dashboard/analytics`);
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(response?.status()).toBe(200);
    await page.getByLabel('User name').fill('operator');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('not right');
    expect(await accessibilityProblems(page)).toEqual([]);
    await photograph(page, 'login');
    await context.close();

    const fresh = await fixture.browser.newContext();
    const again = await fresh.newPage();
    await logIn(again, fixture.baseUrl, '/dashboard/analytics');
    expect(await again.getByRole('heading', { level: 1 }).textContent()).toBe('Channels & engagement');
    // Logging out ends the session: the dashboard asks for the login again.
    await again.getByRole('button', { name: 'Log out' }).click();
    await again.waitForURL(/\/login/);
    await again.goto(`${fixture.baseUrl}/dashboard`);
    expect(new URL(again.url()).pathname).toBe('/login');
    await fresh.close();
  });

  it('is reachable by keyboard: the skip link first, then the navigation', async () => {
    const page = await fixture.context.newPage();
    await page.goto(`${fixture.baseUrl}/dashboard`);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { textContent: string } } }).document.activeElement.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(new URL(page.url()).hash).toBe('#main');
    await page.goto(`${fixture.baseUrl}/dashboard`);
    // Skip link, the brand, then the screens in order.
    for (let i = 0; i < 4; i++) await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { textContent: string } } }).document.activeElement.textContent)).toBe('Channels & engagement');
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => url.pathname === '/dashboard/analytics');
    await page.close();
  });
});

describe('overview', () => {
  it.each([
    ['today', `?from=${today}&to=${today}`],
    ['the default 30 days', ''],
  ])('shows the analytics API\'s figures for %s, with the daily chart drawn', async (period, query) => {
    const api = await fixture.apiJson<{ overall: AnalyticsMetrics; source: string }>(`/api/crm/analytics${query}`);
    expect(api.status).toBe(200);
    // Today: exactly what the engine sent above.
    if (period === 'today') expect(api.body.overall).toMatchObject({ total: 7, sent: 6, delivered: 4, opened: 2, failed: 1 });
    else expect(api.body.overall.total).toBeGreaterThan(1_500);
    const page = await fixture.context.newPage();
    await page.goto(`${fixture.baseUrl}/dashboard${query}`);
    const shown = await figuresOn(page);
    const names = Object.keys(shown);
    expect(names).toEqual(expect.arrayContaining(['total', 'sent', 'delivered', 'deliveryRate', 'openRate', 'humanOpenRate', 'clickRate', 'responseRate', 'failed', 'bounced', 'cancelled', 'avgResponseSeconds']));
    for (const name of names) {
      const value = api.body.overall[name as keyof AnalyticsMetrics] as number | null;
      expect({ name, value: shown[name]!.value }).toEqual({ name, value: value === null ? '' : String(value) });
      expect({ name, text: shown[name]!.text }).toEqual({ name, text: printed(name, value) });
    }
    // The chart is drawn by uPlot (a canvas), under the page's CSP: the script ran.
    await page.waitForSelector('[data-chart="timeline-overall"][data-drawn="true"] canvas');
    expect(await accessibilityProblems(page)).toEqual([]);
    if (period !== 'today') await photograph(page, 'overview');
    await page.close();
  });

  it('filters by plan the way the API does', async () => {
    const api = await fixture.apiJson<{ overall: AnalyticsMetrics }>(`/api/crm/analytics?from=${today}&to=${today}&planId=plan-wedding`);
    const page = await fixture.context.newPage();
    await page.goto(`${fixture.baseUrl}/dashboard?from=${today}&to=${today}`);
    await page.getByLabel('Plan id').fill('plan-wedding');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/planId=plan-wedding/);
    const shown = await figuresOn(page);
    expect(shown.total!.value).toBe(String(api.body.overall.total));
    expect(shown.failed!.value).toBe(String(api.body.overall.failed));
    expect(api.body.overall.total).toBe(3);
    await page.close();
  });

  it('shows a bad period next to its field, with status 400', async () => {
    const page = await fixture.context.newPage();
    const response = await page.goto(`${fixture.baseUrl}/dashboard?from=${today}&to=2000-01-01`);
    expect(response?.status()).toBe(400);
    const to = page.getByLabel('To (UTC)');
    expect(await to.getAttribute('aria-invalid')).toBe('true');
    const describedBy = await to.getAttribute('aria-describedby');
    expect(await page.locator(`#${describedBy}`).textContent()).toContain('is before from');
    await page.close();
  });

  it('links to the CSV and PDF exports, which download with the operator session', async () => {
    const page = await fixture.context.newPage();
    await page.goto(`${fixture.baseUrl}/dashboard?from=${today}&to=${today}`);
    const csvHref = await page.getByRole('link', { name: 'CSV: every communication' }).getAttribute('href');
    const pdfHref = await page.getByRole('link', { name: 'PDF report' }).getAttribute('href');
    expect(await page.getByRole('link', { name: 'Queues (Bull Board)' }).getAttribute('href')).toBe('/admin/queues');
    const csv = await page.request.get(`${fixture.baseUrl}${csvHref}`);
    expect(csv.status()).toBe(200);
    expect((await csv.text()).trim().split('\r\n')).toHaveLength(1 + 7);
    const pdf = await page.request.get(`${fixture.baseUrl}${pdfHref}`);
    expect(pdf.headers()['content-type']).toBe('application/pdf');
    expect((await pdf.body()).subarray(0, 5).toString()).toBe('%PDF-');
    await page.close();
  });
});

describe('channels & engagement', () => {
  it('compares channels, draws the timeline, and shows the funnel and the preference distribution', async () => {
    const api = await fixture.apiJson<{ byChannel: (AnalyticsMetrics & { channel: string })[]; funnel: { stage: string; count: number }[] }>('/api/crm/analytics');
    const page = await fixture.context.newPage();
    await page.goto(`${fixture.baseUrl}/dashboard/analytics`);
    const rows = await page.locator('table:has(caption:text("Figures by channel")) tbody tr').allTextContents();
    expect(rows).toHaveLength(api.body.byChannel.length);
    for (const channel of api.body.byChannel) {
      const row = rows.find((text) => text.startsWith(channel.channel));
      expect(row).toContain(`${channel.sent.toLocaleString('en-US')}${channel.delivered.toLocaleString('en-US')}`);
    }
    const funnel = await page.locator('table:has(caption:text("Funnel")) tbody tr').allTextContents();
    expect(funnel.map((text) => text.replace(/\d.*$/, ''))).toEqual(api.body.funnel.map((step) => step.stage));
    await page.waitForSelector('[data-chart="timeline-channels"][data-drawn="true"] canvas');
    expect(await page.getByRole('heading', { name: 'Preference distribution' }).isVisible()).toBe(true);
    expect(await accessibilityProblems(page)).toEqual([]);
    await photograph(page, 'analytics');
    await page.close();
  });
});

it('works without a logged-in context too: a fresh browser is only ever shown the login', async () => {
  const browser = await launchChromium();
  const page = await browser.newPage();
  for (const path of ['/dashboard', '/dashboard/communications', '/dashboard/preferences', '/dashboard/templates', '/dashboard/assets/dashboard.js']) {
    await page.goto(`${fixture.baseUrl}${path}`);
    expect([path, new URL(page.url()).pathname]).toEqual([path, '/login']);
  }
  await browser.close();
});
