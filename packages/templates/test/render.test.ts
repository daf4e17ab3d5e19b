import { bindEmailTemplate, compileMjml, formatMoney, messageTypeTitle, MissingTemplateVariablesError, variableLines, type EmailTemplateSource } from '@crm/templates';
import { context, prepare, visibleText } from './support/templates';

/** The error `render` throws, or a failure if it does not throw one. */
function renderError(render: () => unknown): MissingTemplateVariablesError {
  try {
    render();
  } catch (error) {
    if (error instanceof MissingTemplateVariablesError) return error;
    throw error;
  }
  throw new Error('render did not throw');
}

describe('required variables', () => {
  it('names every missing variable, not just the first', async () => {
    const { source, template } = await prepare('budget_summary');
    const { eventName: _e, categories: _c, ...variables } = source.sampleVariables;
    const error = renderError(() => template.render(variables, context));
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('MissingTemplateVariablesError');
    expect(error.messageType).toBe('budget_summary');
    expect(error.missing).toEqual(['eventName', 'categories']);
    expect(error.message).toContain('eventName');
    expect(error.message).toContain('categories');
    // Names, never values.
    expect(error.message).not.toContain('Amelia');
  });

  it('counts null and blank strings as missing, 0 and false as given', async () => {
    const { source, template } = await prepare('budget_summary');
    const error = renderError(() => template.render({ ...source.sampleVariables, clientName: '  ', eventName: null, total: 0 }, context));
    expect(error.missing).toEqual(['clientName', 'eventName']);
    expect(() => template.render({ ...source.sampleVariables, total: 0 }, context)).not.toThrow();
  });

  it('lists every variable of an empty render, and the footer context when it is blank', async () => {
    const { template } = await prepare('welcome');
    expect(renderError(() => template.render({}, context)).missing).toEqual(['clientName', 'eventName', 'plannerName']);
    const { source } = await prepare('welcome');
    expect(renderError(() => template.render(source.sampleVariables, { ...context, postalAddress: ' ' })).missing).toEqual(['postalAddress']);
  });

  it('does not take inherited properties for variables', async () => {
    const { template } = await prepare('welcome');
    const variables = Object.create({ clientName: 'Ada', eventName: 'Gala', plannerName: 'Jo' }) as Record<string, string>;
    expect(renderError(() => template.render(variables, context)).missing).toEqual(['clientName', 'eventName', 'plannerName']);
  });
});

describe('render', () => {
  it('escapes variables in the HTML only: the subject and the plain text show them as given', async () => {
    const { source, template } = await prepare('welcome');
    const email = template.render({ ...source.sampleVariables, clientName: "O'Brien & Co" }, context);
    expect(email.html).toContain('O&#x27;Brien &amp; Co');
    expect(email.html).not.toContain("O'Brien & Co");
    expect(visibleText(email.html)).toContain("Welcome, O'Brien & Co!");
    expect(email.text).toContain("Welcome, O'Brien & Co!");
    expect(email.subject).toBe("Welcome, O'Brien & Co: let's plan Hart & Osei Wedding");
  });

  it('keeps the subject on one line', async () => {
    const { source, template } = await prepare('blueprint_delivery');
    const email = template.render({ ...source.sampleVariables, eventName: 'Gala\r\nBcc: victim@example.com' }, context);
    expect(email.subject).toBe('Your event blueprint for Gala Bcc: victim@example.com');
  });

  it('takes the footer from the context, never from a variable of the same name', async () => {
    const { source, template } = await prepare('reminder');
    const email = template.render({ ...source.sampleVariables, unsubscribeUrl: 'https://evil.example.com/', postalAddress: 'Nowhere' }, context);
    expect(email.html).toContain(`href="${context.unsubscribeUrl}"`);
    expect(email.html).not.toContain('evil.example.com');
    expect(email.text).not.toContain('Nowhere');
  });

  it('formats money in the currency of the template', async () => {
    const { source, template } = await prepare('selection_confirmation');
    const email = template.render({ ...source.sampleVariables, price: 1234.5, currency: 'EUR' }, context);
    expect(email.text).toContain('Price: €1,234.50');
    expect(visibleText(email.html)).toContain('€1,234.50');
  });
});

describe('bindEmailTemplate', () => {
  const html = '<!doctype html><html><head><title>{{subject}}</title></head><body><p>Hi {{clientName}}</p></body></html>';
  const base = { messageType: 'welcome' as const, subject: 'Hi {{clientName}}', text: 'Hi {{clientName}}', requiredVariables: ['clientName'] };

  it('binds a template from cached HTML alone', () => {
    const template = bindEmailTemplate(base, html);
    expect(template.messageType).toBe('welcome');
    expect(template.html).toBe(html);
    expect(template.render({ clientName: 'Ada' }, context)).toEqual({
      subject: 'Hi Ada',
      html: '<!doctype html><html><head><title>Hi Ada</title></head><body><p>Hi Ada</p></body></html>',
      text: 'Hi Ada',
    });
  });

  it.each([
    ['html', { html: '<p>{{{clientName}}}</p>' }],
    ['html', { html: '<p>{{& clientName}}</p>' }],
    ['text', { text: 'Hi {{{clientName}}}' }],
    ['subject', { subject: 'Hi {{{clientName}}}' }],
  ])('refuses unescaped output in the %s', (part, change) => {
    const { html: changedHtml, ...rest } = { html, ...change };
    expect(() => bindEmailTemplate({ ...base, ...rest }, changedHtml)).toThrow(new RegExp(`${part} of the welcome email template has unescaped output`));
  });

  it('refuses helpers it does not know and broken Handlebars, at bind time', () => {
    expect(() => bindEmailTemplate(base, '<p>{{shout clientName}}</p>')).toThrow(/html of the welcome email template does not compile/);
    expect(() => bindEmailTemplate({ ...base, text: '{{#each items}}' }, html)).toThrow(/text of the welcome email template is not valid Handlebars/);
  });
});

describe('compileMjml', () => {
  const sourceOf = (mjml: string): EmailTemplateSource => ({
    messageType: 'welcome', channel: 'email', language: 'en', subject: 'Hi', mjml, text: 'Hi', requiredVariables: [], sampleVariables: {},
  });

  it('keeps the Handlebars placeholders for bindEmailTemplate', async () => {
    const { source } = await prepare('vendor_options');
    const compiled = await compileMjml(source);
    expect(compiled).toMatch(/^<!doctype html>/);
    expect(compiled).toContain('{{#each vendors}}');
    expect(compiled).toContain('href="{{url}}"');
    expect(compiled).toContain('{{unsubscribeUrl}}');
    expect(compiled).not.toMatch(/\n[ \t]+</);
  });

  it('rejects invalid MJML, naming the template and the error', async () => {
    const mjml = '<mjml><mj-body><mj-section><mj-text>Hi</mj-text></mj-section></mj-body></mjml>';
    await expect(compileMjml(sourceOf(mjml))).rejects.toThrow(/the welcome email template is not valid MJML: .*mj-text cannot be used inside mj-section/);
  });

  it('leaves whitespace alone where it is content', async () => {
    const mjml = '<mjml><mj-body><mj-section><mj-column><mj-text><pre>a\n    b</pre></mj-text></mj-column></mj-section></mj-body></mjml>';
    expect(await compileMjml(sourceOf(mjml))).toContain('<pre>a\n    b</pre>');
  });
});

describe('helpers', () => {
  it('money formats an amount in its currency, and shows anything else as given', () => {
    expect(formatMoney(18500, 'USD')).toBe('$18,500.00');
    expect(formatMoney('1200.5', 'eur')).toBe('€1,200.50');
    expect(formatMoney(100, 'dollars')).toBe('100 DOLLARS');
    expect(formatMoney('on request', 'USD')).toBe('on request USD');
    expect(formatMoney(2500, undefined)).toBe('2,500');
  });

  it('title names a message type; details lists variables but the client name', () => {
    expect(messageTypeTitle('reminder')).toBe('A reminder about your event plan');
    expect(messageTypeTitle('unknown_type')).toBe('unknown_type');
    expect(messageTypeTitle('toString')).toBe('toString');
    expect(variableLines({ clientName: 'Ada', eventName: 'Gala', total: 100 })).toEqual(['Event name: Gala', 'Total: 100']);
    expect(variableLines({ vendorName: 'Lumen', price: 2600, currency: 'USD', due_date: 'Friday' })).toEqual(['Vendor name: Lumen', 'Price: $2,600.00', 'Due date: Friday']);
    expect(variableLines('not an object')).toEqual([]);
  });
});
