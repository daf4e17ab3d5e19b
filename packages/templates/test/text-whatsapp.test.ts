import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { messageTypes, type JsonObject, type JsonValue, type StoredMessageType } from '@crm/core';
import { composeWhatsApp, optionNumberOfReplyId, optionReplyId, whatsAppLimits, type WhatsAppContent } from '@crm/templates';

const sample = (type: StoredMessageType): JsonObject =>
  (JSON.parse(readFileSync(join(__dirname, '..', 'email', `${type}.json`), 'utf8')) as { sample: JsonObject }).sample;
const storedTypes: readonly StoredMessageType[] = [...messageTypes, 'digest'];

/** Every limit Meta sets on the content, as a list of broken rules (empty when it is valid). */
function brokenLimits(content: WhatsAppContent): string[] {
  const broken: string[] = [];
  const check = (ok: boolean, rule: string): void => {
    if (!ok) broken.push(rule);
  };
  check(content.body.trim().length > 0, 'body is empty');
  if (content.kind === 'text') {
    check(content.body.length <= whatsAppLimits.textBody, `text body ${content.body.length} > 4096`);
    return broken;
  }
  check(content.body.length <= whatsAppLimits.interactiveBody, `interactive body ${content.body.length} > 1024`);
  check(content.footer === undefined || content.footer.length <= whatsAppLimits.footer, 'footer > 60');
  if (content.kind === 'buttons') {
    check(content.buttons.length >= 1 && content.buttons.length <= 3, `${content.buttons.length} buttons`);
    check(new Set(content.buttons.map((button) => button.title.toLowerCase())).size === content.buttons.length, 'button titles repeat');
    check(new Set(content.buttons.map((button) => button.id)).size === content.buttons.length, 'button ids repeat');
    for (const button of content.buttons) {
      check(button.title.trim().length > 0 && button.title.length <= whatsAppLimits.buttonTitle, `button title "${button.title}"`);
      check(button.id.length <= whatsAppLimits.buttonId, 'button id > 256');
    }
  } else {
    check(content.buttonLabel.length > 0 && content.buttonLabel.length <= whatsAppLimits.listButtonLabel, 'button label');
    check(content.rows.length >= 1 && content.rows.length <= whatsAppLimits.listRows, `${content.rows.length} rows`);
    check(new Set(content.rows.map((row) => row.id)).size === content.rows.length, 'row ids repeat');
    for (const row of content.rows) {
      check(row.title.trim().length > 0 && row.title.length <= whatsAppLimits.rowTitle, `row title "${row.title}"`);
      check(row.description === undefined || row.description.length <= whatsAppLimits.rowDescription, `row description "${row.description}"`);
      check(row.id.length <= whatsAppLimits.rowId, 'row id > 200');
    }
  }
  return broken;
}

const optionIds = (content: WhatsAppContent): string[] =>
  content.kind === 'buttons' ? content.buttons.map((button) => button.id) : content.kind === 'list' ? content.rows.map((row) => row.id) : [];

const vendors = (count: number, name: (index: number) => string = (index) => `Vendor ${index + 1} Hall`): JsonObject[] =>
  Array.from({ length: count }, (_, index) => ({ name: name(index), category: 'Venue', price: 1000 * (index + 1), url: `https://vendors.example.com/v${index + 1}` }));

describe('composeWhatsApp on the samples', () => {
  it('writes a bold title, short paragraphs and the template name for every message type', () => {
    for (const type of storedTypes) {
      const content = composeWhatsApp(type, sample(type));
      expect(brokenLimits(content)).toEqual([]);
      expect(content.body).toMatch(/^\*[^*\n]+\*\n\n/);
      expect(content.template).toMatch(/_whatsapp$/);
    }
  });

  it('welcome_whatsapp', () => {
    expect(composeWhatsApp('welcome', sample('welcome'))).toEqual({
      kind: 'text',
      template: 'welcome_whatsapp',
      body: [
        '*Welcome to your event plan*',
        '',
        'Hi Amelia Hart, welcome! Jordan Reyes is your planner for *Hart & Osei Wedding*.',
        '',
        'We will keep you posted here: your budget, vendor options and event blueprint. Reply to this chat any time with questions.',
      ].join('\n'),
    });
  });

  it('budget_ready_whatsapp lists the categories and shows the total in bold', () => {
    const { body } = composeWhatsApp('budget_summary', sample('budget_summary'));
    expect(body).toContain('*Your budget for Hart & Osei Wedding*');
    expect(body).toContain('- Venue: $7,200\n- Catering: $5,400\n- Photography: $2,600\n- Flowers & decor: $1,900\n- Music: $1,400');
    expect(body).toContain('*Total: $18,500*');
  });

  it('vendors_ready_whatsapp: reply buttons for three vendors, their links in the body', () => {
    const content = composeWhatsApp('vendor_options', sample('vendor_options'));
    expect(content).toEqual({
      kind: 'buttons',
      template: 'vendors_ready_whatsapp',
      body: [
        '*Vendor options for Hart & Osei Wedding*',
        '',
        'Hi Amelia Hart, we have shortlisted 3 vendors for you:',
        '',
        '1. *Harbourview Hall*, Venue, $7,200',
        'https://vendors.example.com/harbourview-hall',
        '2. *Saffron Table Catering*, Catering, $54 per guest',
        'https://vendors.example.com/saffron-table',
        '3. *Lumen Studio*, Photography, $2,600',
        'https://vendors.example.com/lumen-studio',
        '',
        'Tap a button to choose, or reply with its number.',
      ].join('\n'),
      footer: 'Prices are quotes for your date and guest count.',
      buttons: [
        { id: 'option:1', title: 'Harbourview Hall' },
        { id: 'option:2', title: 'Saffron Table…' },
        { id: 'option:3', title: 'Lumen Studio' },
      ],
    });
  });

  it('blueprint_ready_whatsapp shows the date and the link', () => {
    const { body } = composeWhatsApp('blueprint_delivery', { ...sample('blueprint_delivery'), blueprintUrl: 'https://plans.example.com/b/42' });
    expect(body).toBe(
      [
        '*Your event blueprint is ready*',
        '',
        'Hi Amelia Hart, the blueprint for *Hart & Osei Wedding* is ready.',
        '',
        'Event date: *Saturday, 12 September 2026*',
        '',
        'View it here: https://plans.example.com/b/42',
        '',
        'Reply here if you would like any changes.',
      ].join('\n'),
    );
  });
});

describe('vendor options on WhatsApp', () => {
  it.each([1, 2, 3])('%i vendors: as many reply buttons', (count) => {
    const content = composeWhatsApp('vendor_options', { vendors: vendors(count) });
    expect(content.kind).toBe('buttons');
    expect(optionIds(content)).toEqual(Array.from({ length: count }, (_, index) => `option:${index + 1}`));
    expect(brokenLimits(content)).toEqual([]);
  });

  it.each([4, 7, 10])('%i vendors: a list with a row each', (count) => {
    const content = composeWhatsApp('vendor_options', { vendors: vendors(count), currency: 'USD' });
    expect(content.kind).toBe('list');
    if (content.kind !== 'list') return;
    expect(content.rows).toHaveLength(count);
    expect(content.rows[0]).toEqual({ id: 'option:1', title: 'Vendor 1 Hall', description: 'Venue · $1,000' });
    expect(content.buttonLabel).toBe('Choose a vendor');
    expect(brokenLimits(content)).toEqual([]);
  });

  it.each([11, 14, 40])('%i vendors: the first 10 as rows, the body names the rest and how to pick them', (count) => {
    const content = composeWhatsApp('vendor_options', { vendors: vendors(count) });
    if (content.kind !== 'list') throw new Error(`expected a list, got ${content.kind}`);
    expect(content.rows.map((row) => optionNumberOfReplyId(row.id))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(content.body).toContain(`there ${count === 11 ? 'is 1 more' : `are ${count - 10} more`} (11-${count})`);
    expect(content.body).toContain(`reply with any number from 1 to ${count}`);
    expect(content.body).toContain('11. *Vendor 11 Hall*');
    expect(brokenLimits(content)).toEqual([]);
  });

  it('shortens long names at a word boundary and numbers buttons whose titles would repeat', () => {
    const same = composeWhatsApp('vendor_options', { vendors: vendors(2, (index) => `Lumen Studio Photography Collective ${index + 1}`) });
    if (same.kind !== 'buttons') throw new Error('expected buttons');
    expect(same.buttons.map((button) => button.title)).toEqual(['1. Lumen Studio…', '2. Lumen Studio…']);
    const long = composeWhatsApp('vendor_options', { vendors: vendors(5, () => 'The Grand Ballroom at the Worthington Regency Hotel') });
    if (long.kind !== 'list') throw new Error('expected a list');
    expect(long.rows[0]!.title).toBe('The Grand Ballroom…');
  });

  it('drops links, then details, to keep an interactive body within 1024 characters', () => {
    const longNames = vendors(10, (index) => `${'Magnificent '.repeat(6)}Hall ${index + 1}`);
    const content = composeWhatsApp('vendor_options', { vendors: longNames, clientName: 'Ada' });
    expect(content.body.length).toBeLessThanOrEqual(1024);
    expect(content.body).not.toContain('https://');
    for (let option = 1; option <= 10; option++) expect(content.body).toContain(`${option}. *Magnificent`);
  });

  it('writes a text message when there are no vendors', () => {
    const content = composeWhatsApp('vendor_options', { clientName: 'Ada', vendors: [] });
    expect(content).toMatchObject({ kind: 'text', template: 'vendors_ready_whatsapp' });
    expect(content.body).toContain('Reply to this message and we will send them to you.');
  });

  it('keeps every limit for any vendors, and every option id reads back as its number', () => {
    const name = fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[A-Za-z]{1,60}$/), fc.constantFrom('王小明的婚礼摄影工作室有限公司', '🎉🎉🎉 Party Co 🎉🎉🎉', ''));
    const vendor = fc.record({ name, category: fc.string({ maxLength: 100 }), price: fc.oneof(fc.integer(), fc.string({ maxLength: 100 })), url: fc.webUrl() });
    fc.assert(
      fc.property(fc.array(vendor, { maxLength: 16 }), fc.string({ maxLength: 300 }), (list, eventName) => {
        const content = composeWhatsApp('vendor_options', { vendors: list, eventName, clientName: 'Ada' });
        expect(brokenLimits(content)).toEqual([]);
        expect(content.kind).toBe(list.length === 0 ? 'text' : list.length <= 3 ? 'buttons' : 'list');
        optionIds(content).forEach((id, index) => expect(optionNumberOfReplyId(id)).toBe(index + 1));
      }),
      { numRuns: 300 },
    );
  });
});

describe('option reply ids', () => {
  it('round-trips option numbers', () => {
    for (const n of [1, 2, 3, 10, 11, 999]) expect(optionNumberOfReplyId(optionReplyId(n))).toBe(n);
    expect(optionReplyId(2)).toBe('option:2');
  });

  it.each(['option:0', 'option:01', 'option:-1', 'option:1.5', 'option:x', 'option:', 'opt:1', ' option:1', 'option:1 ', '1', '', 'option:1234567'])('reads %j as no option', (id) => {
    expect(optionNumberOfReplyId(id)).toBeNull();
  });

  it('refuses a number that is not a positive integer', () => {
    for (const n of [0, -1, 1.5, Number.NaN, Infinity, 1_000_000]) expect(() => optionReplyId(n)).toThrow(RangeError);
  });
});

describe('composeWhatsApp on long and untrusted variables', () => {
  const huge = 'word '.repeat(3000).trim();
  const long: JsonObject = {
    clientName: 'Maximilian Alexander von Hohenzollern-Sigmaringen',
    eventName: huge,
    plannerName: huge,
    reminderText: huge,
    errorSummary: huge,
    vendorName: huge,
    category: huge,
    eventDate: huge,
    dueDate: huge,
    total: 1234567890.55,
    currency: 'EUR',
    categories: Array.from({ length: 200 }, (_, index) => ({ name: `Category ${index} ${huge.slice(0, 200)}`, amount: index })),
    vendors: vendors(3, () => huge),
    shortUrl: 'https://x.co/b7',
  };

  it.each(storedTypes)('%s stays within the limits with huge values', (type) => {
    const variables = type === 'digest' ? { clientName: huge, items: Array.from({ length: 300 }, (_, index) => ({ communicationId: `c${index}`, messageType: 'reminder', variables: long })) } : long;
    expect(brokenLimits(composeWhatsApp(type, variables))).toEqual([]);
  });

  it('never throws on missing or wrong-typed variables', () => {
    const junk: readonly JsonValue[] = [null, 42, true, '', [], {}, ['a'], { name: 1 }, 1e300, '\u0000'];
    const keys = ['clientName', 'eventName', 'plannerName', 'total', 'currency', 'categories', 'vendors', 'vendorName', 'category', 'price', 'eventDate', 'reminderText', 'dueDate', 'errorSummary', 'supportEmail', 'shortUrl', 'items'];
    for (const type of storedTypes) {
      expect(brokenLimits(composeWhatsApp(type, {}))).toEqual([]);
      for (const value of junk) {
        const content = composeWhatsApp(type, Object.fromEntries(keys.map((key) => [key, value])));
        expect(brokenLimits(content)).toEqual([]);
        expect(content.body).not.toMatch(/undefined|NaN|\[object/);
      }
    }
    fc.assert(
      fc.property(fc.constantFrom(...storedTypes), fc.dictionary(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 3 })), (type, variables) => {
        expect(brokenLimits(composeWhatsApp(type, variables as JsonObject))).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a bold name from ending the bold early', () => {
    expect(composeWhatsApp('selection_confirmation', { vendorName: 'Star*Light', eventName: 'Gala' }).body).toContain('*StarLight* is confirmed for *Gala*');
  });
});
