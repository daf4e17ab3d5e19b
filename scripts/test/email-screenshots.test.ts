import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { bindEmailTemplate, compileMjml, emailTemplateTypes, loadEmailTemplateSources, type EmailTemplateType, type RenderContext } from '@crm/templates';

// Every email template rendered with its sample data in a real browser (Chromium, offline), at a
// phone width (375 px) and a desktop width (800 px): full-page screenshots for the docs
// (docs/images/email/<type>-<width>.png) and the layout checks a reader would notice: no
// sideways scrolling on a phone, MJML's columns stacked on a phone and side by side on a
// desktop, the body at most 600 px wide and centred, and the client's name on screen.

const chromiumPath = '/usr/bin/chromium';
const outputDir = resolve(__dirname, '..', '..', 'docs', 'images', 'email');
const context: RenderContext = Object.freeze({
  unsubscribeUrl: 'https://crm.example/u/preview',
  postalAddress: 'Event Planner, 1 Example Street, Springfield, USA',
});
/** MJML's `mj-body width`: the body never grows past it. */
const bodyWidth = 600;
/** Sub-pixel layout: widths compare within a pixel. */
const tolerance = 1;

interface Rendered {
  readonly html: string;
  readonly clientName: string;
}

/** One `.mj-column-per-*` element as laid out. */
interface ColumnBox {
  /** The width MJML gave the column, in percent of its section (`mj-column-per-65` → 65). */
  readonly percent: number;
  readonly width: number;
  readonly top: number;
  readonly bottom: number;
  readonly left: number;
  /** The content width (padding excluded) of the element holding the column: its section's row. */
  readonly rowWidth: number;
  /** Which row holds the column: columns of one row share it. */
  readonly row: number;
}

interface Layout {
  readonly viewportWidth: number;
  readonly scrollWidth: number;
  readonly columns: readonly ColumnBox[];
  /** The boxes of the divs MJML centres at `max-width: 600px` (one per section). */
  readonly bodies: readonly { readonly width: number; readonly left: number }[];
}

// The few DOM types the in-page measurement uses (the test config has no DOM lib).
interface DomRect {
  readonly width: number;
  readonly top: number;
  readonly bottom: number;
  readonly left: number;
}
interface DomElement {
  readonly className: string;
  readonly clientWidth: number;
  readonly parentElement: DomElement | null;
  readonly style: { readonly maxWidth: string };
  getBoundingClientRect(): DomRect;
}
interface DomWindow {
  readonly document: {
    readonly documentElement: DomElement;
    readonly scrollingElement: { readonly scrollWidth: number } | null;
    querySelectorAll(selector: string): ArrayLike<DomElement>;
  };
  getComputedStyle(element: DomElement): { readonly paddingLeft: string; readonly paddingRight: string };
}

/** Runs in the page: the measurements of {@link Layout}. Self-contained (serialised by playwright). */
function measureLayout(): Layout {
  const { document, getComputedStyle } = globalThis as unknown as DomWindow;
  const rows: DomElement[] = [];
  const columns = Array.from(document.querySelectorAll('[class*="mj-column-per-"]')).map((element): ColumnBox => {
    const match = /mj-column-per-(\d+(?:-\d+)?)/.exec(element.className);
    const parent = element.parentElement ?? document.documentElement;
    const style = getComputedStyle(parent);
    if (!rows.includes(parent)) rows.push(parent);
    const box = element.getBoundingClientRect();
    return {
      percent: match?.[1] === undefined ? Number.NaN : Number(match[1].replace('-', '.')),
      width: box.width,
      top: box.top,
      bottom: box.bottom,
      left: box.left,
      rowWidth: parent.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
      row: rows.indexOf(parent),
    };
  });
  const bodies = Array.from(document.querySelectorAll('body div'))
    .filter((element) => element.style.maxWidth === '600px')
    .map((element) => {
      const { width, left } = element.getBoundingClientRect();
      return { width, left };
    });
  return {
    viewportWidth: document.documentElement.clientWidth,
    scrollWidth: document.scrollingElement?.scrollWidth ?? Number.NaN,
    columns,
    bodies,
  };
}

let browser: Browser | undefined;
const rendered = new Map<EmailTemplateType, Rendered>();

beforeAll(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(`Chromium is not installed at ${chromiumPath}: the email screenshots need it (apt-get install chromium; .ci/run installs it)`);
  }
  mkdirSync(outputDir, { recursive: true });
  const [launched] = await Promise.all([
    chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    }),
    ...loadEmailTemplateSources().map(async (source) => {
      const { html } = bindEmailTemplate(source, await compileMjml(source)).render(source.sampleVariables, context);
      const { clientName } = source.sampleVariables;
      if (typeof clientName !== 'string') throw new Error(`the ${source.messageType} sample has no clientName`);
      rendered.set(source.messageType, { html, clientName });
    }),
  ]);
  browser = launched;
}, 20_000);

afterAll(async () => {
  await browser?.close();
});

/**
 * Opens the rendered sample of `type` at `width` px, offline (every request but data: URLs is
 * aborted), saves its full-page screenshot, and hands the page to `check`.
 */
async function withEmail(type: EmailTemplateType, width: number, check: (page: Page, email: Rendered) => Promise<void>): Promise<void> {
  const email = rendered.get(type);
  if (!browser || !email) throw new Error(`the ${type} email or the browser is not ready`);
  const page = await browser.newPage({ viewport: { width, height: 800 } });
  try {
    await page.route('**/*', (route) => (route.request().url().startsWith('data:') ? route.continue() : route.abort()));
    await page.setContent(email.html, { waitUntil: 'load' });
    // Saved before the checks: a broken layout is worth looking at.
    await page.screenshot({ path: join(outputDir, `${type}-${width}.png`), fullPage: true });
    await check(page, email);
  } finally {
    await page.close();
  }
}

/** Whether the client's name is on screen (not hidden, not in a zero-size box). */
const showsName = async (page: Page, name: string): Promise<boolean> => (await page.getByText(name).filter({ visible: true }).count()) > 0;

it('renders every template type', () => {
  expect([...rendered.keys()].sort()).toEqual([...emailTemplateTypes].sort());
});

describe.each(emailTemplateTypes)('%s', (type) => {
  it('at 375 px: no horizontal scroll, columns stacked one below the other, the client name shown', () =>
    withEmail(type, 375, async (page, email) => {
      const layout = await page.evaluate(measureLayout);
      expect(layout.viewportWidth).toBe(375);
      expect(layout.scrollWidth).toBeLessThanOrEqual(375 + tolerance);
      expect(layout.columns.length).toBeGreaterThan(0);
      for (const column of layout.columns) {
        // Full width of its row: MJML's phone layout, whatever the desktop percentage.
        expect(Math.abs(column.width - column.rowWidth)).toBeLessThanOrEqual(tolerance);
        expect(column.left).toBeGreaterThanOrEqual(-tolerance);
      }
      // Columns of one row follow each other downwards, without overlapping.
      for (const [index, column] of layout.columns.entries()) {
        const previous = layout.columns.slice(0, index).filter((other) => other.row === column.row).at(-1);
        if (previous) expect(column.top).toBeGreaterThanOrEqual(previous.bottom - tolerance);
      }
      expect(layout.bodies.length).toBeGreaterThan(0);
      for (const body of layout.bodies) expect(body.width).toBeLessThanOrEqual(375 + tolerance);
      expect(await showsName(page, email.clientName)).toBe(true);
    }));

  it('at 800 px: the body at most 600 px wide and centred, columns at their MJML widths, the client name shown', () =>
    withEmail(type, 800, async (page, email) => {
      const layout = await page.evaluate(measureLayout);
      expect(layout.viewportWidth).toBe(800);
      expect(layout.scrollWidth).toBeLessThanOrEqual(800 + tolerance);
      expect(layout.bodies.length).toBeGreaterThan(0);
      for (const body of layout.bodies) expect(body.width).toBeLessThanOrEqual(bodyWidth);
      const widest = Math.max(...layout.bodies.map((body) => body.width));
      expect(widest).toBeGreaterThanOrEqual(bodyWidth - tolerance);
      for (const body of layout.bodies.filter((b) => b.width === widest)) {
        expect(Math.abs(body.left - (800 - bodyWidth) / 2)).toBeLessThanOrEqual(tolerance);
      }
      expect(layout.columns.length).toBeGreaterThan(0);
      for (const column of layout.columns) {
        // Desktop layout: a 65 % column takes 65 % of its row, so two columns sit side by side.
        expect(Math.abs(column.width - (column.rowWidth * column.percent) / 100)).toBeLessThanOrEqual(tolerance);
      }
      expect(await showsName(page, email.clientName)).toBe(true);
    }));
});
