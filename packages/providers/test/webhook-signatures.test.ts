import {
  metaSignature,
  parseTwilioInbound,
  parseTwilioStatus,
  parseWhatsAppMessages,
  parseWhatsAppStatuses,
  twilioSignature,
  verifyMetaSignature,
  verifyTwilioSignature,
} from '@crm/providers';

// Twilio's documented example (webhooks-security; api-snippets signature_validation).
const twilioVector = {
  authToken: '12345',
  url: 'https://mycompany.com/myapp.php?foo=1&bar=2',
  params: { CallSid: 'CA1234567890ABCDE', Caller: '+14158675310', Digits: '1234', From: '+14158675310', To: '+18005551212' },
  signature: 'GvWf1cFY/Q7PnoempGyD5oXAezc=',
};
// The X-Hub-Signature-256 scheme is the same as GitHub's; its docs give this vector.
const metaVector = {
  secret: "It's a Secret to Everybody",
  body: 'Hello, World!',
  signature: 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
};

describe('Twilio signatures', () => {
  const { authToken, url, params, signature } = twilioVector;

  it('match the documented vector, whatever the order of the parameters', () => {
    expect(twilioSignature(authToken, url, params)).toBe(signature);
    const reversed = Object.fromEntries(Object.entries(params).reverse());
    expect(twilioSignature(authToken, url, reversed)).toBe(signature);
    expect(verifyTwilioSignature(authToken, signature, url, params)).toBe(true);
  });

  it('refuse a tampered parameter, another URL, another token, a missing or malformed header', () => {
    expect(verifyTwilioSignature(authToken, signature, url, { ...params, Digits: '1235' })).toBe(false);
    expect(verifyTwilioSignature(authToken, signature, url, { ...params, Extra: '' })).toBe(false);
    expect(verifyTwilioSignature(authToken, signature, 'https://mycompany.com/myapp.php?foo=1&bar=3', params)).toBe(false);
    expect(verifyTwilioSignature(authToken, signature, 'http://mycompany.com/myapp.php?foo=1&bar=2', params)).toBe(false);
    expect(verifyTwilioSignature('54321', signature, url, params)).toBe(false);
    expect(verifyTwilioSignature(authToken, undefined, url, params)).toBe(false);
    expect(verifyTwilioSignature(authToken, '', url, params)).toBe(false);
    expect(verifyTwilioSignature(authToken, 'short', url, params)).toBe(false);
    expect(verifyTwilioSignature(authToken, [signature, signature], url, params)).toBe(false);
    expect(verifyTwilioSignature('', twilioSignature('', url, params), url, params)).toBe(false);
  });

  it('sign each value of a repeated parameter, sorted', () => {
    const a = twilioSignature('t', 'https://x.test/h', { A: ['2', '1'], B: 'x' });
    expect(a).toBe(twilioSignature('t', 'https://x.test/h', { B: 'x', A: ['1', '2'] }));
    expect(a).not.toBe(twilioSignature('t', 'https://x.test/h', { A: '1', B: 'x' }));
  });
});

describe('Meta signatures', () => {
  const { secret, body, signature } = metaVector;

  it('match the documented vector, for a string or the raw bytes, in either hex case', () => {
    expect(metaSignature(secret, body)).toBe(signature);
    expect(verifyMetaSignature(secret, signature, Buffer.from(body))).toBe(true);
    expect(verifyMetaSignature(secret, `sha256=${signature.slice(7).toUpperCase()}`, body)).toBe(true);
  });

  it('refuse a tampered body, another secret, a missing, bare or other-algorithm header', () => {
    expect(verifyMetaSignature(secret, signature, 'Hello, World?')).toBe(false);
    expect(verifyMetaSignature(secret, signature, `${body} `)).toBe(false);
    expect(verifyMetaSignature('other', signature, body)).toBe(false);
    expect(verifyMetaSignature(secret, undefined, body)).toBe(false);
    expect(verifyMetaSignature(secret, signature.slice(7), body)).toBe(false);
    expect(verifyMetaSignature(secret, `sha1=${signature.slice(7)}`, body)).toBe(false);
    expect(verifyMetaSignature(secret, 'sha256=', body)).toBe(false);
    expect(verifyMetaSignature('', metaSignature('', body), body)).toBe(false);
  });
});

describe('parseTwilioStatus', () => {
  const sid = `SM${'0a'.repeat(16)}`;
  const now = new Date('2026-03-01T10:00:00Z');

  it.each([
    ['queued', 'sent'],
    ['sending', 'sent'],
    ['sent', 'sent'],
    ['delivered', 'delivered'],
    ['undelivered', 'failed'],
    ['failed', 'failed'],
    ['read', 'read'],
  ] as const)('maps %s to %s, with the SID and the status word as event id', (word, status) => {
    expect(parseTwilioStatus({ MessageSid: sid, MessageStatus: word, AccountSid: 'AC1', To: '+1' }, now)).toEqual({
      providerMessageId: sid, providerEventId: `${sid}:${word}`, status, at: now,
    });
  });

  it('keeps the error code of a failure only', () => {
    expect(parseTwilioStatus({ MessageSid: sid, MessageStatus: 'undelivered', ErrorCode: '30003' }, now)).toMatchObject({ status: 'failed', errorCode: '30003' });
    expect(parseTwilioStatus({ MessageSid: sid, MessageStatus: 'delivered', ErrorCode: '30003' }, now)).not.toHaveProperty('errorCode');
    expect(parseTwilioStatus({ MessageSid: sid, MessageStatus: 'failed', ErrorCode: '<script>' }, now)).not.toHaveProperty('errorCode');
  });

  it('ignores what is not a delivery status of a sent message', () => {
    expect(parseTwilioStatus({ MessageSid: sid, MessageStatus: 'received' }, now)).toBeNull();
    expect(parseTwilioStatus({ MessageSid: sid, MessageStatus: 'constructor' }, now)).toBeNull();
    expect(parseTwilioStatus({ MessageSid: sid }, now)).toBeNull();
    expect(parseTwilioStatus({ MessageStatus: 'delivered' }, now)).toBeNull();
    expect(parseTwilioStatus({ MessageSid: 'not-a-sid', MessageStatus: 'delivered' }, now)).toBeNull();
    expect(parseTwilioStatus({ MessageSid: [sid, sid], MessageStatus: 'delivered' }, now)).toBeNull();
  });
});

describe('parseWhatsAppStatuses', () => {
  const status = (id: string, word: string, timestamp: unknown, extra: object = {}) => ({ id, status: word, timestamp, recipient_id: '15551234567', ...extra });
  // The shape of Meta's `messages` field webhook.
  const body = (statuses: unknown[], more: object = {}) => ({
    object: 'whatsapp_business_account',
    entry: [{ id: 'WABA', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { phone_number_id: '1' }, statuses, ...more } }] }],
  });

  it('reads every status of a batch, in order, with its time and event id', () => {
    const parsed = parseWhatsAppStatuses(body([status('wamid.A', 'delivered', '1700000000'), status('wamid.B', 'read', '1700000060')]));
    expect(parsed).toEqual([
      { providerMessageId: 'wamid.A', providerEventId: 'wamid.A:delivered', status: 'delivered', at: new Date(1_700_000_000_000) },
      { providerMessageId: 'wamid.B', providerEventId: 'wamid.B:read', status: 'read', at: new Date(1_700_000_060_000) },
    ]);
  });

  it('reads statuses across several entries and changes', () => {
    const two = { entry: [...body([status('wamid.A', 'sent', '1')]).entry, ...body([status('wamid.B', 'sent', '2')]).entry] };
    expect(parseWhatsAppStatuses(two).map((s) => s.providerMessageId)).toEqual(['wamid.A', 'wamid.B']);
  });

  it('keeps the first error code of a failure', () => {
    const failed = status('wamid.F', 'failed', '1700000000', { errors: [{ code: 131026, title: 'Message undeliverable' }, { code: 1 }] });
    expect(parseWhatsAppStatuses(body([failed]))).toEqual([
      { providerMessageId: 'wamid.F', providerEventId: 'wamid.F:failed', status: 'failed', errorCode: '131026', at: new Date(1_700_000_000_000) },
    ]);
  });

  it('skips inbound messages, unknown statuses and malformed items, never throwing', () => {
    expect(parseWhatsAppStatuses(body([], { messages: [{ id: 'wamid.IN', type: 'text' }] }))).toEqual([]);
    expect(parseWhatsAppStatuses(body([status('wamid.A', 'deleted', '1'), status('wamid.B', 'read', 'yesterday'), status('', 'read', '1'), null, 'x', { id: 7 }]))).toEqual([]);
    for (const junk of [null, 'x', 1, [], {}, { entry: 'x' }, { entry: [null, { changes: 'x' }, { changes: [null, { value: [] }] }] }]) {
      expect(parseWhatsAppStatuses(junk)).toEqual([]);
    }
  });
});

describe('parseTwilioInbound and parseWhatsAppMessages', () => {
  const at = new Date('2026-11-25T12:00:00Z');
  const sid = `SM${'a'.repeat(32)}`;

  it('reads a received SMS, and refuses status callbacks and malformed senders', () => {
    expect(parseTwilioInbound({ MessageSid: sid, From: '+14155550123', To: '+15005550006', Body: ' Stop ', SmsStatus: 'received' }, at)).toEqual({
      providerMessageId: sid, from: '+14155550123', text: ' Stop ', reply: null, contextMessageId: null, at,
    });
    expect(parseTwilioInbound({ MessageSid: sid, From: '+14155550123', MessageStatus: 'delivered' }, at)).toBeNull();
    expect(parseTwilioInbound({ MessageSid: sid, From: 'not a number', Body: 'x' }, at)).toBeNull();
    expect(parseTwilioInbound({ MessageSid: 'SM1', From: '+14155550123', Body: 'x' }, at)).toBeNull();
    expect(parseTwilioInbound({ MessageSid: sid, From: '+14155550123' }, at)).toMatchObject({ text: null });
  });

  it('reads text, button replies, list replies and template quick replies with their context, and skips the rest', () => {
    const body = {
      entry: [{ changes: [{ value: { messages: [
        { from: '14155550123', id: 'wamid.1', timestamp: '1764072000', type: 'text', text: { body: '2' } },
        { from: '14155550123', id: 'wamid.2', timestamp: '1764072001', type: 'interactive', context: { id: 'wamid.ours' }, interactive: { type: 'button_reply', button_reply: { id: 'option:2', title: 'Saffron Table' } } },
        { from: '14155550123', id: 'wamid.3', timestamp: '1764072002', type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'option:4', title: 'Lumen', description: 'Photos' } } },
        { from: '14155550123', id: 'wamid.4', timestamp: '1764072003', type: 'button', button: { text: 'Yes', payload: 'option:1' } },
        { from: '14155550123', id: 'wamid.5', timestamp: '1764072004', type: 'image', image: { id: 'media' } },
        { from: 'x', id: 'wamid.6', timestamp: '1', type: 'text', text: { body: 'bad sender' } },
        { from: '14155550123', id: 'wamid.7', type: 'text', text: { body: 'no timestamp' } },
        null,
      ] } }, { value: 'not an object' }] }, 'bad entry'],
    };
    const messages = parseWhatsAppMessages(body);
    expect(messages.map((m) => [m.providerMessageId, m.text, m.reply?.id ?? null, m.contextMessageId])).toEqual([
      ['wamid.1', '2', null, null],
      ['wamid.2', 'Saffron Table', 'option:2', 'wamid.ours'],
      ['wamid.3', 'Lumen', 'option:4', null],
      ['wamid.4', 'Yes', 'option:1', null],
      ['wamid.5', null, null, null],
    ]);
    expect(messages[0]?.at).toEqual(new Date(1_764_072_000_000));
    expect(parseWhatsAppMessages('nothing')).toEqual([]);
    expect(parseWhatsAppStatuses(body)).toEqual([]);
  });
});
