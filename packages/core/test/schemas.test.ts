import { createHash } from 'node:crypto';
import {
  ClientPreferencesSchema,
  CommunicationRequestSchema,
  CommunicationResultSchema,
  CommunicationStrategySchema,
  MessageChannel,
  MessageType,
  UrgencyLevel,
  canonicalJson,
  defaultClientPreferences,
  isIanaTimeZone,
  requestHash,
} from '@crm/core';

const fieldsOf = (result: { success: boolean; error?: { issues: { path: PropertyKey[]; code: string; keys?: string[] }[] } }) =>
  (result.error?.issues ?? []).flatMap((issue) => (issue.code === 'unrecognized_keys' ? (issue.keys ?? []) : [issue.path.join('.')]));

describe('enums', () => {
  it('expose their values by name', () => {
    expect(MessageType.budget_summary).toBe('budget_summary');
    expect(Object.keys(MessageType)).toEqual(['welcome', 'budget_summary', 'vendor_options', 'selection_confirmation', 'blueprint_delivery', 'error_notification', 'reminder']);
    expect(Object.keys(MessageChannel)).toEqual(['email', 'sms', 'whatsapp']);
    expect(Object.keys(UrgencyLevel)).toEqual(['low', 'normal', 'high', 'critical']);
  });
});

describe('CommunicationRequestSchema', () => {
  const minimal = { clientId: 'client-42', planId: 'plan-7', messageType: 'budget_summary' };

  it('applies defaults', () => {
    expect(CommunicationRequestSchema.parse(minimal)).toEqual({
      ...minimal, urgency: 'normal', variables: {}, channel: null, sendAt: null, idempotencyKey: null, metadata: {}, recipient: null, attachments: [],
    });
  });

  it('accepts the example of ARCHITECTURE.md', () => {
    const example = {
      clientId: 'client-42', planId: 'plan-7', messageType: 'budget_summary', urgency: 'normal',
      variables: { clientName: 'Ada', total: 18500, currency: 'EUR' }, channel: null, sendAt: null,
      idempotencyKey: 'plan-7:budget:v1', metadata: { workflowRunId: 'run-1' },
      recipient: { email: 'ada@example.com', phone: '+4915112345678', timezone: 'Europe/Berlin' },
    };
    expect(CommunicationRequestSchema.parse(example)).toEqual({ ...example, attachments: [] });
  });

  it('takes up to ten attachment ids, in their order', () => {
    const ids = Array.from({ length: 10 }, (_, n) => `6f1c7f55-2d5f-4d57-9d1f-3d1b8f7c9a${String(n).padStart(2, '0')}`);
    expect(CommunicationRequestSchema.parse({ ...minimal, attachments: ids }).attachments).toEqual(ids);
  });

  it.each([
    ['missing clientId', { planId: 'p', messageType: 'welcome' }, 'clientId'],
    ['unknown messageType', { ...minimal, messageType: 'newsletter' }, 'messageType'],
    ['unknown urgency', { ...minimal, urgency: 'asap' }, 'urgency'],
    ['unknown channel', { ...minimal, channel: 'pigeon' }, 'channel'],
    ['unknown field', { ...minimal, colour: 'red' }, 'colour'],
    ['sendAt without offset', { ...minimal, sendAt: '2026-01-01T10:00:00' }, 'sendAt'],
    ['variables not an object', { ...minimal, variables: [1, 2] }, 'variables'],
    ['bad email', { ...minimal, recipient: { email: 'nope' } }, 'recipient.email'],
    ['local phone number', { ...minimal, recipient: { phone: '030 1234567' } }, 'recipient.phone'],
    ['abbreviated zone', { ...minimal, recipient: { timezone: 'EST' } }, 'recipient.timezone'],
    ['unknown recipient field', { ...minimal, recipient: { name: 'Ada' } }, 'name'],
    ['email as client id', { ...minimal, clientId: 'ada@example.com' }, 'clientId'],
    ['empty plan id', { ...minimal, planId: '' }, 'planId'],
    ['an attachment that is not an id', { ...minimal, attachments: ['6f1c7f55-2d5f-4d57-9d1f-3d1b8f7c9a11', 'invoice.pdf'] }, 'attachments.1'],
    ['more than ten attachments', { ...minimal, attachments: Array.from({ length: 11 }, () => '6f1c7f55-2d5f-4d57-9d1f-3d1b8f7c9a11') }, 'attachments'],
    ['attachments not a list', { ...minimal, attachments: '6f1c7f55-2d5f-4d57-9d1f-3d1b8f7c9a11' }, 'attachments'],
  ])('refuses %s, naming the field', (_name, input, field) => {
    const result = CommunicationRequestSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(fieldsOf(result)).toContain(field);
  });
});

describe('ClientPreferencesSchema', () => {
  it('accepts the defaults', () => {
    expect(ClientPreferencesSchema.parse({ clientId: 'c', ...defaultClientPreferences })).toMatchObject({ channels: ['email', 'whatsapp', 'sms'], timezone: 'UTC' });
  });

  it.each([
    ['no channels', { channels: [] }, 'channels'],
    ['a repeated channel', { channels: ['sms', 'sms'] }, 'channels'],
    ['bad quiet hours', { quietHours: { start: '25:00', end: '08:00' } }, 'quietHours.start'],
    ['bad language', { language: 'english' }, 'language'],
  ])('refuses %s', (_name, change, field) => {
    const result = ClientPreferencesSchema.safeParse({ clientId: 'c', ...defaultClientPreferences, ...change });
    expect(fieldsOf(result)).toContain(field);
  });

  it('accepts quiet hours across midnight', () => {
    expect(ClientPreferencesSchema.safeParse({ clientId: 'c', ...defaultClientPreferences, quietHours: { start: '22:30', end: '07:15' } }).success).toBe(true);
  });
});

describe('strategy and result schemas', () => {
  it('parse valid values', () => {
    expect(CommunicationStrategySchema.parse({ channels: ['whatsapp', 'email'], sendAt: new Date(0), batch: false, reason: 'preferences' }).channels).toEqual(['whatsapp', 'email']);
    expect(
      CommunicationResultSchema.parse({
        communicationId: '6f1c7f55-2d5f-4d57-9d1f-3d1b8f7c9a11', status: 'failed', channel: 'sms', attempt: 2, providerMessageId: null,
        error: { code: '21610', category: 'permanent', message: 'recipient opted out' }, latencyMs: 120,
      }).error?.category,
    ).toBe('permanent');
  });
});

describe('isIanaTimeZone', () => {
  it.each(['UTC', 'Europe/Berlin', 'America/Argentina/Buenos_Aires', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Etc/GMT+5'])('accepts %s', (zone) => {
    expect(isIanaTimeZone(zone)).toBe(true);
  });
  it.each(['EST', 'Mars/Olympus', '', '+02:00', 'Europe/'])('refuses %s', (zone) => {
    expect(isIanaTimeZone(zone)).toBe(false);
  });
});

describe('requestHash', () => {
  const a = CommunicationRequestSchema.parse({ clientId: 'c', planId: 'p', messageType: 'welcome', variables: { b: 1, a: { y: 2, x: 1 } }, idempotencyKey: 'k' });

  it('ignores key order and the idempotency key itself', () => {
    const reordered = CommunicationRequestSchema.parse({ idempotencyKey: 'other', variables: { a: { x: 1, y: 2 }, b: 1 }, messageType: 'welcome', planId: 'p', clientId: 'c' });
    expect(requestHash(reordered)).toBe(requestHash(a));
  });

  it('differs when anything else differs', () => {
    expect(requestHash({ ...a, variables: { b: 2, a: { y: 2, x: 1 } } })).not.toBe(requestHash(a));
    expect(requestHash({ ...a, urgency: 'high' })).not.toBe(requestHash(a));
  });

  it('differs when the attachments differ, in ids or in order', () => {
    const [x, y] = ['6f1c7f55-2d5f-4d57-9d1f-3d1b8f7c9a11', '0b9a7c1e-8f3d-4b8a-9c6e-2a1d4e5f6a7b'];
    const withX = requestHash({ ...a, attachments: [x] });
    expect(withX).not.toBe(requestHash(a));
    expect(requestHash({ ...a, attachments: [y] })).not.toBe(withX);
    expect(requestHash({ ...a, attachments: [x, y] })).not.toBe(requestHash({ ...a, attachments: [y, x] }));
    expect(requestHash({ ...a, attachments: [x], idempotencyKey: 'other' })).toBe(withX);
  });

  it('is unchanged for a request without attachments (hashes stored before the field existed still match)', () => {
    expect(a.attachments).toEqual([]);
    // The hash of this request as computed before `attachments` was added to the schema.
    const { idempotencyKey: _key, attachments: _none, ...before } = a;
    expect(requestHash(a)).toBe(createHash('sha256').update(canonicalJson(before)).digest('hex'));
  });

  it('serialises canonically', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
  });
});
