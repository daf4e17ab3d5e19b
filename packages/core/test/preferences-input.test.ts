import { preferencesInputSchema } from '@crm/core';

/** The field paths a failed parse names (an unknown key by its own name). */
const fieldsOf = (body: unknown): string[] => {
  const result = preferencesInputSchema.safeParse(body);
  if (result.success) return [];
  return result.error.issues.flatMap((issue) => {
    const path = issue.path.join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => (path ? `${path}.${key}` : key));
    return [path || '(root)'];
  });
};

const id = { clientId: 'client-42' };

describe('preferencesInputSchema', () => {
  const good: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ['channels in order', { channels: ['whatsapp', 'email'] }, { channels: ['whatsapp', 'email'] }],
    ['one channel', { channels: ['sms'] }, { channels: ['sms'] }],
    ['channels back to the default', { channels: null }, { channels: null }],
    ['an IANA zone', { timezone: 'America/Sao_Paulo' }, { timezone: 'America/Sao_Paulo' }],
    ['UTC', { timezone: 'UTC' }, { timezone: 'UTC' }],
    ['quiet hours crossing midnight', { quietHours: { start: '21:30', end: '07:00' } }, { quietHours: { start: '21:30', end: '07:00' } }],
    ['quiet hours within a day', { quietHours: { start: '12:00', end: '14:00' } }, { quietHours: { start: '12:00', end: '14:00' } }],
    ['quiet hours cleared', { quietHours: null }, { quietHours: null }],
    ['opt-outs', { optOuts: ['sms', 'whatsapp'] }, { optOuts: ['sms', 'whatsapp'] }],
    ['no opt-outs', { optOuts: [] }, { optOuts: [] }],
    ['a language', { language: 'en' }, { language: 'en' }],
    ['a language with a region', { language: 'pt-BR' }, { language: 'pt-BR' }],
    ['a language in its canonical case', { language: 'PT-br' }, { language: 'pt-BR' }],
    ['a language with script and numeric region', { language: 'zh-Hant-TW' }, { language: 'zh-Hant-TW' }],
    ['a UN M.49 region', { language: 'es-419' }, { language: 'es-419' }],
    ['batching off', { batching: false }, { batching: false }],
    ['an email', { email: 'ada@example.com' }, { email: 'ada@example.com' }],
    ['email removed', { email: null }, { email: null }],
    ['an E.164 phone', { phone: '+14155550123' }, { phone: '+14155550123' }],
    ['a formatted phone, normalised', { phone: '+44 20 7946 0958' }, { phone: '+442079460958' }],
    ['a phone with punctuation, normalised', { phone: '+1 (415) 555-0123' }, { phone: '+14155550123' }],
    ['phone removed', { phone: null }, { phone: null }],
    [
      'everything at once',
      { channels: ['email'], timezone: 'Europe/Lisbon', quietHours: { start: '22:00', end: '08:00' }, optOuts: ['sms'], language: 'pt-PT', batching: true, email: 'a@b.co', phone: '+351912345678' },
      { channels: ['email'], timezone: 'Europe/Lisbon', quietHours: { start: '22:00', end: '08:00' }, optOuts: ['sms'], language: 'pt-PT', batching: true, email: 'a@b.co', phone: '+351912345678' },
    ],
  ];

  it.each(good)('accepts %s', (_name, body, expected) => {
    expect(preferencesInputSchema.parse({ ...id, ...body })).toEqual({ ...id, ...expected });
  });

  const bad: [string, unknown, string[]][] = [
    ['an unknown channel', { ...id, channels: ['pigeon'] }, ['channels.0']],
    ['an empty channel list', { ...id, channels: [] }, ['channels']],
    ['a repeated channel', { ...id, channels: ['email', 'sms', 'email'] }, ['channels']],
    ['channels not a list', { ...id, channels: 'email' }, ['channels']],
    ['a zone that does not exist', { ...id, timezone: 'Mars/Olympus' }, ['timezone']],
    ['a fixed offset instead of a zone', { ...id, timezone: '+02:00' }, ['timezone']],
    ['an abbreviation instead of a zone', { ...id, timezone: 'EST' }, ['timezone']],
    ['quiet hours at 25:00', { ...id, quietHours: { start: '25:00', end: '07:00' } }, ['quietHours.start']],
    ['quiet hours without a leading zero', { ...id, quietHours: { start: '22:00', end: '7:00' } }, ['quietHours.end']],
    ['quiet hours with seconds', { ...id, quietHours: { start: '22:00:00', end: '07:00' } }, ['quietHours.start']],
    ['quiet hours starting where they end', { ...id, quietHours: { start: '22:00', end: '22:00' } }, ['quietHours.end']],
    ['quiet hours missing their end', { ...id, quietHours: { start: '22:00' } }, ['quietHours.end']],
    ['quiet hours with an unknown field', { ...id, quietHours: { start: '22:00', end: '07:00', days: 'weekdays' } }, ['quietHours.days']],
    ['an unknown opt-out channel', { ...id, optOuts: ['fax'] }, ['optOuts.0']],
    ['a repeated opt-out', { ...id, optOuts: ['sms', 'sms'] }, ['optOuts']],
    ['a language with an underscore', { ...id, language: 'en_US' }, ['language']],
    ['a language that is one letter', { ...id, language: 'e' }, ['language']],
    ['a language that is a sentence', { ...id, language: 'English please' }, ['language']],
    ['batching as a string', { ...id, batching: 'yes' }, ['batching']],
    ['an email without a domain', { ...id, email: 'ada@' }, ['email']],
    ['an email that is not one', { ...id, email: 'not an email' }, ['email']],
    ['a phone too short', { ...id, phone: '+1555' }, ['phone']],
    ['a phone in national form', { ...id, phone: '02079460958' }, ['phone']],
    ['a phone with an international prefix instead of +', { ...id, phone: '00442079460958' }, ['phone']],
    ['a phone with letters', { ...id, phone: '+1415555CALL' }, ['phone']],
    ['a phone with an invalid area code', { ...id, phone: '+15555550123' }, ['phone']],
    ['a phone too long', { ...id, phone: '+12345678901234567' }, ['phone']],
    ['an unknown field', { ...id, channels: ['email'], colour: 'blue' }, ['colour']],
    ['a missing clientId', { channels: ['email'] }, ['clientId']],
    ['a clientId that is an email address', { clientId: 'ada@example.com', batching: true }, ['clientId']],
    ['no field besides clientId', { ...id }, ['(root)']],
    ['several bad fields', { ...id, channels: ['email', 'email'], timezone: 'Mars/Olympus', phone: '+1555' }, ['channels', 'timezone', 'phone']],
  ];

  it.each(bad)('refuses %s, naming the field', (_name, body, fields) => {
    expect(fieldsOf(body).sort()).toEqual([...fields].sort());
  });
});
