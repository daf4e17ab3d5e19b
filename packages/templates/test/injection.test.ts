import type { JsonObject } from '@crm/core';
import { emailTemplateTypes, validateHtml, type EmailTemplateType } from '@crm/templates';
import { attribute, context, elements, prepare, visibleText } from './support/templates';

const payloads = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>'];

/** Where each template shows client-supplied text besides `clientName`: a vendor, a category, a digest item… */
const inject: Record<EmailTemplateType, (sample: JsonObject, payload: string) => JsonObject> = {
  welcome: (s, p) => ({ ...s, eventName: p, plannerName: p }),
  budget_summary: (s, p) => ({ ...s, eventName: p, categories: [{ name: p, amount: 100 }] }),
  vendor_options: (s, p) => ({ ...s, vendors: [{ name: p, category: p, price: p, url: 'https://vendors.example.com/x' }] }),
  selection_confirmation: (s, p) => ({ ...s, vendorName: p, category: p }),
  blueprint_delivery: (s, p) => ({ ...s, eventName: p, eventDate: p }),
  error_notification: (s, p) => ({ ...s, errorSummary: p }),
  reminder: (s, p) => ({ ...s, reminderText: p, dueDate: p }),
  digest: (_s, p) => ({ clientName: p, items: [{ communicationId: 'c1', messageType: 'selection_confirmation', variables: { clientName: p, vendorName: p } }] }),
};

const cases = emailTemplateTypes.flatMap((type) => payloads.map((payload) => [type, payload] as const));

describe.each(cases)('the %s email with %s from the client', (type, payload) => {
  it('shows it as text: no script element, no event handler, valid HTML', async () => {
    const { source, template } = await prepare(type);
    const variables = inject[type]({ ...source.sampleVariables, clientName: payload }, payload);
    const email = template.render(variables, context);

    const parsed = elements(email.html);
    expect(parsed.filter((e) => e.tagName === 'script')).toEqual([]);
    expect(parsed.filter((e) => e.tagName === 'img')).toEqual([]);
    expect(parsed.flatMap((e) => e.attrs.map((a) => a.name)).filter((name) => /^on/i.test(name))).toEqual([]);
    // The reader sees the payload's characters, escaped in the source.
    expect(visibleText(email.html)).toContain(payload);
    expect(email.html).not.toContain(payload);
    expect(email.html).toContain(payload.startsWith('<') ? '&lt;script&gt;alert(1)&lt;/script&gt;' : '&quot;&gt;&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;');
    expect(validateHtml(email.html)).toEqual({ valid: true, problems: [] });
    // text/plain is not HTML: the characters are shown as they are.
    expect(email.text).toContain(payload);
  });
});

describe('a hostile vendor URL', () => {
  it('cannot leave its href attribute', async () => {
    const { source, template } = await prepare('vendor_options');
    const url = 'https://vendors.example.com/"><script>alert(1)</script>';
    const { html } = template.render({ ...source.sampleVariables, vendors: [{ name: 'V', category: 'C', price: '1', url }] }, context);
    expect(elements(html).filter((e) => e.tagName === 'script')).toEqual([]);
    expect(elements(html).some((e) => e.tagName === 'a' && attribute(e, 'href') === url)).toBe(true);
  });

  it('with javascript: is caught by validateHtml', async () => {
    const { source, template } = await prepare('vendor_options');
    const { html } = template.render({ ...source.sampleVariables, vendors: [{ name: 'V', category: 'C', price: '1', url: 'javascript:alert(1)' }] }, context);
    const result = validateHtml(html);
    expect(result.valid).toBe(false);
    expect(result.problems.join('\n')).toMatch(/javascript: URL/);
  });
});
