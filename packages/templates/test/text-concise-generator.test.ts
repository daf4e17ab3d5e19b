import { smsSegments } from '@crm/core';
import { ConciseTextGenerator, slot, type ConciseTextInput, type TextPart } from '@crm/templates';

const generator = new ConciseTextGenerator();
const words = (count: number, word = 'word'): string => Array.from({ length: count }, () => word).join(' ');

describe('ConciseTextGenerator', () => {
  it('writes every part and full names when the text fits', () => {
    const text = generator.compose({
      names: { client: { forms: ['Amelia Hart', 'Amelia', ''] } },
      parts: [
        { id: 'greeting', required: true, variants: [['Hi', slot('client', ' '), ', your budget is ready.']] },
        { id: 'link', variants: ['Details: https://x.co/b7'] },
      ],
    });
    expect(text).toEqual({
      body: 'Hi Amelia Hart, your budget is ready. Details: https://x.co/b7',
      encoding: 'GSM-7',
      segments: 1,
      units: 62,
      fits: true,
      dropped: [],
      shortened: [],
    });
  });

  it('drops optional parts lowest priority first, and only as many as it must', () => {
    const input: ConciseTextInput = {
      parts: [
        { id: 'head', required: true, variants: [words(20, 'abcd')] }, // 99
        { id: 'important', priority: 5, variants: [words(5, 'impo')] }, // +25
        { id: 'filler', priority: 1, variants: [words(5, 'fill')] }, // +25
        { id: 'nice', priority: 3, variants: [words(5, 'nice')] }, // +25
      ],
    };
    const text = generator.compose(input);
    expect(text.dropped).toEqual(['filler']);
    expect(text.body).toBe(`${words(20, 'abcd')} ${words(5, 'impo')} ${words(5, 'nice')}`);
    expect(text.units).toBe(149);
  });

  it('takes back a dropped part that fits once a later step made room', () => {
    // The link goes first (priority 0), then the name shortens (100); the link fits again after.
    const text = generator.compose({
      names: { client: { forms: [words(12, 'Longname'), 'Amelia', ''] } },
      parts: [
        { id: 'greeting', required: true, variants: [['Hi', slot('client', ' '), ', ', words(10, 'text'), '.']] },
        { id: 'link', variants: ['https://x.co/abcdef'] },
      ],
    });
    expect(text.body).toBe(`Hi Amelia, ${words(10, 'text')}. https://x.co/abcdef`);
    expect(text.dropped).toEqual([]);
    expect(text.shortened).toEqual(['client']);
  });

  it('shortens names by default only after every optional part is out, in turns by priority', () => {
    const names = { client: { forms: ['Amelia Hart', 'Amelia', ''], priority: 1 }, event: { forms: ['Hart & Osei Wedding', 'your event'], priority: 2 } };
    const parts: TextPart[] = [
      { id: 'greeting', required: true, variants: [['Hi', slot('client', ' '), ', the budget for ', slot('event'), ' is ready.']] },
      { id: 'filler', variants: ['Reply with any questions.'] },
    ];
    const limit = (max: number): ConciseTextGenerator => new ConciseTextGenerator({ maxLength: max });
    // 86 characters with everything, 60 without the filler.
    expect(limit(86).compose({ names, parts })).toMatchObject({ body: 'Hi Amelia Hart, the budget for Hart & Osei Wedding is ready. Reply with any questions.', dropped: [] });
    expect(limit(60).compose({ names, parts }).dropped).toEqual(['filler']);
    expect(limit(60).compose({ names, parts }).shortened).toEqual([]);
    // Names take turns: client (priority 1) → "Amelia", then event (2) → "your event", then client → none.
    expect(limit(55).compose({ names, parts }).body).toBe('Hi Amelia, the budget for Hart & Osei Wedding is ready.');
    expect(limit(47).compose({ names, parts }).body).toBe('Hi Amelia, the budget for your event is ready.');
    expect(limit(39).compose({ names, parts })).toMatchObject({ body: 'Hi, the budget for your event is ready.', shortened: ['client', 'event'], dropped: ['filler'] });
  });

  it('writes required parts in shorter variants only after names, by default', () => {
    const parts: TextPart[] = [
      { id: 'head', required: true, variants: [['Hi', slot('client', ' '), '.']] },
      { id: 'body', required: true, variants: ['A long sentence with all the details in it.', 'A short one.'] },
    ];
    const names = { client: { forms: ['Amelia', ''] } };
    const limit = new ConciseTextGenerator({ maxLength: 50 });
    expect(limit.compose({ names, parts }).body).toBe('Hi. A long sentence with all the details in it.');
    expect(new ConciseTextGenerator({ maxLength: 30 }).compose({ names, parts })).toMatchObject({ body: 'Hi Amelia. A short one.', shortened: ['body'] });
  });

  it('follows per-step priorities on one scale: a cheap name step before an optional part', () => {
    const parts: TextPart[] = [
      { id: 'greeting', required: true, variants: [['Hi', slot('client', ' '), ', your plan is ready.']] },
      { id: 'link', priority: 10, variants: ['https://x.co/abc'] },
    ];
    // 61 characters with everything; 51 with "Maximilian"; 44 without the link.
    const body = (priority: number | number[]): string =>
      new ConciseTextGenerator({ maxLength: 52 }).compose({ names: { client: { forms: ['Maximilian Alexander', 'Maximilian', ''], priority } }, parts }).body;
    expect(body([0, 50])).toBe('Hi Maximilian, your plan is ready. https://x.co/abc');
    expect(body(100)).toBe('Hi Maximilian Alexander, your plan is ready.');
  });

  it('counts extension characters twice and switches to 70 units for a UCS-2 name', () => {
    const euros = generator.compose({ parts: [{ id: 'a', required: true, variants: ['€'.repeat(80)] }, { id: 'b', variants: ['x'] }] });
    expect(euros).toMatchObject({ units: 160, segments: 1, dropped: ['b'] });

    const parts: TextPart[] = [
      { id: 'greeting', required: true, variants: [['Hi', slot('client', ' '), ', ', words(20, 'word'), '.']] }, // 104 without a name
    ];
    const zoe = generator.compose({ names: { client: { forms: ['Zoë Łukasiewicz', 'Zoë', ''] } }, parts });
    // With "Zoë" the text is UCS-2 (70 units): only without the name does it fit, in GSM-7.
    expect(zoe).toMatchObject({ body: `Hi, ${words(20, 'word')}.`, encoding: 'GSM-7', segments: 1, fits: true, shortened: ['client'] });
    const short = generator.compose({ names: { client: { forms: ['Zoë Łukasiewicz', 'Zoë', ''] } }, parts: [{ id: 'g', required: true, variants: [['Hi', slot('client', ' '), ', welcome!']] }] });
    expect(short).toMatchObject({ body: 'Hi Zoë Łukasiewicz, welcome!', encoding: 'UCS-2', segments: 1, units: 28 });
  });

  it('never cuts: required parts that do not fit come back whole, with segments > 1', () => {
    const long = words(50, 'long'); // 249 characters
    const text = generator.compose({
      names: { client: { forms: ['Amelia', ''] } },
      parts: [
        { id: 'head', required: true, variants: [['Hi', slot('client', ' '), ',']] },
        { id: 'body', required: true, variants: [long] },
        { id: 'link', variants: ['https://x.co/abc'] },
      ],
    });
    expect(text.body).toBe(`Hi, ${long}`);
    expect(text.fits).toBe(false);
    expect(text.segments).toBe(smsSegments(text.body).segments);
    expect(text.segments).toBeGreaterThan(1);
    expect(text.dropped).toEqual(['link']);
  });

  it('keeps a concatenated-segment limit when asked for more than one segment', () => {
    const two = new ConciseTextGenerator({ maxSegments: 2 });
    const parts: TextPart[] = [{ id: 'a', required: true, variants: [words(50, 'abcd')] }, { id: 'b', variants: [words(10, 'tail')] }];
    // 249 + 50 = 299 septets: two concatenated segments of 153.
    expect(two.compose({ parts })).toMatchObject({ segments: 2, units: 299, dropped: [] });
    expect(generator.compose({ parts })).toMatchObject({ segments: 2, units: 249, fits: false, dropped: ['b'] });
  });

  it('separates parts with their separator and skips empty ones', () => {
    const text = new ConciseTextGenerator({ maxLength: 100 }).compose({
      parts: [
        { id: 'title', required: true, variants: ['*Title*'] },
        { id: 'empty', required: true, variants: [''] },
        { id: 'para', required: true, separator: '\n\n', variants: ['Paragraph.'] },
        { id: 'line', required: true, separator: '\n', variants: ['Line.'] },
      ],
    });
    expect(text.body).toBe('*Title*\n\nParagraph.\nLine.');
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new ConciseTextGenerator({ maxSegments: 0 })).toThrow(RangeError);
    expect(() => new ConciseTextGenerator({ maxLength: 1.5 })).toThrow(RangeError);
  });
});
