import type { Page } from 'playwright-core';
import { accessibilityProblems, photograph, startDashboard, type DashboardFixture } from './support/dashboard';

// The dashboard's Preferences screen in Chromium: look a client up, reorder its channels with the
// buttons (by mouse and by keyboard), change its time zone, quiet hours and opt-outs, save through
// the preferences API, read the result back from the API; then a bad time zone shown by its field
// with nothing written. Accessible, and photographed for the docs.

interface Answer {
  readonly clientId: string;
  readonly channels: string[];
  readonly timezone: string;
  readonly quietHours: { start: string; end: string } | null;
  readonly optOuts: string[];
  readonly defaults: string[];
}

const clientId = 'dashboard-pref-client';
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

/** The channels of the list, top to bottom. */
const order = (): Promise<string[]> =>
  page.locator('#channel-order > li').evaluateAll((items) => items.map((item) => item.getAttribute('data-channel') ?? ''));

const readBack = async (): Promise<Answer> => {
  const answer = await dashboard.apiJson<Answer>(`/api/crm/preferences/${clientId}`);
  expect(answer.status).toBe(200);
  return answer.body;
};

describe('the Preferences screen', () => {
  it('looks a client up, edits its preferences and saves them through the API', async () => {
    const created = await dashboard.apiJson<Answer>('/api/crm/preferences', { clientId, email: 'lin.moreau@example.com', phone: '+14155550123' });
    expect(created.status).toBe(200);

    const response = await page.goto(`${dashboard.baseUrl}/dashboard/preferences`);
    expect(response?.status()).toBe(200);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Preferences');
    await page.getByLabel('Client id').fill(clientId);
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.waitForURL((url) => url.pathname === `/dashboard/preferences/${clientId}`);

    // Contact details only masked.
    const content = await page.content();
    expect(content).not.toContain('lin.moreau');
    expect(content).not.toContain('4155550123');
    expect(await page.getByText('l•••@example.com').isVisible()).toBe(true);
    expect(await page.getByText('+1•••••0123').isVisible()).toBe(true);

    // Reorder: the last channel to the top with the mouse, then the second one down with the keyboard.
    const [a, b, c] = await order();
    const name = (channel: string | undefined) => ({ email: 'Email', whatsapp: 'WhatsApp', sms: 'SMS' })[channel as 'email']!;
    await page.getByRole('button', { name: `Move ${name(c)} up` }).click();
    await page.getByRole('button', { name: `Move ${name(c)} up` }).click();
    expect(await order()).toEqual([c, a, b]);
    await page.getByRole('button', { name: `Move ${name(a)} down` }).focus();
    await page.keyboard.press('Enter');
    expect(await order()).toEqual([c, b, a]);
    // Focus stays on the button that was pressed, and the move is announced.
    expect(await page.locator(':focus').textContent()).toBe(`Move ${name(a)} down`);
    expect(await page.locator('#order-announce').textContent()).toBe(`${name(a)} moved to position 3 of 3`);
    for (const channel of [a, b, c]) await page.locator(`#channel-${channel}`).check();

    await page.getByLabel('Time zone').fill('Asia/Tokyo');
    await page.getByLabel('Start', { exact: true }).fill('21:15');
    await page.getByLabel('End', { exact: true }).fill('06:45');
    await page.locator('[data-field="optOuts"]').getByLabel('SMS').check();
    expect(await accessibilityProblems(page)).toEqual([]);

    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    await photograph(page, 'preferences');

    expect(await readBack()).toMatchObject({
      channels: [c, b, a], timezone: 'Asia/Tokyo', quietHours: { start: '21:15', end: '06:45' }, optOuts: ['sms'], defaults: [],
    });
    // The fields show what is now stored: no "(default)" left.
    expect(await page.locator('[data-default-mark]:visible').count()).toBe(0);
    expect(await order()).toEqual([c, b, a]);
  });

  it('shows a bad time zone by its field, and writes nothing', async () => {
    const timezone = page.getByLabel('Time zone');
    await timezone.fill('Mars/Olympus_Mons');
    await page.getByRole('button', { name: 'Save' }).click();
    const error = page.locator('[data-field="timezone"] .field-error');
    await error.waitFor();
    expect(await error.isVisible()).toBe(true);
    expect(await error.textContent()).toContain('must be an IANA time zone');
    expect(await error.getAttribute('id')).toBe('timezone-error');
    expect(await timezone.getAttribute('aria-invalid')).toBe('true');
    expect((await timezone.getAttribute('aria-describedby'))?.split(' ')).toContain('timezone-error');
    expect(await page.locator(':focus').getAttribute('id')).toBe('timezone');
    expect(await page.getByRole('status').textContent()).toBe('Not saved');
    expect((await readBack()).timezone).toBe('Asia/Tokyo');
    expect(await accessibilityProblems(page)).toEqual([]);
    await photograph(page, 'preferences-error');

    // Corrected: saved, and the error is gone.
    await timezone.fill('Europe/Berlin');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect(await error.count()).toBe(0);
    expect(await timezone.getAttribute('aria-invalid')).toBeNull();
    expect(await timezone.getAttribute('aria-describedby')).toBe('timezone-hint');
    expect((await readBack()).timezone).toBe('Europe/Berlin');
  });

  it('answers a bad client id with the lookup form, 400 and the error by the field', async () => {
    const response = await page.goto(`${dashboard.baseUrl}/dashboard/preferences?clientId=${encodeURIComponent('someone@example.com')}`);
    expect(response?.status()).toBe(400);
    const input = page.getByLabel('Client id');
    expect(await input.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#clientId-error').textContent()).toContain('not an email address');
    expect(await accessibilityProblems(page)).toEqual([]);
  });
});
