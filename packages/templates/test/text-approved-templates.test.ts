import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { messageTypes, type JsonObject, type StoredMessageType } from '@crm/core';
import { templateLanguage, whatsAppApprovedTemplates, whatsAppTemplateMessage, type WhatsAppTemplateMessage } from '@crm/templates';

const sample = (type: StoredMessageType): JsonObject =>
  (JSON.parse(readFileSync(join(__dirname, '..', 'email', `${type}.json`), 'utf8')) as { sample: JsonObject }).sample;
const storedTypes: readonly StoredMessageType[] = [...messageTypes, 'digest'];

/** Meta's rules for a body parameter: broken ones, as a list. */
function brokenParameterRules(parameter: string): string[] {
  const broken: string[] = [];
  if (parameter.trim() === '') broken.push('empty');
  if (/[\n\r\t]/.test(parameter)) broken.push('newline or tab');
  if (/ {5,}/.test(parameter)) broken.push('more than 4 consecutive spaces');
  if (parameter.length > 1024) broken.push('longer than 1024');
  return broken;
}

/** The body of a template message as the client sees it: the approved body with its parameters. */
function rendered(message: WhatsAppTemplateMessage): string {
  const template = whatsAppApprovedTemplates[message.name];
  if (!template) throw new Error(`no approved template ${message.name}`);
  return template.body.replace(/\{\{(\d+)\}\}/g, (_, n: string) => message.bodyParameters[Number(n) - 1] ?? `<missing ${n}>`);
}

describe('whatsAppApprovedTemplates', () => {
  it('has crm_<message_type> for every message type, digests included', () => {
    for (const type of storedTypes) expect(whatsAppApprovedTemplates).toHaveProperty(`crm_${type}`);
    expect(Object.keys(whatsAppApprovedTemplates).every((name) => /^crm_[a-z_]+$/.test(name))).toBe(true);
  });

  it.each(Object.entries(whatsAppApprovedTemplates))('%s numbers its placeholders 1..n, one per parameter, never first or last', (_name, template) => {
    const placeholders = [...template.body.matchAll(/\{\{(\d+)\}\}/g)].map((match) => Number(match[1]));
    expect(placeholders).toEqual(template.parameters.map((_, index) => index + 1));
    expect(template.body).not.toMatch(/^\s*\{\{/);
    expect(template.body).not.toMatch(/\}\}[\s.!?]*$/);
    expect(template.body.length).toBeLessThanOrEqual(1024);
    expect(template.language).toBe('en');
  });
});

describe('whatsAppTemplateMessage', () => {
  it.each(storedTypes)('%s: crm_%s with one parameter per placeholder', (type) => {
    const message = whatsAppTemplateMessage(type, sample(type), 'en');
    expect(message.name).toBe(`crm_${type}`);
    expect(message.language).toBe('en');
    expect(message.bodyParameters).toHaveLength(whatsAppApprovedTemplates[message.name]!.parameters.length);
    for (const parameter of message.bodyParameters) expect(brokenParameterRules(parameter)).toEqual([]);
    expect(rendered(message)).not.toMatch(/\{\{|<missing/);
  });

  it('fills the samples as a client reads them', () => {
    expect(rendered(whatsAppTemplateMessage('vendor_options', sample('vendor_options'), 'en'))).toBe(
      'Hi Amelia Hart, we have shortlisted vendors for Hart & Osei Wedding: 1) Harbourview Hall, Venue, $7,200; 2) Saffron Table Catering, Catering, $54 per guest; 3) Lumen Studio, Photography, $2,600. Reply with the number of the one you choose.',
    );
    expect(rendered(whatsAppTemplateMessage('reminder', sample('reminder'), 'en'))).toBe(
      'Hi Amelia Hart, a reminder about Hart & Osei Wedding: Please confirm your final guest count with the caterer. Due: Friday, 14 August 2026. Reply to this message if you need more time.',
    );
    expect(whatsAppTemplateMessage('digest', sample('digest'), 'en').bodyParameters).toEqual(['Amelia Hart', '2 updates on your event plan: selection confirmed; reminder']);
  });

  it('gives every missing or wrong-typed variable a fallback: Meta rejects an empty parameter', () => {
    for (const type of storedTypes) {
      for (const variables of [{}, { clientName: 42, eventName: null, vendors: 'x', items: {}, total: { a: 1 } }] as JsonObject[]) {
        const message = whatsAppTemplateMessage(type, variables, 'en');
        for (const parameter of message.bodyParameters) expect(brokenParameterRules(parameter)).toEqual([]);
      }
    }
    expect(rendered(whatsAppTemplateMessage('budget_summary', {}, 'en'))).toBe(
      'Hi there, the budget for your event is ready. Total: to be confirmed. Reply to this message to see how it splits across categories.',
    );
  });

  it('makes any text a valid parameter: one line, at most 4 spaces in a row, at most 1024 characters', () => {
    const messy = fc.array(fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('\n', '\r\n', '\t', '     ', '          ', '\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0')), { maxLength: 200 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.constantFrom(...storedTypes), fc.record({ clientName: messy, eventName: messy, reminderText: messy, errorSummary: messy, dueDate: messy, plannerName: messy }), (type, variables) => {
        const message = whatsAppTemplateMessage(type, variables, 'en');
        for (const parameter of message.bodyParameters) expect(brokenParameterRules(parameter)).toEqual([]);
      }),
      { numRuns: 300 },
    );
    const long = whatsAppTemplateMessage('reminder', { reminderText: 'word '.repeat(400) }, 'en').bodyParameters[2]!;
    expect(long.length).toBeLessThanOrEqual(1024);
    expect(long.endsWith('word…')).toBe(true);
  });

  it.each([
    ['en', 'en'],
    ['en_US', 'en_US'],
    ['en-us', 'en_US'],
    ['pt-BR', 'pt_BR'],
    ['zh-Hant', 'zh_Hant'],
    [' fr ', 'fr'],
    ['', 'en'],
    ['english', 'en'],
    ['en-US-x-private', 'en'],
  ])('language %j → %j', (language, expected) => {
    expect(whatsAppTemplateMessage('welcome', {}, language).language).toBe(expected);
    expect(templateLanguage(language)).toBe(expected);
  });

  it('falls back to en for a language that is not a string', () => {
    expect(templateLanguage(undefined)).toBe('en');
    expect(templateLanguage(42)).toBe('en');
  });
});
