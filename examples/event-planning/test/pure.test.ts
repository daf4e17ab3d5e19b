import { beamSearchVendors, blueprintPdf, formatMoney, mergeCommunications, selectionOf, vendorCatalogue, allocateBudget, longDate, type CommunicationEntry } from '../src';

describe('beamSearchVendors', () => {
  const query = { category: 'Venue', budget: 7400, guestCount: 120, currency: 'USD' };

  it('shortlists three vendors of the category, the same three every time, best first', () => {
    const first = beamSearchVendors(query);
    expect(first).toHaveLength(3);
    expect(new Set(first.map((vendor) => vendor.id)).size).toBe(3);
    expect(first.every((vendor) => vendor.category === 'Venue')).toBe(true);
    expect(beamSearchVendors(query).map((vendor) => vendor.id)).toEqual(first.map((vendor) => vendor.id));
    // Reversing the catalogue changes nothing: ties are broken by id.
    expect(beamSearchVendors(query, { catalogue: [...vendorCatalogue].reverse() }).map((vendor) => vendor.id)).toEqual(first.map((vendor) => vendor.id));
    expect(first.map((vendor) => vendor.name)).toEqual(['Harbourview Hall', 'The Old Mill', 'Glasshouse Gardens']);
  });

  it('leaves out vendors too small for the guests when others fit', () => {
    expect(beamSearchVendors({ ...query, guestCount: 150 }).map((vendor) => vendor.id)).not.toContain('venue-rooftop');
  });

  it('refuses a category with too few vendors', () => {
    expect(() => beamSearchVendors({ ...query, category: 'Balloons' })).toThrow('fewer than 3');
  });
});

describe('budget and dates', () => {
  it('splits the budget into lines that add up to the total', () => {
    const lines = allocateBudget(18_501);
    expect(lines.map((line) => line.name)).toEqual(['Venue', 'Catering', 'Photography', 'Flowers & decor', 'Music']);
    expect(lines.reduce((sum, line) => sum + line.amount, 0)).toBe(18_501);
  });

  it('formats money and dates for people', () => {
    expect(formatMoney(7200, 'USD')).toBe('$7,200');
    expect(longDate('2026-09-12')).toBe('Saturday, 12 September 2026');
  });
});

describe('blueprintPdf', () => {
  it('writes a PDF whose cross-reference table points at its objects', () => {
    const pdf = blueprintPdf({ title: 'Event blueprint: Summer gala (draft)', lines: ['# Vendors', 'Venue: Harbourview Hall \\ $7,200', 'Café ☕'] });
    const text = pdf.toString('latin1');
    expect(text.startsWith('%PDF-1.4\n')).toBe(true);
    expect(text.trimEnd().endsWith('%%EOF')).toBe(true);
    const startxref = Number(/startxref\n(\d+)\n/.exec(text)![1]);
    expect(text.slice(startxref, startxref + 4)).toBe('xref');
    const offsets = [...text.slice(startxref).matchAll(/^(\d{10}) 00000 n $/gm)].map((match) => Number(match[1]));
    expect(offsets.length).toBeGreaterThanOrEqual(6);
    offsets.forEach((offset, index) => expect(text.slice(offset, offset + 12)).toMatch(new RegExp(`^${index + 1} 0 obj`)));
    // Parentheses and backslashes escaped; what Latin-1 Helvetica cannot show becomes '?'.
    expect(text).toContain('(Event blueprint: Summer gala \\(draft\\)) Tj');
    expect(text).toContain('(Venue: Harbourview Hall \\\\ $7,200) Tj');
    expect(text).toContain('(Caf? ?) Tj');
  });

  it('runs onto more pages when the lines do not fit one', () => {
    const text = blueprintPdf({ title: 'Long', lines: Array.from({ length: 120 }, (_, i) => `line ${i}`) }).toString('latin1');
    expect(text).toContain('/Count 3');
  });
});

describe('mergeCommunications', () => {
  const entry = (over: Partial<CommunicationEntry>): CommunicationEntry => ({
    id: 'c1', type: 'welcome', channel: null, status: 'pending', node: 'initialize_planning', channelsTried: [], failureReason: null, updatedAt: '2026-01-01T10:00:00.000Z', ...over,
  });

  it('appends new ids and updates known ones, keeping the type and node', () => {
    const merged = mergeCommunications([entry({})], [entry({ status: 'sent', channel: 'email', channelsTried: ['email'], type: 'x', node: 'y', updatedAt: '2026-01-01T10:00:01.000Z' }), entry({ id: 'c2' })]);
    expect(merged).toEqual([entry({ status: 'sent', channel: 'email', channelsTried: ['email'], updatedAt: '2026-01-01T10:00:01.000Z' }), entry({ id: 'c2' })]);
  });

  it('never moves a status back, and ignores reports older than what it knows', () => {
    const delivered = entry({ status: 'delivered', channel: 'sms', updatedAt: '2026-01-01T10:00:05.000Z' });
    expect(mergeCommunications([delivered], [entry({ status: 'sent', channel: 'sms', updatedAt: '2026-01-01T10:00:06.000Z' })])[0]!.status).toBe('delivered');
    expect(mergeCommunications([delivered], [entry({ status: 'failed', updatedAt: '2026-01-01T10:00:04.000Z' })])[0]).toEqual(delivered);
  });

  it('takes a forward move whenever it happened, a failure only when it is newer', () => {
    const resent = entry({ status: 'sent', channel: 'email', updatedAt: '2026-01-01T10:00:09.000Z' });
    expect(mergeCommunications([resent], [entry({ status: 'delivered', channel: 'email', updatedAt: '2026-01-01T10:00:05.000Z' })])[0]).toMatchObject({ status: 'delivered', updatedAt: '2026-01-01T10:00:09.000Z' });
    expect(mergeCommunications([resent], [entry({ status: 'failed', updatedAt: '2026-01-01T10:00:10.000Z', failureReason: 'provider_undelivered' })])[0]).toMatchObject({ status: 'failed', failureReason: 'provider_undelivered' });
  });

  it('lets a later send on the next channel follow a failure (a fallback)', () => {
    const failed = entry({ status: 'failed', channel: 'whatsapp', channelsTried: ['whatsapp'], failureReason: 'provider_undelivered', updatedAt: '2026-01-01T10:00:01.000Z' });
    const merged = mergeCommunications([failed], [entry({ status: 'sent', channel: 'sms', channelsTried: ['whatsapp', 'sms'], updatedAt: '2026-01-01T10:00:02.000Z' })]);
    expect(merged[0]).toMatchObject({ status: 'sent', channel: 'sms', channelsTried: ['whatsapp', 'sms'], failureReason: null });
  });
});

describe('selectionOf', () => {
  it.each([
    [{ selection: 2, text: 'the second one' }, 2],
    [{ selection: null, text: '2' }, 2],
    [{ selection: null, text: ' #3. ' }, 3],
    [{ selection: null, text: 'two please' }, null],
    [{ selection: null, text: null }, null],
  ])('%j → %p', (data, expected) => {
    expect(selectionOf(data)).toBe(expected);
  });
});
