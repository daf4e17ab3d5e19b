import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { digestVariables, messageTypes, smsSegments, type JsonObject, type JsonValue, type StoredMessageType } from '@crm/core';
import { composeSms, textTemplateName, textTemplateNames } from '@crm/templates';

/** The sample variables of a message type, from its email template's JSON. */
const sample = (type: StoredMessageType): JsonObject =>
  (JSON.parse(readFileSync(join(__dirname, '..', 'email', `${type}.json`), 'utf8')) as { sample: JsonObject }).sample;

const storedTypes: readonly StoredMessageType[] = [...messageTypes, 'digest'];

/** Realistic worst cases: long names and values for every variable any template reads. */
const long: JsonObject = {
  clientName: 'Maximilian Alexander von Hohenzollern-Sigmaringen',
  eventName: 'The Fortieth Anniversary Celebration of the Worthington-Fairchild Family Foundation',
  plannerName: 'Bartholomew Montgomery-Fitzwilliam',
  total: 1234567890.55,
  currency: 'EUR',
  categories: [
    { name: 'Venue hire and accommodation for all guests', amount: 723456789 },
    { name: 'Catering and beverages', amount: 5400000 },
    { name: 'Photography and videography', amount: 260000.5 },
    { name: 'Music', amount: 1400 },
  ],
  vendors: [
    { name: 'The Grand Ballroom at the Worthington Regency Hotel and Conference Centre', category: 'Venue', price: 987654321, url: 'https://vendors.example.com/the-grand-ballroom-at-the-worthington-regency' },
    { name: 'Saffron Table Artisanal Catering and Events Company International', category: 'Catering', price: '$154 per guest plus service', url: 'https://vendors.example.com/saffron' },
    { name: 'Lumen Studio Wedding and Event Photography Collective', category: 'Photography', price: 26000, url: 'https://vendors.example.com/lumen' },
  ],
  vendorName: 'Saffron Table Artisanal Catering and Events Company International',
  category: 'Catering and beverages',
  price: 987654321.99,
  eventDate: 'Saturday, 12 September 2026',
  dueDate: 'Wednesday, 30 September 2026',
  reminderText:
    "Please confirm your final guest count with the caterer, including dietary requirements for every guest, the seating plan for the reception and the children's table, and the shuttle times from the hotel to the venue.",
  errorSummary:
    "We could not reach the venue's booking system to hold your date, and the payment provider rejected the deposit for the photographer twice this afternoon.",
  supportEmail: 'customer-support-team@eventplanner.example.com',
  shortUrl: 'https://x.co/b7Kq2',
};

/** A digest of every message type, with the variables above. */
const digestOf = (variables: JsonObject): JsonObject =>
  digestVariables(
    messageTypes.map((type, index) => ({ communicationId: `c${index}`, messageType: type, variables })),
    typeof variables.clientName === 'string' ? variables.clientName : undefined,
  );
const forType = (type: StoredMessageType, variables: JsonObject): JsonObject => (type === 'digest' ? digestOf(variables) : variables);

describe('composeSms on the samples', () => {
  it.each([
    ['welcome', 'Hi Amelia Hart, welcome! Jordan Reyes will plan Hart & Osei Wedding with you. We will keep you posted here. Reply STOP to opt out.'],
    ['budget_summary', 'Hi Amelia Hart, the budget for Hart & Osei Wedding is ready: $18,500 in total. Biggest costs: Venue $7,200, Catering $5,400, Photography $2,600.'],
    ['vendor_options', 'Hi Amelia Hart, vendors for Hart & Osei Wedding:\n1) Harbourview Hall, $7,200\n2) Saffron Table Catering, $54 per guest\n3) Lumen Studio, $2,600\nReply 1, 2 or 3.'],
    ['selection_confirmation', 'Hi Amelia Hart, Lumen Studio (Photography, $2,600) is confirmed for Hart & Osei Wedding. We will be in touch with next steps.'],
    ['blueprint_delivery', 'Hi Amelia Hart, the blueprint for Hart & Osei Wedding (Saturday, 12 September 2026) is ready. Reply with any changes.'],
    ['error_notification', "Hi Amelia Hart, something went wrong with your event plan. We could not reach the venue's booking system to hold your date. We are on it."],
    ['reminder', 'Hi Amelia, a reminder for Hart & Osei Wedding: Please confirm your final guest count with the caterer. Due: Friday, 14 August 2026. Reply if you need more time.'],
    ['digest', 'Hi Amelia Hart, 2 updates on your event plan: selection confirmed; reminder.'],
  ] as const)('%s', (type, body) => {
    const sms = composeSms(type, sample(type));
    expect(sms).toEqual({ template: textTemplateName(type, 'sms'), body, ...pick(smsSegments(body)), dropped: expect.any(Array) });
    expect(sms.segments).toBe(1);
    expect(sms.encoding).toBe('GSM-7');
  });

  it('reports what it dropped by part id, never by content', () => {
    expect(composeSms('budget_summary', sample('budget_summary')).dropped).toEqual(['questions']);
    expect(composeSms('error_notification', sample('error_notification')).dropped).toEqual(['contact']);
    expect(composeSms('welcome', sample('welcome')).dropped).toEqual([]);
  });

  it('names the six templates of issue 7 and one for every other pair', () => {
    expect(textTemplateName('welcome', 'sms')).toBe('welcome_sms');
    expect(textTemplateName('budget_summary', 'sms')).toBe('budget_ready_sms');
    expect(textTemplateName('vendor_options', 'whatsapp')).toBe('vendors_ready_whatsapp');
    expect(textTemplateName('vendor_options', 'sms')).toBe('selection_needed_sms');
    expect(textTemplateName('blueprint_delivery', 'whatsapp')).toBe('blueprint_ready_whatsapp');
    expect(textTemplateName('reminder', 'sms')).toBe('reminder_sms');
    const names = storedTypes.flatMap((type) => [textTemplateNames[type].sms, textTemplateNames[type].whatsapp]);
    expect(new Set(names).size).toBe(storedTypes.length * 2);
    for (const type of storedTypes) {
      expect(textTemplateNames[type].sms).toMatch(/^[a-z]+(_[a-z]+)*_sms$/);
      expect(textTemplateNames[type].whatsapp).toMatch(/^[a-z]+(_[a-z]+)*_whatsapp$/);
    }
  });
});

const pick = ({ encoding, segments, units }: { encoding: 'GSM-7' | 'UCS-2'; segments: number; units: number }) => ({ encoding, segments, units });

describe('composeSms stays within one segment', () => {
  const variations: readonly (readonly [string, (type: StoredMessageType) => JsonObject])[] = [
    ['sample values', (type) => sample(type)],
    ['long names and values', () => long],
    ['long values, UCS-2 name "Zoë Łukasiewicz"', () => ({ ...long, clientName: 'Zoë Łukasiewicz' })],
    ['long values, CJK name "王小明"', () => ({ ...long, clientName: '王小明' })],
    ['sample values, UCS-2 name "Zoë Łukasiewicz"', (type) => ({ ...sample(type), clientName: 'Zoë Łukasiewicz' })],
    ['sample values, CJK name "王小明"', (type) => ({ ...sample(type), clientName: '王小明' })],
    ['long values, UCS-2 event name', () => ({ ...long, eventName: 'Fête de Zoë Łukasiewicz à Kraków' })],
    ['sample values, extension characters', (type) => ({ ...sample(type), clientName: 'Ann [Annie] {Smith}', currency: 'EUR', eventName: 'Gala ~ Summer | 2026' })],
  ];
  const cases = storedTypes.flatMap((type) => variations.map(([name, variables]) => [type, name, variables] as const));

  it.each(cases)('%s with %s', (type, _name, variables) => {
    const sms = composeSms(type, forType(type, variables(type)));
    expect(sms.segments).toBe(1);
    expect(smsSegments(sms.body)).toEqual({ ...pick(sms), singleSegmentLimit: sms.encoding === 'GSM-7' ? 160 : 70 });
    expect(sms.units).toBeLessThanOrEqual(sms.encoding === 'GSM-7' ? 160 : 70);
  });

  it('keeps a UCS-2 name and the UCS-2 limit when the text fits 70 units', () => {
    const sms = composeSms('budget_summary', { clientName: 'Zoë', eventName: 'Gala', total: 1200, currency: 'USD' });
    expect(sms).toMatchObject({ body: 'Hi Zoë, the budget for Gala is ready: $1,200 in total.', encoding: 'UCS-2', segments: 1 });
    expect(composeSms('welcome', { clientName: '王小明', eventName: 'Gala' })).toMatchObject({ encoding: 'UCS-2', segments: 1 });
  });

  it('gives up a UCS-2 name rather than the message when only that fits', () => {
    const sms = composeSms('reminder', { ...sample('reminder'), clientName: 'Zoë Łukasiewicz' });
    expect(sms.body).toBe('Hi, a reminder for Hart & Osei Wedding: Please confirm your final guest count with the caterer. Due: Friday, 14 August 2026. Reply if you need more time.');
    expect(sms.encoding).toBe('GSM-7');
  });

  it('writes typographic punctuation as its GSM-7 look-alike, so it costs no UCS-2', () => {
    const sms = composeSms('reminder', { clientName: 'Sean O’Brien', eventName: '“Summer” Gala – 2026', reminderText: 'Confirm the menu…' });
    expect(sms.body).toBe('Hi Sean O\'Brien, a reminder for "Summer" Gala - 2026: Confirm the menu... Reply if you need more time.');
    expect(sms.encoding).toBe('GSM-7');
  });

  it('sends more segments rather than cut, when even the shortest form does not fit', () => {
    const vendors = Array.from({ length: 12 }, (_, index) => ({ name: `Vendor number ${index + 1}`, price: 1000 + index }));
    const sms = composeSms('vendor_options', { clientName: 'Ada', vendors, currency: 'USD' });
    expect(sms.segments).toBeGreaterThan(1);
    for (let option = 1; option <= 12; option++) expect(sms.body).toContain(`${option}) Vendor`);
    expect(sms.body.endsWith('Reply 1-12.')).toBe(true);
  });
});

describe('composeSms content', () => {
  it('numbers the vendor options and says how to reply', () => {
    const two = composeSms('vendor_options', { clientName: 'Ada', eventName: 'Gala', vendors: [{ name: 'A Hall' }, { name: 'B Catering' }] });
    expect(two.body).toBe('Hi Ada, vendors for Gala:\n1) A Hall\n2) B Catering\nReply 1 or 2.');
    expect(composeSms('vendor_options', { vendors: [{ name: 'A Hall' }] }).body).toBe('Hi, vendors for your event:\n1) A Hall\nReply 1 to choose it.');
    // An entry without a name keeps its number, so a reply still picks the right one.
    expect(composeSms('vendor_options', { vendors: [{ name: 'A Hall' }, 'junk', { name: 'C Band' }] }).body).toContain('1) A Hall\n2) Option 2\n3) C Band\nReply 1, 2 or 3.');
  });

  it('keeps vendor links out of an SMS and puts in a short link for all options when given', () => {
    const sms = composeSms('vendor_options', { ...sample('vendor_options'), optionsUrl: 'https://x.co/o1' });
    expect(sms.body).not.toContain('vendors.example.com');
    expect(composeSms('vendor_options', { clientName: 'Ada', vendors: [{ name: 'A' }], optionsUrl: 'https://x.co/o1' }).body).toContain('Details: https://x.co/o1');
  });

  it('puts a link in whole or not at all', () => {
    const url = `https://plans.example.com/blueprints/${'a'.repeat(120)}`;
    const sms = composeSms('blueprint_delivery', { ...sample('blueprint_delivery'), blueprintUrl: url });
    expect(sms.body).not.toContain('https://');
    expect(sms.dropped).toContain('link');
    const short = composeSms('blueprint_delivery', { ...sample('blueprint_delivery'), blueprintUrl: 'https://x.co/bp' });
    expect(short.body).toContain('View it: https://x.co/bp');
  });

  it('formats money with the currency, cents only when there are any, and a code for a non-GSM symbol', () => {
    expect(composeSms('budget_summary', { total: 18500, currency: 'USD' }).body).toContain('$18,500 in total');
    expect(composeSms('budget_summary', { total: 1234.5, currency: 'EUR' }).body).toContain('€1,234.50 in total');
    const rupees = composeSms('budget_summary', { total: 18500, currency: 'INR' });
    expect(rupees.body).toContain('INR 18,500 in total');
    expect(rupees.encoding).toBe('GSM-7');
  });
});

describe('composeSms never cuts inside a word or a link', () => {
  /** Input words carry the marker "zq", which no template word has: a cut one shows as a prefix. */
  const inputWord = fc.tuple(fc.stringMatching(/^[a-zäöüéë王]{1,14}$/), fc.constantFrom('', '-', "'")).map(([letters, tail]) => `zq${letters}${tail}`);
  const phrase = (max: number) => fc.array(inputWord, { minLength: 1, maxLength: max }).map((words) => words.join(' '));
  const url = fc.stringMatching(/^[a-z0-9]{1,40}$/).map((path) => `https://x.co/zq${path}`);

  /** A word without the punctuation around it (a shortened text drops a joiner such as "-" before its "..."). */
  const bare = (token: string): string => token.replace(/^[("]+/, '').replace(/([-,;:&+/(]*\.\.\.)?[.,:;!?)"]*$/, '');
  /** Every token of an SMS: words, numbers, money and links, punctuation stripped. */
  const tokens = (body: string): string[] =>
    body
      .split(/\s+/)
      .map((token) => (token.startsWith('https://') ? token : bare(token)))
      .filter(Boolean);

  it('every input word in the body is whole, every link is one of the inputs', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...storedTypes),
        fc.record({
          clientName: phrase(5),
          eventName: phrase(12),
          plannerName: phrase(4),
          reminderText: phrase(40),
          errorSummary: phrase(40),
          vendorName: phrase(8),
          category: phrase(3),
          eventDate: phrase(4),
          dueDate: phrase(4),
          vendors: fc.array(fc.record({ name: phrase(8), category: phrase(3), price: fc.oneof(fc.integer({ min: 0, max: 10_000_000 }), phrase(4)) }), { minLength: 1, maxLength: 3 }),
          shortUrl: url,
          blueprintUrl: url,
        }),
        (type, record) => {
          const variables = record as unknown as JsonObject;
          const inputWords = new Set(
            Object.values(record)
              .flatMap((value): string[] => (typeof value === 'string' ? [value] : Array.isArray(value) ? value.flatMap((vendor) => Object.values(vendor).map(String)) : []))
              .flatMap((text) => text.split(' '))
              .flatMap((word) => [word, bare(word).replace(/[-,;:&+/(]+$/, '')]),
          );
          const sms = composeSms(type, forType(type, variables));
          for (const token of tokens(sms.body)) {
            if (token.startsWith('https://')) expect([record.shortUrl, record.blueprintUrl]).toContain(token);
            else if (token.includes('zq')) expect(inputWords).toContain(token);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('composeSms on untrusted variables', () => {
  const junk: readonly JsonValue[] = [null, 42, -1.5, true, '', '   ', [], {}, ['a'], { name: 1 }, 'x'.repeat(2000), '\u0000\u200b', 1e300];
  const keys = ['clientName', 'eventName', 'plannerName', 'total', 'currency', 'categories', 'vendors', 'vendorName', 'category', 'price', 'eventDate', 'reminderText', 'dueDate', 'errorSummary', 'supportEmail', 'shortUrl', 'blueprintUrl', 'items'];

  it('never throws on missing or wrong-typed variables, and leaves their parts out', () => {
    for (const type of storedTypes) {
      expect(() => composeSms(type, {})).not.toThrow();
      for (const value of junk) {
        const variables = Object.fromEntries(keys.map((key) => [key, value]));
        const sms = composeSms(type, variables);
        expect(sms.body).not.toMatch(/undefined|null|NaN|\[object/);
        expect(sms.body).not.toContain('\u0000');
      }
    }
    expect(composeSms('budget_summary', { total: { a: 1 }, categories: 'Venue' }).body).toBe('Hi, the budget for your event is ready. Reply with any questions.');
    expect(composeSms('reminder', {}).body).toBe('Hi, a reminder about your event. Reply if you need more time.');
  });

  it('survives random JSON in every variable', () => {
    fc.assert(
      fc.property(fc.constantFrom(...storedTypes), fc.dictionary(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 3 })), (type, variables) => {
        const sms = composeSms(type, variables as JsonObject);
        expect(typeof sms.body).toBe('string');
        expect(sms.body.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it('takes no inherited property for a variable', () => {
    const variables = Object.create({ clientName: 'Mallory', eventName: 'Evil' }) as JsonObject;
    expect(composeSms('welcome', variables).body).not.toContain('Mallory');
  });
});
