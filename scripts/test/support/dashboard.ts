import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createTestApiKey, type TestApiKey } from '@crm/testing';
import { startTestEngine, type TestEngine, type TestEngineOptions } from './engine';

// The operator dashboard in a real browser: Debian's Chromium driven by playwright-core, against
// a test engine whose ingest serves the dashboard behind the operator login.

export const chromiumPath = '/usr/bin/chromium';
/** Where the dashboard's screenshots go (shown in README). */
export const screenshotDir = resolve(__dirname, '..', '..', '..', 'docs', 'images', 'dashboard');
export const operator = Object.freeze({ username: 'operator', password: 'correct horse battery staple' });
/** The two widths every screen is checked and photographed at. */
export const widths = [1280, 375] as const;

export interface DashboardFixture {
  readonly engine: TestEngine;
  /** Ingest's base URL. */
  readonly baseUrl: string;
  /** An API key, to compare the dashboard with the API. */
  readonly api: TestApiKey;
  readonly browser: Browser;
  /** A browser context already logged in as the operator. */
  readonly context: BrowserContext;
  /** GET (or POST JSON to) the API with the key; the parsed JSON answer. */
  apiJson<T = unknown>(path: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(`Chromium is not installed at ${chromiumPath}: the dashboard tests need it (apt-get install chromium; .ci/run installs it)`);
  }
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Logs in through the login form (as a person would) and lands on `next`. */
export async function logIn(page: Page, baseUrl: string, next = '/dashboard'): Promise<void> {
  await page.goto(`${baseUrl}${next}`);
  // Not logged in: the dashboard sends the browser to the login form, which comes back here.
  await page.waitForURL(/\/login\?next=/);
  await page.getByLabel('User name').fill(operator.username);
  await page.getByLabel('Password').fill(operator.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((url) => url.pathname === next.split('?')[0]);
}

/**
 * A test engine (workers, ingest with the dashboard, sandbox with SMTP, Twilio and WhatsApp)
 * and a logged-in browser context.
 */
export async function startDashboard(options: TestEngineOptions = {}): Promise<DashboardFixture> {
  const engine = await startTestEngine({ messaging: true, webhooks: true, templates: true, operator, ...options });
  const baseUrl = engine.ingestUrl!;
  const api = await createTestApiKey(engine.t.db);
  const browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await logIn(page, baseUrl);
  await page.close();
  return {
    engine,
    baseUrl,
    api,
    browser,
    context,
    async apiJson<T>(path: string, body?: unknown) {
      const response = await fetch(`${baseUrl}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { ...api.headers, ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as T };
    },
    async close() {
      await browser.close();
      await engine.close();
    },
  };
}

/**
 * Saves `page` at each of {@link widths} as `<name>-<width>.png` (full page) and checks what a
 * reader would notice at once: nothing scrolls sideways, even at 375 px.
 */
export async function photograph(page: Page, name: string): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  for (const width of widths) {
    await page.setViewportSize({ width, height: 900 });
    // Charts redraw on resize (after a frame).
    await page.waitForTimeout(150);
    const overflow = await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document;
      return doc.documentElement.scrollWidth - doc.documentElement.clientWidth;
    });
    expect({ name, width, overflow }).toEqual({ name, width, overflow: 0 });
    await page.screenshot({ path: join(screenshotDir, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

/** One axe-core finding, as much as a failing test needs to show. */
interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly nodes: readonly { readonly target: readonly string[] }[];
}

const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * The page's WCAG 2.1 A/AA problems of impact serious or critical, as axe-core finds them
 * (labels, names, contrast, landmarks, ARIA). Evaluated through the DevTools protocol, which the
 * page's CSP does not govern.
 */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: AxeViolation[] }> } }).axe;
    const result = await axe.run({ exclude: [['iframe']] }, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}
