import { digestTitle, digestVariables, messageTitles, messageTypes, smsSegments, type DigestItem, type JsonObject, type MessageType } from '@crm/core';
import { composeSms, composeWhatsApp } from '@crm/templates';

// The digest texts moved here from the messaging worker's renderPlainText, with the same output.

const item = (messageType: MessageType, variables: JsonObject = {}, id: string = messageType): DigestItem => ({ communicationId: id, messageType, variables });
/** A digest communication's variables, as the strategy stores them. */
const digest = (items: readonly DigestItem[], clientName?: string): JsonObject => digestVariables(items, clientName ?? '');
const threeItems = [item('budget_summary', { clientName: 'Ada', total: 18500 }), item('vendor_options'), item('reminder')];
/** `count` items cycling through every message type. */
const manyItems = (count: number): DigestItem[] => Array.from({ length: count }, (_, index) => item(messageTypes[index % messageTypes.length]!, {}, `c${index}`));
const sms = (variables: JsonObject): string => composeSms('digest', variables).body;
const whatsApp = (variables: JsonObject): string => composeWhatsApp('digest', variables).body;

/** The item names an SMS digest lists and the `and N more` count, if any. */
const smsList = (text: string): { names: string[]; more: number } => {
  const list = /: (.*)\.$/.exec(text)?.[1] ?? '';
  const parts = list === '' ? [] : list.split('; ');
  const more = /^and (\d+) more$/.exec(parts[parts.length - 1] ?? '');
  return more ? { names: parts.slice(0, -1), more: Number(more[1]) } : { names: parts, more: 0 };
};

describe('digest_sms', () => {
  it('writes one SMS line with the name, the count and every item in order', () => {
    const text = composeSms('digest', digest(threeItems, 'Ada'));
    expect(text).toEqual({
      template: 'digest_sms',
      body: 'Hi Ada, 3 updates on your event plan: budget summary ready; vendor options; reminder.',
      encoding: 'GSM-7',
      segments: 1,
      units: 85,
      dropped: [],
    });
    expect(sms(digest([item('reminder')]))).toBe('Hi, 1 update on your event plan: reminder.');
  });

  it('names every message type in one segment when there is room', () => {
    const text = sms(digest(messageTypes.map((type) => item(type)), 'Ada'));
    expect(smsSegments(text).segments).toBe(1);
    expect(smsList(text).more).toBe(0);
    expect(new Set(smsList(text).names).size).toBe(messageTypes.length);
  });

  it('drops the name before any item to stay in one segment', () => {
    const text = composeSms('digest', digest(threeItems, 'A'.repeat(90)));
    expect(text.body).toBe('Hi, 3 updates on your event plan: budget summary ready; vendor options; reminder.');
    expect(text.dropped).toEqual(['clientName']);
  });

  it('counts a unicode name in UCS-2 and drops it when the text no longer fits 70 units', () => {
    const short = composeSms('digest', digest([item('reminder')], 'Zoë'));
    expect(short).toMatchObject({ body: 'Hi Zoë, 1 update on your event plan: reminder.', encoding: 'UCS-2', segments: 1 });
    const long = composeSms('digest', digest(threeItems, 'Zoë'));
    expect(long).toMatchObject({ body: 'Hi, 3 updates on your event plan: budget summary ready; vendor options; reminder.', encoding: 'GSM-7', segments: 1 });
  });

  it('lists as many items as fit, in order, then "and N more", so every item is named or counted', () => {
    for (const count of [8, 12, 30, 150]) {
      const items = manyItems(count);
      const result = composeSms('digest', digest(items, 'Ada'));
      expect({ count, segments: result.segments }).toEqual({ count, segments: 1 });
      expect(result.dropped).toEqual(['clientName', 'items']);
      expect(result.body.startsWith(`Hi, ${digestTitle(count)}: `)).toBe(true);
      const { names, more } = smsList(result.body);
      expect(names.length).toBeGreaterThan(0);
      expect(names.length + more).toBe(count);
      expect(names).toEqual(items.slice(0, names.length).map((entry) => smsList(sms(digest([entry]))).names[0]));
      // One more name would not have fitted.
      const longer = [...names, smsList(sms(digest([items[names.length]!]))).names[0], `and ${more - 1} more`];
      const withOneMore = `Hi, ${digestTitle(count)}: ${(more === 1 ? longer.slice(0, -1) : longer).join('; ')}.`;
      expect(smsSegments(withOneMore).segments).toBeGreaterThan(1);
    }
  });
});

describe('digest_whatsapp', () => {
  it('writes a bold title, numbered items with their details and a sign-off', () => {
    expect(composeWhatsApp('digest', digest(threeItems, 'Ada'))).toEqual({
      kind: 'text',
      template: 'digest_whatsapp',
      body: [
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
    });
    expect(whatsApp(digest([item('reminder')]))).toBe(
      '*1 update on your event plan*\n\nHere is what happened with your event plan:\n\n1. A reminder about your event plan\n\nYour event planning team',
    );
  });

  it('shows every item exactly once and in order', () => {
    const items = manyItems(20).map((entry, index) => ({ ...entry, variables: { seq: `n${String(index).padStart(2, '0')}` } }));
    const lines = whatsApp(digest(items)).split('\n');
    const numbered = lines.filter((line) => /^\d+\. /.test(line));
    expect(numbered).toEqual(items.map((entry, index) => `${index + 1}. ${messageTitles[entry.messageType]}`));
    const details = lines.filter((line) => line.startsWith('  seq: '));
    expect(details).toEqual(items.map((_, index) => `  seq: n${String(index).padStart(2, '0')}`));
    numbered.forEach((line, index) => expect(lines[lines.indexOf(line) + 1]).toBe(details[index]));
  });

  it('keeps within 4096 characters: details go first, then the last items are counted', () => {
    const detailed = manyItems(60).map((entry) => ({ ...entry, variables: { note: 'x'.repeat(100) } }));
    const noDetails = whatsApp(digest(detailed));
    expect(noDetails.length).toBeLessThanOrEqual(4096);
    expect(noDetails).not.toContain('note:');
    expect(noDetails.split('\n').filter((line) => /^\d+\. /.test(line))).toHaveLength(60);

    const many = whatsApp(digest(manyItems(500), 'Ada'));
    expect(many.length).toBeLessThanOrEqual(4096);
    const numbered = many.split('\n').filter((line) => /^\d+\. /.test(line));
    expect(numbered.length).toBeGreaterThan(50);
    expect(many).toContain(`…and ${500 - numbered.length} more updates\n\nYour event planning team`);
  });
});
