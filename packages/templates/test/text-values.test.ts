import { clampText, gsmPunctuation, moneyText, personNameForms, shortenAtWord } from '@crm/templates';

describe('shortenAtWord', () => {
  it.each([
    ['Lumen Studio', 20, 'Lumen Studio'],
    ['The Fortieth Anniversary Celebration', 24, 'The Fortieth...'],
    ['The Grand Ballroom at the Worthington Regency', 24, 'The Grand Ballroom...'],
    ['Hart & Osei Wedding', 10, 'Hart...'],
    ['Venue, catering and music', 12, 'Venue...'],
    ['Supercalifragilistic', 5, null],
  ] as const)('%j within %i → %j', (text, max, expected) => {
    const shortened = shortenAtWord(text, max);
    expect(shortened).toBe(expected);
    if (shortened !== null) expect(shortened.length).toBeLessThanOrEqual(max);
  });
});

describe('clampText', () => {
  it('shortens at a word boundary, or cuts between characters when a single word is too long', () => {
    expect(clampText('Harbourview Hall and Gardens', 20)).toBe('Harbourview Hall…');
    expect(clampText('Supercalifragilisticexpialidocious', 10)).toBe('Supercali…');
    // Never inside a surrogate pair.
    const emoji = clampText('🎉'.repeat(30), 20);
    expect(emoji.length).toBeLessThanOrEqual(20);
    expect(emoji).toBe(`${'🎉'.repeat(9)}…`);
  });
});

describe('moneyText', () => {
  it.each([
    [18500, 'USD', {}, '$18,500'],
    [2600.5, 'EUR', {}, '€2,600.50'],
    ['7200', 'usd', {}, '$7,200'],
    [18500, 'INR', { gsm: true }, 'INR 18,500'],
    [18500, 'INR', {}, '₹18,500'],
    [18500, undefined, {}, '18,500'],
    [18500, 'XYZ', {}, 'XYZ 18,500'],
    ['$54 per guest', 'USD', {}, '$54 per guest'],
    [null, 'USD', {}, ''],
    [{ amount: 1 }, 'USD', {}, ''],
    [1e300, 'USD', {}, ''],
  ] as const)('%j %j %j → %j', (amount, currency, options, expected) => {
    expect(moneyText(amount, currency, options)).toBe(expected);
  });
});

describe('gsmPunctuation and personNameForms', () => {
  it('replaces typographic punctuation, never letters', () => {
    expect(gsmPunctuation('O’Brien – “Gala”…')).toBe('O\'Brien - "Gala"...');
    expect(gsmPunctuation('Zoë Łukasiewicz')).toBe('Zoë Łukasiewicz');
  });

  it('addresses a person by full name, first name, then none', () => {
    expect(personNameForms('Amelia Hart')).toEqual(['Amelia Hart', 'Amelia', '']);
    expect(personNameForms('Dr. Amelia Hart')).toEqual(['Dr. Amelia Hart', 'Dr. Hart', '']);
    expect(personNameForms('王小明')).toEqual(['王小明', '']);
    expect(personNameForms('')).toEqual(['']);
  });
});
