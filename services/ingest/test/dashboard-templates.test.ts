import type { FastifyInstance } from 'fastify';
import { composeSms, composeWhatsApp, emailTemplateTypes, loadEmailTemplateSources, whatsAppTemplateMessage } from '@crm/templates';
import { startTestIngest, type TestIngest } from './support/test-ingest';
import { browserAccept, operatorBasic, testOperator } from './support/operator';

// The dashboard's Templates screen: every message type's email, SMS and WhatsApp text with its sample data.
const operator = testOperator;
const basic = operatorBasic;
const browser = browserAccept;
const samples = new Map(loadEmailTemplateSources().map((source) => [source.messageType, source.sampleVariables]));
let ingest: TestIngest;
let app: FastifyInstance;
beforeAll(async () => {
  ingest = await startTestIngest('ingest-dashboard-templates-test', { operator });
  ({ app } = ingest);
});
afterAll(() => ingest.close());

const page = (url: string, headers: Record<string, string> = { ...basic, ...browser }) => app.inject({ method: 'GET', url, headers });
/** As the dashboard's `html` tag writes a value. */
const escaped = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
/** Text content of some markup: tags dropped, entities read. */
const textOf = (markup: string): string =>
  markup.replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

describe('GET /dashboard/templates', () => {
  it('lists every message type with its email, SMS and WhatsApp template, each linking to its page', async () => {
    const response = await page('/dashboard/templates');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    const body = response.body;
    expect(body).toContain('<caption id="templates-caption">Templates by message type</caption>');
    expect(body).toContain('<a href="/dashboard/templates" aria-current="page">Templates</a>');
    expect(emailTemplateTypes).toContain('digest');
    for (const type of emailTemplateTypes) {
      const variables = samples.get(type)!;
      const sms = composeSms(type, variables);
      const whatsApp = composeWhatsApp(type, variables);
      const row = new RegExp(`<tr>\\s*<th scope="row"><a href="/dashboard/templates/${type}">${type}</a></th>([\\s\\S]*?)</tr>`).exec(body);
      expect(row).not.toBeNull();
      const cells = [...row![1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((m) => textOf(m[1]!));
      expect(cells).toHaveLength(7);
      expect(cells[0]!.length).toBeGreaterThan(0);
      expect(cells.slice(1)).toEqual(['1', sms.template, String(sms.segments), sms.encoding, whatsApp.template, whatsApp.kind]);
    }
  });
});

describe('GET /dashboard/templates/:type', () => {
  it.each([...emailTemplateTypes])('%s: the subject, the SMS and the WhatsApp texts of the sample data', async (type) => {
    const variables = samples.get(type)!;
    const preview = await app.inject({ method: 'GET', url: `/api/crm/templates/${type}/preview`, headers: ingest.auth });
    const { subject, text } = preview.json<{ subject: string; text: string }>();
    const response = await page(`/dashboard/templates/${type}`);
    expect(response.statusCode).toBe(200);
    const body = response.body;
    expect(body).toContain(`<title>Template: ${type} · crm-engine</title>`);

    // Email: its subject, the HTML framed from email.html, the text part, validate_html.
    expect(body).toContain(`<dd class="subject">${escaped(subject)}</dd>`);
    expect(body).toContain(`<iframe sandbox title="Email preview: ${type}" src="/dashboard/templates/${type}/email.html"`);
    expect(body).toContain(`<pre class="plain">${escaped(text)}</pre>`);
    expect(body).toContain('validate_html found no problem');

    // SMS: the body in the phone, with its figures.
    const sms = composeSms(type, variables);
    expect(body).toContain(`<p class="bubble sms-bubble">${escaped(sms.body)}</p>`);
    expect(body).toContain(`<dt>Segments</dt><dd>${sms.segments}</dd>`);
    expect(body).toContain(`<dt>Encoding</dt><dd>${sms.encoding}</dd>`);
    expect(body).toContain(`<dt>Optional parts dropped</dt><dd>${sms.dropped.length === 0 ? 'none' : sms.dropped.join(', ')}</dd>`);

    // WhatsApp inside the window: the text as the app shows it (bold without its asterisks).
    const whatsApp = composeWhatsApp(type, variables);
    const shown = /<p class="wa-text">([\s\S]*?)<\/p>/.exec(body);
    expect(shown).not.toBeNull();
    expect(textOf(shown![1]!)).toBe(whatsApp.body.replace(/\*([^*\n]+)\*/g, '$1'));
    if (whatsApp.kind === 'buttons') for (const button of whatsApp.buttons) expect(body).toContain(`<li>${escaped(button.title)}</li>`);
    // Outside it: the approved template with its parameters.
    const approved = whatsAppTemplateMessage(type, variables, 'en');
    expect(body).toContain(`<dt>Name</dt><dd>${approved.name}</dd>`);
    expect(body).toContain(`<dt>Language</dt><dd>${approved.language}</dd>`);
    for (const value of approved.bodyParameters) expect(body).toContain(`<td>${escaped(value)}</td>`);

    // The sample variables, escaped, in a collapsed <details>.
    expect(body).toContain(`<details class="variables">\n<summary>Sample variables</summary>\n<pre>${escaped(JSON.stringify(variables, null, 2))}</pre>`);
    // Nothing of the sample data is written unescaped ("Hart & Osei Wedding").
    expect(body).not.toContain('Hart & Osei');
  });

  it('shows vendor options as numbered SMS options and WhatsApp reply buttons', async () => {
    const body = (await page('/dashboard/templates/vendor_options')).body;
    expect(body).toContain('Reply 1, 2 or 3.');
    expect(body).toContain('<ul class="wa-buttons" aria-label="Reply buttons"><li>Harbourview Hall</li>');
    expect(body).toContain('<h3>Inside the 24-hour window <span class="badge">buttons</span></h3>');
  });

  it.each(['newsletter', '%3Cscript%3E', 'welcome%20'])('a bad type (%s) → 400 page naming the field and the types there are', async (type) => {
    const response = await page(`/dashboard/templates/${type}`);
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.body).toContain('<p class="field-error" id="type-error">must be one of');
    expect(response.body).not.toContain('<script>');
    for (const allowed of emailTemplateTypes) {
      expect(response.body).toContain(allowed);
      expect(response.body).toContain(`<a href="/dashboard/templates/${allowed}">`);
    }
  });
});

describe('GET /dashboard/templates/:type/email.html', () => {
  it('answers the rendered email, framable by the dashboard only', async () => {
    const response = await page('/dashboard/templates/vendor_options/email.html');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['content-security-policy']).toBe("default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; frame-ancestors 'self'");
    expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.body).toMatch(/^<!doctype html>/i);
    expect(response.body).toContain('Amelia Hart');
    expect(response.body).toContain('Harbourview Hall');
    const api = await app.inject({ method: 'GET', url: '/api/crm/templates/vendor_options/preview?format=html', headers: ingest.auth });
    expect(response.body).toBe(api.body);
  });

  it('a bad type → 400 naming the field', async () => {
    const response = await page('/dashboard/templates/newsletter/email.html');
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('id="type-error"');
  });
});

describe('the operator login', () => {
  it.each(['/dashboard/templates', '/dashboard/templates/welcome', '/dashboard/templates/welcome/email.html'])('%s without credentials: a browser goes to /login', async (url) => {
    const response = await page(url, browser);
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe(`/login?next=${encodeURIComponent(url)}`);
  });

  it('a script without credentials gets 401', async () => {
    expect((await page('/dashboard/templates', {})).statusCode).toBe(401);
  });
});
