import type { Page } from 'playwright-core';
import { composeSms, loadEmailTemplateSources } from '@crm/templates';
import { accessibilityProblems, photograph, startDashboard, type DashboardFixture } from './support/dashboard';

// The dashboard's Templates screen in Chromium: the index, a type's page reached by keyboard, its
// email rendered in the sandboxed frame, its SMS on screen; accessible, and photographed for the docs.
const vendorOptions = loadEmailTemplateSources().find((source) => source.messageType === 'vendor_options')!.sampleVariables;
const clientName = String(vendorOptions.clientName);
let dashboard: DashboardFixture;
let page: Page;
beforeAll(async () => {
  dashboard = await startDashboard();
  page = await dashboard.context.newPage();
}, 120_000);
afterAll(async () => {
  await page?.close();
  await dashboard?.close();
});

describe('the Templates screen', () => {
  it('lists every message type and is accessible', async () => {
    const response = await page.goto(`${dashboard.baseUrl}/dashboard/templates`);
    expect(response?.status()).toBe(200);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Templates');
    const table = page.getByRole('table', { name: 'Templates by message type' });
    for (const type of ['welcome', 'vendor_options', 'digest']) {
      expect(await table.getByRole('link', { name: type, exact: true }).count()).toBe(1);
    }
    expect(await accessibilityProblems(page)).toEqual([]);
    await page.setViewportSize({ width: 375, height: 900 });
    expect(await accessibilityProblems(page)).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 900 });
    await photograph(page, 'templates');
  }, 60_000);

  it('opens vendor_options by keyboard: the email in its frame, the SMS on screen', async () => {
    await page.goto(`${dashboard.baseUrl}/dashboard/templates`);
    await page.getByRole('link', { name: 'vendor_options', exact: true }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => url.pathname === '/dashboard/templates/vendor_options');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Template: vendor_options');

    // The rendered email, loaded from email.html into the sandboxed frame.
    const frame = page.frameLocator('iframe[title="Email preview: vendor_options"]');
    await frame.locator('body').getByText(clientName).first().waitFor({ state: 'attached', timeout: 10_000 });
    expect(await frame.locator('body').textContent()).toContain(clientName);

    // The SMS, as composed for the sample data: numbered options and "Reply 1, 2 or 3."
    const sms = composeSms('vendor_options', vendorOptions);
    expect(sms.body).toContain('Reply 1, 2 or 3.');
    const bubble = page.getByRole('group', { name: 'The SMS as a phone shows it' });
    expect(await bubble.getByText('Reply 1, 2 or 3.').isVisible()).toBe(true);
    expect(await bubble.textContent()).toContain(sms.body);
    // The WhatsApp reply buttons as the app shows them.
    expect(await page.getByRole('list', { name: 'Reply buttons' }).getByRole('listitem').count()).toBe(3);

    expect(await accessibilityProblems(page)).toEqual([]);
    // (Before the details below scroll the frame out of view: Chromium stops painting an
    // off-screen cross-origin frame, and the sandboxed email frame is one.)
    await photograph(page, 'template');

    // The sample variables stay collapsed until asked for, and open by keyboard.
    const details = page.locator('details.variables');
    expect(await details.getAttribute('open')).toBeNull();
    expect(await details.locator('pre').isVisible()).toBe(false);
    await details.locator('summary').focus();
    await page.keyboard.press('Enter');
    expect(await details.getAttribute('open')).not.toBeNull();
    expect(await details.locator('pre').textContent()).toBe(JSON.stringify(vendorOptions, null, 2));
  }, 60_000);
});
