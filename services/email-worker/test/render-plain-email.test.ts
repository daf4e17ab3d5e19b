import { digestTitle, messageTitles, messageTypes, digestVariables, type DigestItem, type JsonObject, type MessageType } from '@crm/core';
import { renderPlainEmail } from '@crm/email-worker';

const item = (messageType: MessageType, variables: JsonObject = {}, id: string = messageType): DigestItem => ({ communicationId: id, messageType, variables });
/** A digest communication's variables, as the strategy stores them. */
const digest = (items: readonly DigestItem[], clientName?: string): JsonObject => digestVariables(items, clientName ?? '');

/** Where each title occurs in `text`: every title once, and in the given order. */
const positionsOf = (text: string, titles: readonly string[]): number[] =>
  titles.map((title) => {
    const at = text.indexOf(title);
    expect({ title, at, again: text.indexOf(title, at + 1) }).toEqual({ title, at: expect.any(Number), again: -1 });
    expect(at).toBeGreaterThanOrEqual(0);
    return at;
  });

describe('renderPlainEmail', () => {
  it('writes a message type as a greeting, its title or welcome line, its details and a sign-off', () => {
    expect(renderPlainEmail('budget_summary', { clientName: 'Ada', total: 18500, currency: 'EUR' })).toEqual({
      subject: 'Your budget summary is ready',
      text: 'Hello Ada,\n\nYour budget summary is ready.\n\n  total: 18500\n  currency: EUR\n\nYour event planning team\n',
    });
    expect(renderPlainEmail('welcome', {})).toEqual({
      subject: 'Welcome to your event plan',
      text: 'Hello,\n\nWelcome! We have started planning your event and will keep you posted here.\n\nYour event planning team\n',
    });
  });

  it('writes a digest with its title as subject and every item numbered with its details', () => {
    const email = renderPlainEmail(
      'digest',
      digest(
        [item('budget_summary', { clientName: 'Ada', total: 18500, currency: 'EUR' }), item('vendor_options', { category: 'catering' }), item('reminder')],
        'Ada',
      ),
    );
    expect(email).toEqual({
      subject: '3 updates on your event plan',
      text: [
        'Hello Ada,',
        '',
        'Here is what happened with your event plan:',
        '',
        '1. Your budget summary is ready',
        '   total: 18500',
        '   currency: EUR',
        '',
        '2. Vendor options for your event',
        '   category: catering',
        '',
        '3. A reminder about your event plan',
        '',
        'Your event planning team',
        '',
      ].join('\n'),
    });
    expect(email.text).not.toContain('clientName');
  });

  it('greets without a name and says "1 update" for a digest of one', () => {
    const email = renderPlainEmail('digest', digest([item('reminder')]));
    expect(email.subject).toBe('1 update on your event plan');
    expect(email.text.startsWith('Hello,\n')).toBe(true);
  });

  it('lists every item of a digest exactly once and in order, repeated types included', () => {
    const types = [...messageTypes, ...[...messageTypes].reverse()];
    const items = types.map((type, index) => item(type, { seq: `item-${String(index).padStart(2, '0')}` }, `c${index}`));
    const email = renderPlainEmail('digest', digest(items, 'Ada'));
    expect(email.subject).toBe(digestTitle(types.length));
    const numbered = types.map((type, index) => `${index + 1}. ${messageTitles[type]}\n   seq: item-${String(index).padStart(2, '0')}`);
    const positions = positionsOf(email.text, numbered);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(email.text.match(/^\d+\. /gm)).toHaveLength(types.length);
  });

  it('skips malformed digest entries and counts only the items it shows', () => {
    const email = renderPlainEmail('digest', {
      items: [
        { communicationId: 'c1', messageType: 'reminder', variables: {} },
        { communicationId: 'c2', messageType: 'not_a_type', variables: {} },
        'junk',
        { communicationId: 'c4', messageType: 'welcome' },
      ],
    });
    expect(email.subject).toBe('2 updates on your event plan');
    expect(email.text).toContain('1. A reminder about your event plan\n\n2. Welcome to your event plan\n');
  });
});
