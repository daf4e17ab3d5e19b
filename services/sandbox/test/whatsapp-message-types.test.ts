import { randomUUID } from 'node:crypto';
import { createLogger } from '@crm/observability';
import { checkInteractive, checkTemplate, startSandbox, type Sandbox, type SandboxWhatsAppMessage } from '@crm/sandbox';

const logger = createLogger({ service: 'sandbox-whatsapp-types-test', level: 'silent' });
const phoneNumberId = '100000000000001';
const accessToken = 'sandbox-whatsapp-access-token';

async function send(base: string, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}/whatsapp/v21.0/${phoneNumberId}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messaging_product: 'whatsapp', recipient_type: 'individual', to: '+14155550123', ...body }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const reply = (id: string, title = `Option ${id}`) => ({ type: 'reply', reply: { id, title } });
const buttonMessage = (interactive: Record<string, unknown> = {}, action: Record<string, unknown> = { buttons: [reply('a'), reply('b')] }) => ({
  type: 'interactive',
  interactive: { type: 'button', body: { text: 'Which venue do you prefer?' }, action, ...interactive },
});
const row = (id: string, extra: Record<string, unknown> = {}) => ({ id, title: `Row ${id}`, ...extra });
const listMessage = (action: Record<string, unknown> = {}, interactive: Record<string, unknown> = {}) => ({
  type: 'interactive',
  interactive: { type: 'list', body: { text: 'Pick a caterer' }, action: { button: 'Caterers', sections: [{ title: 'Nearby', rows: [row('c1'), row('c2')] }], ...action }, ...interactive },
});
const templateMessage = (template: Record<string, unknown> = {}) => ({
  type: 'template',
  template: { name: 'vendors_ready', language: { code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ada' }, { type: 'text', text: '3 venues' }] }], ...template },
});

describe('WhatsApp stand-in: interactive and template messages', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ logger });
  });
  afterAll(() => sandbox.stop());
  beforeEach(() => sandbox.whatsapp.clear());

  const stored = async (id: string): Promise<SandboxWhatsAppMessage> => {
    const response = await fetch(`${sandbox.httpUrl}/whatsapp/messages?limit=1`);
    const { messages } = (await response.json()) as { messages: SandboxWhatsAppMessage[] };
    expect(messages[0]?.id).toBe(id);
    return messages[0]!;
  };

  it('accepts reply buttons and keeps them in the outbox with their type', async () => {
    const communicationId = randomUUID();
    const answer = await send(sandbox.httpUrl, { ...buttonMessage({ footer: { text: 'Reply by Friday' } }), biz_opaque_callback_data: communicationId });
    expect(answer.status).toBe(200);
    const id = (answer.body.messages as { id: string }[])[0]!.id;
    expect(await stored(id)).toMatchObject({
      id,
      communicationId,
      type: 'interactive',
      interactive: { type: 'button', header: null, body: 'Which venue do you prefer?', footer: 'Reply by Friday', buttons: [{ id: 'a', title: 'Option a' }, { id: 'b', title: 'Option b' }] },
      text: { body: 'Which venue do you prefer?' },
    });
  });

  it('accepts a list and a template, keeping rows, name, language and body parameters', async () => {
    const list = await send(sandbox.httpUrl, listMessage({ sections: [{ rows: [row('c1', { description: 'Vegetarian' }), row('c2')] }] }));
    expect(list.status).toBe(200);
    expect(await stored((list.body.messages as { id: string }[])[0]!.id)).toMatchObject({
      type: 'interactive',
      interactive: { type: 'list', button: 'Caterers', sections: [{ title: null, rows: [{ id: 'c1', title: 'Row c1', description: 'Vegetarian' }, { id: 'c2', title: 'Row c2', description: null }] }] },
    });

    const template = await send(sandbox.httpUrl, templateMessage());
    expect(template.status).toBe(200);
    expect(await stored((template.body.messages as { id: string }[])[0]!.id)).toMatchObject({
      type: 'template',
      template: { name: 'vendors_ready', language: 'en_US', bodyParameters: ['Ada', '3 venues'] },
      text: { body: 'Ada\n3 venues' },
    });
  });

  const long = (n: number) => 'x'.repeat(n);
  const violations: [string, Record<string, unknown>, number][] = [
    ['no buttons', buttonMessage({}, { buttons: [] }), 131009],
    ['four buttons', buttonMessage({}, { buttons: [reply('a'), reply('b'), reply('c'), reply('d')] }), 131009],
    ['a button title of 21 characters', buttonMessage({}, { buttons: [reply('a', long(21))] }), 131009],
    ['an empty button title', buttonMessage({}, { buttons: [reply('a', '')] }), 131008],
    ['a button id of 257 characters', buttonMessage({}, { buttons: [reply(long(257))] }), 131009],
    ['duplicate button ids', buttonMessage({}, { buttons: [reply('a', 'One'), reply('a', 'Two')] }), 131009],
    ['duplicate button titles', buttonMessage({}, { buttons: [reply('a', 'Same'), reply('b', 'Same')] }), 131009],
    ['a button of another type', buttonMessage({}, { buttons: [{ type: 'url', reply: { id: 'a', title: 'A' } }] }), 100],
    ['no action', buttonMessage({ action: undefined }), 131008],
    ['no body', buttonMessage({ body: undefined }), 131008],
    ['a body of 1,025 characters', buttonMessage({ body: { text: long(1025) } }), 131009],
    ['a footer of 61 characters', buttonMessage({ footer: { text: long(61) } }), 131009],
    ['an image header', buttonMessage({ header: { type: 'image', image: { link: 'https://x.test/a.png' } } }), 100],
    ['an unsupported interactive type', { type: 'interactive', interactive: { type: 'cta_url', body: { text: 'x' }, action: {} } }, 100],
    ['no interactive object', { type: 'interactive' }, 131008],
    ['a list button label of 21 characters', listMessage({ button: long(21) }), 131009],
    ['a list without a button label', listMessage({ button: undefined }), 131008],
    ['a row title of 25 characters', listMessage({ sections: [{ rows: [row('c1', { title: long(25) })] }] }), 131009],
    ['a row description of 73 characters', listMessage({ sections: [{ rows: [row('c1', { description: long(73) })] }] }), 131009],
    ['11 rows in one section', listMessage({ sections: [{ rows: Array.from({ length: 11 }, (_, i) => row(`r${i}`)) }] }), 131009],
    ['11 rows over two sections', listMessage({ sections: [{ title: 'A', rows: Array.from({ length: 6 }, (_, i) => row(`a${i}`)) }, { title: 'B', rows: Array.from({ length: 5 }, (_, i) => row(`b${i}`)) }] }), 131009],
    ['two sections, one without a title', listMessage({ sections: [{ title: 'A', rows: [row('a')] }, { rows: [row('b')] }] }), 131008],
    ['duplicate row ids across sections', listMessage({ sections: [{ title: 'A', rows: [row('a')] }, { title: 'B', rows: [row('a')] }] }), 131009],
    ['a section title of 25 characters', listMessage({ sections: [{ title: long(25), rows: [row('a')] }] }), 131009],
    ['a template name with capitals', templateMessage({ name: 'Vendors-Ready' }), 131009],
    ['a template without a name', templateMessage({ name: undefined }), 131008],
    ['a template without a language', templateMessage({ language: undefined }), 131008],
    ['a template language that is no code', templateMessage({ language: { code: 'english' } }), 131009],
    ['a template body parameter without text', templateMessage({ components: [{ type: 'body', parameters: [{ type: 'text', text: '' }] }] }), 131008],
    ['a template currency parameter', templateMessage({ components: [{ type: 'body', parameters: [{ type: 'currency', currency: {} }] }] }), 100],
    ['no template object', { type: 'template' }, 131008],
    ['an unsupported message type', { type: 'image', image: { link: 'https://x.test/a.png' } }, 100],
  ];

  it.each(violations)("refuses %s with Meta's code (%#)", async (_name, body, code) => {
    const answer = await send(sandbox.httpUrl, body);
    expect({ status: answer.status, code: (answer.body.error as { code: number }).code }).toEqual({ status: 400, code });
    expect(answer.body.error).toMatchObject({ type: 'OAuthException', message: expect.stringContaining(`(#${code})`), error_data: { messaging_product: 'whatsapp', details: expect.any(String) } });
    expect(sandbox.whatsapp.size).toBe(0);
  });

  it('names the limit in the details, as Meta does', async () => {
    const answer = await send(sandbox.httpUrl, buttonMessage({}, { buttons: [reply('a', long(21))] }));
    expect(answer.body.error).toMatchObject({ message: '(#131009) Parameter value is not valid', error_data: { details: 'Button title length invalid. Min length: 1, Max length: 20' } });
  });
});

describe('checkInteractive / checkTemplate', () => {
  it('count characters, not UTF-16 units, and accept the limits exactly', () => {
    const twentyEmoji = '🎉'.repeat(20);
    expect(checkInteractive({ type: 'button', body: { text: 'x' }, action: { buttons: [{ type: 'reply', reply: { id: 'a', title: twentyEmoji } }] } }).ok).toBe(true);
    expect(checkInteractive({ type: 'button', body: { text: 'x'.repeat(1024) }, footer: { text: 'f'.repeat(60) }, action: { buttons: [1, 2, 3].map((n) => ({ type: 'reply', reply: { id: String(n), title: 't'.repeat(20 - n) } })) } }).ok).toBe(true);
    expect(checkTemplate({ name: 'a'.repeat(512), language: { code: 'pt_BR' } })).toEqual({ ok: true, value: { name: 'a'.repeat(512), language: 'pt_BR', bodyParameters: [], components: [] } });
    expect(checkTemplate({ name: 'a'.repeat(513), language: { code: 'en' } })).toMatchObject({ ok: false, code: 131009 });
  });
});
