import type { Page } from 'playwright-core';
import { loadEmailTemplateSources } from '@crm/templates';
import { accessibilityProblems, photograph, startDashboard, type DashboardFixture } from './support/dashboard';

// The dashboard's Communications screens in Chromium: a real fallback (WhatsApp refuses the
// message with 131026, SMS sends it) found through the search form and read on its timeline,
// beside a few ordinary sends. Accessible, keyboard-reachable and photographed for the docs.

const phone = '+14155550123';
const welcome = loadEmailTemplateSources().find((source) => source.messageType === 'welcome')!.sampleVariables;
let dashboard: DashboardFixture;
let page: Page;
let fallbackId: string;

beforeAll(async () => {
  dashboard = await startDashboard();
  const { engine } = dashboard;
  // A few ordinary sends first, so the list looks like a real one.
  const ordinary = [
    await engine.send({ clientId: 'client-ada', email: 'ada@example.com' }),
    await engine.send({ clientId: 'client-grace', email: 'grace@example.com', messageType: 'welcome', variables: welcome }),
    await engine.send({ clientId: 'client-linus', phone: '+14155550124', channel: 'sms' }),
    await engine.send({ clientId: 'client-ada', email: 'ada@example.com', phone: '+14155550125', channel: 'sms', planId: 'plan-9' }),
  ];
  for (const id of ordinary) await engine.finished(id);

  // Default preferences and only a phone: WhatsApp first, then SMS.
  await engine.fault('whatsapp', { errorCode: 131026 });
  fallbackId = await engine.send({ clientId: 'client-fallback', phone, channel: undefined });
  const row = await engine.finished(fallbackId);
  expect(row).toMatchObject({ status: 'sent', channel: 'sms', channels_tried: ['whatsapp', 'sms'] });
  await fetch(`${engine.sandbox.httpUrl}/admin/faults`, { method: 'DELETE' });
  page = await dashboard.context.newPage();
}, 120_000);
afterAll(async () => {
  await page?.close();
  await dashboard?.close();
});

describe('the Communications screens', () => {
  it('lists the communications, newest first, accessible and reachable by keyboard', async () => {
    const response = await page.goto(`${dashboard.baseUrl}/dashboard/communications`);
    expect(response?.status()).toBe(200);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Communications');
    const rows = page.locator('table.communications tbody tr');
    expect(await rows.count()).toBe(5);
    // Newest first: the fallback was sent last.
    expect(await rows.first().locator('td').nth(1).textContent()).toBe('client-fallback');
    expect(await accessibilityProblems(page)).toEqual([]);
    await photograph(page, 'communications');

    // From the top of the page, Tab reaches the client id field (after the skip link, the navigation and logout).
    await page.locator('body').focus();
    let reached = false;
    for (let presses = 0; presses < 15 && !reached; presses++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id?: string } | null } }).document.activeElement?.id === 'clientId');
    }
    expect(reached).toBe(true);
  });

  it('finds the fallback by client id and shows WhatsApp → SMS with its reason on the timeline', async () => {
    await page.goto(`${dashboard.baseUrl}/dashboard/communications`);
    await page.getByLabel('Client id').fill('client-fallback');
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => url.searchParams.get('clientId') === 'client-fallback');
    const rows = page.locator('table.communications tbody tr');
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('whatsapp → sms');
    expect(await accessibilityProblems(page)).toEqual([]);

    await rows.first().getByRole('link').click();
    await page.waitForURL((url) => url.pathname === `/dashboard/communications/${fallbackId}`);
    expect(await page.getByRole('heading', { level: 2, name: 'Timeline' }).isVisible()).toBe(true);
    const fallback = page.locator('ol.timeline li.entry.fallback');
    expect(await fallback.count()).toBe(1);
    const said = (await fallback.locator('.entry-says').textContent())!.replace(/\s+/g, ' ');
    expect(said).toContain('Fallback whatsapp → sms');
    expect(said).toContain('reason: permanent');
    expect(said).toContain('131026');
    // The failed WhatsApp attempt before it, the SMS success after it.
    const events = await page.locator('ol.timeline .event').allTextContents();
    const at = events.indexOf('Fallback');
    expect(events.slice(0, at)).toContain('Attempt failed');
    expect(events.slice(at)).toContain('Provider accepted');
    // Template variables are collapsed; no contact detail anywhere.
    expect(await page.locator('details.variables').getAttribute('open')).toBeNull();
    const content = await page.content();
    expect(content).not.toContain(phone);
    expect(content).not.toContain('4155550123');
    expect(await accessibilityProblems(page)).toEqual([]);
    await photograph(page, 'communication');

    // Back to the client's communications.
    await page.getByRole('link', { name: /Communications of client client-fallback/ }).click();
    await page.waitForURL((url) => url.searchParams.get('clientId') === 'client-fallback');
  });
});
