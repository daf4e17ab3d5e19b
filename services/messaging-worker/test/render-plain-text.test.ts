import { digestTitle, messageTitles, messageTypes, smsSegments, digestVariables, type DigestItem, type JsonObject, type MessageType } from '@crm/core';
import { renderPlainText, twilioStatusCallbackUrl } from '@crm/messaging-worker';

describe('renderPlainText', () => {
  it('writes one SMS line with the name and the details', () => {
    expect(renderPlainText('budget_summary', { clientName: 'Ada', total: 18500, currency: 'EUR' }, 'sms')).toBe(
      'Hi Ada, your budget summary is ready. total: 18500, currency: EUR',
    );
    expect(renderPlainText('reminder', {}, 'sms')).toBe('Hi, a reminder about your event plan.');
  });

  it('keeps every message type to one GSM-7 segment with short variables', () => {
    for (const type of messageTypes) {
      const text = renderPlainText(type, { clientName: 'Ada', planName: 'Summer wedding' }, 'sms');
      expect({ type, segments: smsSegments(text) }).toEqual({ type, segments: expect.objectContaining({ encoding: 'GSM-7', segments: 1 }) });
    }
  });

  it('drops details from the end, then the name, to stay in one segment', () => {
    const long = { clientName: 'Ada', note: 'x'.repeat(100), other: 'y'.repeat(100) };
    expect(renderPlainText('budget_summary', long, 'sms')).toBe(`Hi Ada, your budget summary is ready. note: ${'x'.repeat(100)}`);
    const ucs2 = { clientName: 'Zoë', venue: 'Château de Ça' };
    const text = renderPlainText('vendor_options', ucs2, 'sms');
    expect(smsSegments(text).segments).toBe(1);
    expect(renderPlainText('welcome', { clientName: 'Ada'.repeat(60) }, 'sms')).toBe(
      'Hi, welcome! We have started planning your event and will keep you posted here.',
    );
  });

  it('writes a WhatsApp message with a bold title, the details one per line and a sign-off', () => {
    expect(renderPlainText('budget_summary', { clientName: 'Ada', total: 18500 }, 'whatsapp')).toBe(
      '*Your budget summary is ready*\n\nHello Ada, your budget summary is ready.\n\ntotal: 18500\n\nYour event planning team',
    );
    expect(renderPlainText('reminder', {}, 'whatsapp')).toBe('*A reminder about your event plan*\n\nA reminder about your event plan.\n\nYour event planning team');
  });
});

const item = (messageType: MessageType, variables: JsonObject = {}, id: string = messageType): DigestItem => ({ communicationId: id, messageType, variables });
/** A digest communication's variables, as the strategy stores them. */
const digest = (items: readonly DigestItem[], clientName?: string): JsonObject => digestVariables(items, clientName ?? '');
const threeItems = [item('budget_summary', { clientName: 'Ada', total: 18500 }), item('vendor_options'), item('reminder')];
/** `count` items cycling through every message type. */
const manyItems = (count: number): DigestItem[] =>
  Array.from({ length: count }, (_, index) => item(messageTypes[index % messageTypes.length]!, {}, `c${index}`));

/** The item names an SMS digest lists and the `and N more` count, if any. */
const smsList = (text: string): { names: string[]; more: number } => {
  const list = /: (.*)\.$/.exec(text)?.[1] ?? '';
  const parts = list === '' ? [] : list.split('; ');
  const more = /^and (\d+) more$/.exec(parts[parts.length - 1] ?? '');
  return more ? { names: parts.slice(0, -1), more: Number(more[1]) } : { names: parts, more: 0 };
};

describe('renderPlainText for a digest', () => {
  it('writes one SMS line with the name, the count and every item in order', () => {
    const text = renderPlainText('digest', digest(threeItems, 'Ada'), 'sms');
    expect(text).toBe('Hi Ada, 3 updates on your event plan: budget summary ready; vendor options; reminder.');
    expect(smsSegments(text)).toEqual(expect.objectContaining({ encoding: 'GSM-7', segments: 1 }));
    expect(renderPlainText('digest', digest([item('reminder')]), 'sms')).toBe('Hi, 1 update on your event plan: reminder.');
  });

  it('names every message type in one segment when there is room', () => {
    const text = renderPlainText('digest', digest(messageTypes.map((type) => item(type)), 'Ada'), 'sms');
    expect(smsSegments(text).segments).toBe(1);
    expect(smsList(text)).toEqual({ names: expect.any(Array), more: 0 });
    expect(smsList(text).names).toHaveLength(messageTypes.length);
    expect(new Set(smsList(text).names).size).toBe(messageTypes.length);
  });

  it('drops the name before any item to stay in one segment', () => {
    const longName = 'A'.repeat(90);
    expect(renderPlainText('digest', digest(threeItems, longName), 'sms')).toBe(
      'Hi, 3 updates on your event plan: budget summary ready; vendor options; reminder.',
    );
  });

  it('counts a unicode name in UCS-2 and drops it when the text no longer fits 70 units', () => {
    const short = renderPlainText('digest', digest([item('reminder')], 'Zoë'), 'sms');
    expect(short).toBe('Hi Zoë, 1 update on your event plan: reminder.');
    expect(smsSegments(short)).toEqual(expect.objectContaining({ encoding: 'UCS-2', segments: 1 }));
    // 84 characters: one GSM-7 segment with "Ada", but two UCS-2 segments with "Zoë".
    expect(smsSegments(renderPlainText('digest', digest(threeItems, 'Ada'), 'sms')).segments).toBe(1);
    const long = renderPlainText('digest', digest(threeItems, 'Zoë'), 'sms');
    expect(long).toBe('Hi, 3 updates on your event plan: budget summary ready; vendor options; reminder.');
    expect(smsSegments(long)).toEqual(expect.objectContaining({ encoding: 'GSM-7', segments: 1 }));
  });

  it('lists as many items as fit, in order, then "and N more", so every item is named or counted', () => {
    for (const count of [8, 12, 30, 150]) {
      const items = manyItems(count);
      const text = renderPlainText('digest', digest(items, 'Ada'), 'sms');
      expect({ count, segments: smsSegments(text).segments }).toEqual({ count, segments: 1 });
      expect(text.startsWith(`Hi, ${digestTitle(count)}: `)).toBe(true);
      const { names, more } = smsList(text);
      expect(names.length).toBeGreaterThan(0);
      expect(more).toBeGreaterThan(0);
      expect(names.length + more).toBe(count);
      // The names shown are the first items, in order.
      expect(names).toEqual(items.slice(0, names.length).map((entry) => smsList(renderPlainText('digest', digest([entry]), 'sms')).names[0]));
      // One more name would not have fitted.
      const longer = [...names, smsList(renderPlainText('digest', digest([items[names.length]!]), 'sms')).names[0], `and ${more - 1} more`];
      const withOneMore = `Hi, ${digestTitle(count)}: ${(more === 1 ? longer.slice(0, -1) : longer).join('; ')}.`;
      expect(smsSegments(withOneMore).segments).toBeGreaterThan(1);
    }
  });

  it('writes a WhatsApp digest with a bold title, numbered items with their details and a sign-off', () => {
    expect(renderPlainText('digest', digest(threeItems, 'Ada'), 'whatsapp')).toBe(
      [
        '*3 updates on your event plan*',
        '',
        'Hello Ada, here is what happened with your event plan:',
        '',
        '1. Your budget summary is ready',
        '  total: 18500',
        '2. Vendor options for your event',
        '3. A reminder about your event plan',
        '',
        'Your event planning team',
      ].join('\n'),
    );
    expect(renderPlainText('digest', digest([item('reminder')]), 'whatsapp')).toBe(
      '*1 update on your event plan*\n\nHere is what happened with your event plan:\n\n1. A reminder about your event plan\n\nYour event planning team',
    );
  });

  it('shows every WhatsApp digest item exactly once and in order', () => {
    const items = manyItems(20).map((entry, index) => ({ ...entry, variables: { seq: `n${String(index).padStart(2, '0')}` } }));
    const text = renderPlainText('digest', digest(items), 'whatsapp');
    const lines = text.split('\n');
    const numbered = lines.filter((line) => /^\d+\. /.test(line));
    expect(numbered).toEqual(items.map((entry, index) => `${index + 1}. ${messageTitles[entry.messageType]}`));
    const details = lines.filter((line) => line.startsWith('  seq: '));
    expect(details).toEqual(items.map((_, index) => `  seq: n${String(index).padStart(2, '0')}`));
    numbered.forEach((line, index) => expect(lines[lines.indexOf(line) + 1]).toBe(details[index]));
  });
});

describe('twilioStatusCallbackUrl', () => {
  it("is ingest's Twilio status webhook with the communication id as cid", () => {
    const id = '6f1c2a4e-8a3b-4c1d-9e2f-0a1b2c3d4e5f';
    expect(twilioStatusCallbackUrl('https://crm.example.com', id)).toBe(`https://crm.example.com/webhooks/twilio/status?cid=${id}`);
    expect(twilioStatusCallbackUrl('https://example.com/crm/', id)).toBe(`https://example.com/crm/webhooks/twilio/status?cid=${id}`);
  });
});
