import { awaitsReply, parseInboundText, replyOptionCount, selectionOf } from '../src';

describe('parseInboundText', () => {
  it.each([
    ['STOP', 'opt_out'],
    ['stop', 'opt_out'],
    [' Stop. ', 'opt_out'],
    ['STOPALL', 'opt_out'],
    ['unsubscribe', 'opt_out'],
    ['Cancel', 'opt_out'],
    ['END', 'opt_out'],
    ['quit!', 'opt_out'],
    ['START', 'opt_in'],
    ['unstop', 'opt_in'],
    ['HELP', 'help'],
    ['help?', 'help'],
    ['info', 'help'],
  ])('%p is the keyword of %s', (text, kind) => {
    const reply = parseInboundText(text);
    expect(reply.kind).toBe(kind);
    expect(reply).toEqual({ kind, keyword: text.trim().replace(/[.!?]/g, '').toUpperCase() });
  });

  it.each(['please stop texting me', 'stop it', 'STOP 2', 'start planning', 'I need help with the venue'])('%p is an answer, not a keyword', (text) => {
    expect(parseInboundText(text).kind).toBe('reply');
  });

  it.each([
    ['2', 2],
    ['2.', 2],
    ['option 2', 2],
    ['Option #2', 2],
    ['#3', 3],
    ['no. 1', 1],
    ['choice 1!', 1],
    ['the second one', 2],
    ['Second', 2],
    ['three', 3],
    ['I choose 3', 3],
    ["I'll take 1 please", 1],
    ['we will go with option 2, thanks', 2],
    ['vendor 2', 2],
    ['10', 10],
  ])('%p selects option %d', (text, selection) => {
    expect(parseInboundText(text, 10)).toEqual({ kind: 'reply', selection });
  });

  it.each(['yes', 'call me at 5', 'option 2 or 3', '2 and 3', '0', '123', 'thanks!', '', 'option'])('%p selects nothing', (text) => {
    expect(parseInboundText(text, 10)).toEqual({ kind: 'reply', selection: null });
  });

  it('keeps a selection only within the options offered', () => {
    expect(parseInboundText('4', 3)).toEqual({ kind: 'reply', selection: null });
    expect(parseInboundText('3', 3)).toEqual({ kind: 'reply', selection: 3 });
    expect(parseInboundText('4', null)).toEqual({ kind: 'reply', selection: 4 });
    expect(selectionOf('fourth')).toBe(4);
  });
});

describe('replyOptionCount and awaitsReply', () => {
  it('counts vendors of vendor options and options of any message', () => {
    expect(replyOptionCount('vendor_options', { vendors: [{}, {}, {}] })).toBe(3);
    expect(replyOptionCount('vendor_options', { vendors: 'none' })).toBeNull();
    expect(replyOptionCount('reminder', { options: ['Yes', 'No'] })).toBe(2);
    expect(replyOptionCount('welcome', {})).toBeNull();
  });

  it('knows which messages wait for an answer', () => {
    expect(awaitsReply('vendor_options', {}, {})).toBe(true);
    expect(awaitsReply('reminder', { options: ['Yes', 'No'] }, {})).toBe(true);
    expect(awaitsReply('reminder', {}, { expectsReply: true })).toBe(true);
    expect(awaitsReply('welcome', {}, {})).toBe(false);
    expect(awaitsReply('budget_summary', {}, { expectsReply: 'yes' })).toBe(false);
  });
});
