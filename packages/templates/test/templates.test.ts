import { messageTitles, type JsonValue } from '@crm/core';
import { emailTemplateTypes, loadEmailTemplateSources, validateHtml, type EmailTemplateType } from '@crm/templates';
import { attribute, context, elements, prepare, textOf, visibleText } from './support/templates';

/** Per type: what a reader must find in both parts besides the client's name (sample values). */
const keyValues: Record<EmailTemplateType, string[]> = {
  welcome: ['Hart & Osei Wedding', 'Jordan Reyes'],
  budget_summary: ['Hart & Osei Wedding', '$18,500.00', 'Venue', '$7,200.00', 'Flowers & decor', '$1,900.00'],
  vendor_options: ['Hart & Osei Wedding', 'Harbourview Hall', 'Saffron Table Catering', '$54 per guest', 'Lumen Studio', 'Photography'],
  selection_confirmation: ['Hart & Osei Wedding', 'Lumen Studio', 'Photography', '$2,600.00'],
  blueprint_delivery: ['Hart & Osei Wedding', 'Saturday, 12 September 2026', 'attached to this email as a PDF'],
  error_notification: ["We could not reach the venue's booking system to hold your date.", 'support@eventplanner.example.com'],
  reminder: ['Hart & Osei Wedding', 'Please confirm your final guest count with the caterer.', 'Friday, 14 August 2026'],
  digest: [messageTitles.selection_confirmation, 'Vendor name: Lumen Studio', messageTitles.reminder, 'Due date: Friday, 14 August 2026'],
};

describe('loadEmailTemplateSources', () => {
  it('reads one English email template per type, the body inside the layout', () => {
    const sources = loadEmailTemplateSources();
    expect(sources.map((s) => s.messageType)).toEqual([...emailTemplateTypes]);
    expect(emailTemplateTypes).toEqual(['welcome', 'budget_summary', 'vendor_options', 'selection_confirmation', 'blueprint_delivery', 'error_notification', 'reminder', 'digest']);
    for (const source of sources) {
      expect(source).toMatchObject({ channel: 'email', language: 'en' });
      expect(source.mjml).toMatch(/^<mjml lang="en">/);
      expect(source.mjml).toContain('<mj-body width="600px"');
      expect(source.mjml).not.toContain('<!-- body -->');
      expect(source.text).not.toContain('{{!-- body --}}');
      expect(source.text).toContain('{{unsubscribeUrl}}');
      expect(source.subject.trim()).not.toBe('');
    }
  });

  it('throws naming the file when one is missing', () => {
    expect(() => loadEmailTemplateSources('/nonexistent/email')).toThrow(/layout\.mjml/);
  });
});

describe.each(emailTemplateTypes)('the %s email', (type) => {
  it('renders its sample into a subject, valid HTML and a plain text with the key values', async () => {
    const { source, template } = await prepare(type);
    const email = template.render(source.sampleVariables, context);
    const clientName = source.sampleVariables.clientName as string;

    expect(email.subject.trim()).not.toBe('');
    expect(email.subject).not.toMatch(/[\r\n]|\{\{/);
    expect(validateHtml(email.html)).toEqual({ valid: true, problems: [] });
    expect(email.html).not.toContain('{{');
    expect(email.text).not.toContain('{{');

    const shown = visibleText(email.html);
    expect(shown).toContain(clientName);
    expect(email.text).toContain(clientName);
    for (const value of keyValues[type]) {
      expect(shown).toContain(value);
      expect(email.text).toContain(value);
    }
  });

  it('has the CAN-SPAM footer: the postal address and the unsubscribe link', async () => {
    const { source, template } = await prepare(type);
    const email = template.render(source.sampleVariables, context);
    expect(visibleText(email.html)).toContain(context.postalAddress);
    const unsubscribe = elements(email.html).filter((e) => e.tagName === 'a' && attribute(e, 'href') === context.unsubscribeUrl);
    expect(unsubscribe).toHaveLength(1);
    expect(visibleText(email.html)).toContain('Unsubscribe');
    expect(email.text).toContain(context.postalAddress);
    expect(email.text).toContain(`Unsubscribe: ${context.unsubscribeUrl}`);
  });

  it('is responsive: a 600 px body on desktop, one column under MJML’s 480 px breakpoint', async () => {
    const { source, template } = await prepare(type);
    const { html, subject } = template.render(source.sampleVariables, context);
    expect(html).toContain('max-width:600px');
    // Columns are 100 % wide by default and get their desktop width only from 480 px up.
    expect(html).toContain('@media only screen and (min-width:480px)');
    expect(html).toMatch(/class="mj-column-per-\d+ /);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    const title = elements(html).find((e) => e.tagName === 'title');
    expect(title && textOf(title)).toBe(subject);
  });
});

describe('template specifics', () => {
  it('vendor_options links each vendor’s https page with a "View" button', async () => {
    const { source, template } = await prepare('vendor_options');
    const { html } = template.render(source.sampleVariables, context);
    const vendors = source.sampleVariables.vendors as { url: string }[];
    const buttons = elements(html).filter((e) => e.tagName === 'a' && textOf(e) === 'View');
    expect(buttons.map((b) => attribute(b, 'href'))).toEqual(vendors.map((v) => v.url));
  });

  it('error_notification links the support address with mailto:', async () => {
    const { source, template } = await prepare('error_notification');
    const { html } = template.render(source.sampleVariables, context);
    const mailto = elements(html).filter((e) => attribute(e, 'href') === 'mailto:support@eventplanner.example.com');
    expect(mailto.length).toBeGreaterThanOrEqual(1);
  });

  it('digest greets a client without a name and counts its items in the subject', async () => {
    const { source, template } = await prepare('digest');
    const { clientName: _omitted, ...anonymous } = source.sampleVariables;
    const email = template.render(anonymous, context);
    expect(email.subject).toBe('Updates on your event plan (2)');
    expect(email.text.startsWith('Hello,')).toBe(true);
    expect(visibleText(email.html)).toContain('Here is what happened on your event plan');
    expect(validateHtml(email.html).valid).toBe(true);
  });

  it('digest shows every item, in order', async () => {
    const { template } = await prepare('digest');
    const items = ['welcome', 'budget_summary', 'reminder'].map((messageType, i) => ({ communicationId: `c${i}`, messageType, variables: { eventName: `Event ${i}` } }));
    const email = template.render({ items }, context);
    const shown = visibleText(email.html);
    const positions = [messageTitles.welcome, messageTitles.budget_summary, messageTitles.reminder].map((title) => shown.indexOf(title));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(shown).toContain('Event name: Event 2');
    expect(email.text).toContain('  Event name: Event 1');
  });

  it('digest skips malformed items, as core’s digestItems does', async () => {
    const { template } = await prepare('digest');
    const items: JsonValue[] = [
      { communicationId: 'c1', messageType: 'reminder', variables: { dueDate: 'Friday' } },
      { communicationId: 'c2', messageType: 'no_such_type', variables: {} },
      'junk',
    ];
    const email = template.render({ clientName: 'Ada', items }, context);
    expect(email.subject).toBe('Updates on your event plan (1)');
    expect(email.text).toContain('Due date: Friday');
    expect(email.text).not.toContain('no_such_type');
    expect(validateHtml(email.html).valid).toBe(true);
  });
});
