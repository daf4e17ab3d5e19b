import net from 'node:net';
import { createLogger } from '@crm/observability';
import { parseTwimlMessages, startSandbox, type Sandbox, type SandboxSms } from '@crm/sandbox';
import { WebhookReceiver } from './support/webhook-receiver';

const logger = createLogger({ service: 'sandbox-inbound-test', level: 'silent' });

const accountSid = 'AC00000000000000000000000000000000';
const authToken = 'sandbox-twilio-auth-token';
const phoneNumberId = '100000000000001';
const accessToken = 'sandbox-whatsapp-access-token';
const appSecret = 'sandbox-whatsapp-app-secret';
const DAY_MS = 24 * 60 * 60 * 1000;

async function json(url: string, init: RequestInit = {}): Promise<{ status: number; contentType: string | null; body: Record<string, unknown> }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get('content-type'), body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
const post = (url: string, body: unknown) => json(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const put = (url: string, body: unknown) => json(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

interface WebhookValue {
  metadata: { display_phone_number: string; phone_number_id: string };
  contacts: { profile: { name: string }; wa_id: string }[];
  messages: Record<string, unknown>[];
}
const valueOf = (body: unknown): WebhookValue => (body as { entry: { changes: { value: WebhookValue }[] }[] }).entry[0]!.changes[0]!.value;

describe('inbound messages and the 24-hour window', () => {
  let receiver: WebhookReceiver;
  let sandbox: Sandbox;
  let now = Date.parse('2026-03-01T10:00:00Z');

  beforeAll(async () => {
    receiver = await WebhookReceiver.start({ twilioAuthToken: authToken, appSecret });
    sandbox = await startSandbox({
      logger,
      clock: () => now,
      twilio: { accountSid, authToken, fromNumber: '+15005550006' },
      webhooks: { twilioInboundUrl: `${receiver.base}/webhooks/twilio/inbound`, whatsappUrl: `${receiver.base}/webhooks/whatsapp`, whatsappAppSecret: appSecret },
      callbacks: { enabled: false, delayMs: 0, retry: { backoffMs: 10 } },
    });
  });
  afterAll(async () => {
    await sandbox.stop();
    await receiver.close();
  });
  beforeEach(() => {
    receiver.clear();
    sandbox.sms.clear();
    sandbox.whatsapp.clear();
    sandbox.whatsappWindow.clear();
    sandbox.whatsappWindow.setEnforce(false);
    sandbox.inbound.reset();
    now = Date.parse('2026-03-01T10:00:00Z');
  });

  const sendWhatsApp = (body: Record<string, unknown>) =>
    json(`${sandbox.httpUrl}/whatsapp/v21.0/${phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', recipient_type: 'individual', ...body }),
    });
  const buttons = (to: string, ids: string[]) =>
    sendWhatsApp({
      to,
      type: 'interactive',
      interactive: { type: 'button', body: { text: 'Which venue?' }, action: { buttons: ids.map((id) => ({ type: 'reply', reply: { id, title: `Venue ${id}` } })) } },
    });
  const idOf = (answer: { body: Record<string, unknown> }) => (answer.body.messages as { id: string }[])[0]!.id;

  describe('POST /sms/inbound', () => {
    it("posts Twilio's signed inbound webhook and stores the TwiML <Message> answers as replies", async () => {
      receiver.answer = () => ({
        status: 200,
        contentType: 'text/xml; charset=utf-8',
        body: '<?xml version="1.0" encoding="UTF-8"?><Response><Message>You are unsubscribed &amp; will get no more.</Message><Message><Body>Reply START to undo.</Body></Message></Response>',
      });
      const answer = await post(`${sandbox.httpUrl}/sms/inbound`, { from: '+14155550123', body: 'STOP' });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({
        status: 200,
        messageSid: expect.stringMatching(/^SM[0-9a-f]{32}$/),
        replies: [
          expect.objectContaining({ to: '+14155550123', from: '+15005550006', body: 'You are unsubscribed & will get no more.', direction: 'outbound-reply' }),
          expect.objectContaining({ to: '+14155550123', from: '+15005550006', body: 'Reply START to undo.', direction: 'outbound-reply' }),
        ],
      });

      const [webhook, ...more] = receiver.at('/webhooks/twilio/inbound');
      expect(more).toHaveLength(0);
      expect(webhook!.verified).toBe(true);
      const sid = answer.body.messageSid as string;
      expect(webhook!.params).toEqual({
        MessageSid: sid,
        SmsSid: sid,
        SmsMessageSid: sid,
        AccountSid: accountSid,
        From: '+14155550123',
        To: '+15005550006',
        Body: 'STOP',
        NumMedia: '0',
        NumSegments: '1',
        SmsStatus: 'received',
        ApiVersion: '2010-04-01',
      });
      // The replies are in the SMS outbox, to the client.
      const outbox = await json(`${sandbox.httpUrl}/sms/messages?to=${encodeURIComponent('+14155550123')}`);
      expect((outbox.body.messages as SandboxSms[]).map((m) => m.body)).toEqual(['Reply START to undo.', 'You are unsubscribed & will get no more.']);
    });

    it('stores nothing for an empty <Response/>, and writes to the given business number', async () => {
      receiver.answer = () => ({ status: 200, contentType: 'text/xml', body: '<?xml version="1.0" encoding="UTF-8"?><Response></Response>' });
      const answer = await post(`${sandbox.httpUrl}/sms/inbound`, { from: '+14155550123', body: 'Option 2 please', to: '+15005550077' });
      expect(answer.body).toMatchObject({ status: 200, replies: [] });
      expect(receiver.at('/webhooks/twilio/inbound')[0]!.params.To).toBe('+15005550077');
      expect(sandbox.sms.size).toBe(0);
    });

    it('answers what ingest answered without retrying (Twilio does not), and validates the body', async () => {
      receiver.answer = () => ({ status: 500, body: 'boom' });
      expect((await post(`${sandbox.httpUrl}/sms/inbound`, { from: '+14155550123', body: 'HELP' })).body).toMatchObject({ status: 500, replies: [] });
      expect(receiver.at('/webhooks/twilio/inbound')).toHaveLength(1);

      const bad = await post(`${sandbox.httpUrl}/sms/inbound`, { from: '4155550123', body: '' });
      expect(bad.status).toBe(400);
      expect(bad.contentType).toMatch(/^application\/problem\+json/);
      expect(String(bad.body.detail)).toContain('body/from');
      expect(String(bad.body.detail)).toContain('body/body');
    });
  });

  describe('POST /whatsapp/inbound', () => {
    it("posts Meta's signed messages webhook for a text, with the contact's profile", async () => {
      const answer = await post(`${sandbox.httpUrl}/whatsapp/inbound`, { from: '+14155550123', text: 'Option 2 please', name: 'Ada' });
      expect(answer).toMatchObject({ status: 200, body: { status: 200, messageId: expect.stringMatching(/^wamid\./), contextMessageId: null, attempts: 1 } });
      const [webhook] = receiver.at('/webhooks/whatsapp');
      expect(webhook!.verified).toBe(true);
      expect(webhook!.json).toMatchObject({ object: 'whatsapp_business_account', entry: [{ id: '100000000000000', changes: [{ field: 'messages' }] }] });
      const value = valueOf(webhook!.json);
      expect(value.metadata).toEqual({ display_phone_number: '15550000000', phone_number_id: phoneNumberId });
      expect(value.contacts).toEqual([{ profile: { name: 'Ada' }, wa_id: '14155550123' }]);
      expect(value.messages).toEqual([
        { from: '14155550123', id: answer.body.messageId, timestamp: String(Math.floor(now / 1000)), type: 'text', text: { body: 'Option 2 please' } },
      ]);
    });

    it('sends a button reply with the context of the newest message that had that button, title defaulted', async () => {
      const older = idOf(await buttons('+14155550123', ['v1', 'v2']));
      const newer = idOf(await buttons('+14155550123', ['v2', 'v3']));
      await buttons('+14155550199', ['v2']); // another number's: never the context

      const answer = await post(`${sandbox.httpUrl}/whatsapp/inbound`, { from: '14155550123', buttonReply: { id: 'v2' } });
      expect(answer.body).toMatchObject({ status: 200, contextMessageId: newer });
      const message = valueOf(receiver.at('/webhooks/whatsapp')[0]!.json).messages[0];
      expect(message).toEqual({
        context: { from: '15550000000', id: newer },
        from: '14155550123',
        id: answer.body.messageId,
        timestamp: expect.stringMatching(/^\d+$/),
        type: 'interactive',
        interactive: { type: 'button_reply', button_reply: { id: 'v2', title: 'Venue v2' } },
      });

      // Only the older message had v1.
      expect((await post(`${sandbox.httpUrl}/whatsapp/inbound`, { from: '+14155550123', buttonReply: { id: 'v1' } })).body.contextMessageId).toBe(older);
      // A given context wins.
      expect((await post(`${sandbox.httpUrl}/whatsapp/inbound`, { from: '+14155550123', buttonReply: { id: 'v2' }, contextMessageId: older })).body.contextMessageId).toBe(older);
    });

    it('sends a list reply with the row’s title and description', async () => {
      const list = idOf(
        await sendWhatsApp({
          to: '+14155550123',
          type: 'interactive',
          interactive: {
            type: 'list',
            body: { text: 'Pick a caterer' },
            action: { button: 'Caterers', sections: [{ rows: [{ id: 'c1', title: 'Green Fork', description: 'Vegetarian, 40 €/guest' }, { id: 'c2', title: 'Smoke & Co' }] }] },
          },
        }),
      );
      const answer = await post(`${sandbox.httpUrl}/whatsapp/inbound`, { from: '+14155550123', listReply: { id: 'c1' } });
      expect(answer.body.contextMessageId).toBe(list);
      expect(valueOf(receiver.at('/webhooks/whatsapp')[0]!.json).messages[0]).toMatchObject({
        context: { id: list },
        type: 'interactive',
        interactive: { type: 'list_reply', list_reply: { id: 'c1', title: 'Green Fork', description: 'Vegetarian, 40 €/guest' } },
      });
    });

    it('refuses a reply to a button nobody sent (400), an ambiguous body (400), and posts nothing', async () => {
      const noContext = await post(`${sandbox.httpUrl}/whatsapp/inbound`, { from: '+14155550123', buttonReply: { id: 'nope' } });
      expect(noContext.status).toBe(400);
      expect(noContext.contentType).toMatch(/^application\/problem\+json/);
      const both = await post(`${sandbox.httpUrl}/whatsapp/inbound`, { from: '+14155550123', text: 'hi', buttonReply: { id: 'v1' } });
      expect(both.status).toBe(400);
      expect(receiver.received).toHaveLength(0);
    });

    it("retries a webhook ingest refused, as Meta does", async () => {
      let first = true;
      receiver.answer = () => {
        if (first) {
          first = false;
          return { status: 500, body: '' };
        }
        return { status: 200, body: '{}' };
      };
      const answer = await post(`${sandbox.httpUrl}/whatsapp/inbound`, { from: '+14155550123', text: 'hello' });
      expect(answer.body).toMatchObject({ status: 200, attempts: 2 });
      const [refused, accepted] = receiver.at('/webhooks/whatsapp');
      expect(accepted!.raw).toBe(refused!.raw);
      expect(sandbox.inbound.counts()).toMatchObject({ whatsapp: 1, notAccepted: 0 });
    });
  });

  describe('24-hour customer-service window', () => {
    const text = (to: string) => sendWhatsApp({ to, type: 'text', text: { body: 'Your plan is ready.' } });
    const template = (to: string) => sendWhatsApp({ to, type: 'template', template: { name: 'plan_ready', language: { code: 'en' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ada' }] }] } });

    it('is off by default: a text to a number that never wrote is accepted', async () => {
      expect((await text('+14155550123')).status).toBe(200);
      expect((await json(`${sandbox.httpUrl}/admin/whatsapp/window`)).body).toEqual({ enforce: false, windowMs: DAY_MS, contacts: 0 });
    });

    it('when enforced, refuses text and interactive with 131047 until the client writes, always accepts a template, and closes after 24 h', async () => {
      expect(await put(`${sandbox.httpUrl}/admin/whatsapp/window`, { enforce: true })).toMatchObject({ status: 200, body: { enforce: true } });

      const refused = await text('+14155550123');
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({ code: 131047, type: 'OAuthException', message: '(#131047) Re-engagement message', error_data: { details: expect.stringContaining('24 hours') } });
      expect((await buttons('+14155550123', ['a'])).body.error).toMatchObject({ code: 131047 });
      expect((await template('+14155550123')).status).toBe(200);
      expect(sandbox.whatsapp.list().map((m) => m.type)).toEqual(['template']);

      // The client writes: the window opens for that number only.
      expect((await post(`${sandbox.httpUrl}/whatsapp/inbound`, { from: '+14155550123', text: 'hi' })).status).toBe(200);
      expect((await text('+14155550123')).status).toBe(200);
      expect((await text('+14155550199')).body.error).toMatchObject({ code: 131047 });

      now += DAY_MS - 1;
      expect((await text('+14155550123')).status).toBe(200);
      now += 1;
      expect((await text('+14155550123')).body.error).toMatchObject({ code: 131047 });

      expect((await put(`${sandbox.httpUrl}/admin/whatsapp/window`, { enforce: false })).body).toMatchObject({ enforce: false });
      expect((await text('+14155550123')).status).toBe(200);
      expect((await put(`${sandbox.httpUrl}/admin/whatsapp/window`, { enforce: 'yes' })).status).toBe(400);
    });
  });
});

describe('inbound messages without a receiver', () => {
  it('answer 503 when no webhooks are configured and 502 when nothing listens', async () => {
    const unconfigured = await startSandbox({ logger });
    try {
      const answer = await post(`${unconfigured.httpUrl}/sms/inbound`, { from: '+14155550123', body: 'HELP' });
      expect(answer.status).toBe(503);
      expect(answer.contentType).toMatch(/^application\/problem\+json/);
      expect((await post(`${unconfigured.httpUrl}/whatsapp/inbound`, { from: '+14155550123', text: 'hi' })).status).toBe(503);
    } finally {
      await unconfigured.stop();
    }

    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const unreachable = await startSandbox({
      logger,
      callbacks: { enabled: false, delayMs: 0, retry: { retries: 1, backoffMs: 5 } },
      webhooks: { twilioInboundUrl: `http://127.0.0.1:${port}/in`, whatsappUrl: `http://127.0.0.1:${port}/wa`, whatsappAppSecret: appSecret },
    });
    try {
      const sms = await post(`${unreachable.httpUrl}/sms/inbound`, { from: '+14155550123', body: 'HELP' });
      expect(sms.status).toBe(502);
      expect(String(sms.body.detail)).toContain('ECONNREFUSED');
      expect((await post(`${unreachable.httpUrl}/whatsapp/inbound`, { from: '+14155550123', text: 'hi' })).status).toBe(502);
    } finally {
      await unreachable.stop();
    }
  });
});

describe('parseTwimlMessages', () => {
  it.each([
    ['<Response><Message>Hi</Message></Response>', ['Hi']],
    ['<?xml version="1.0"?><Response><Message to="+1">A &lt;b&gt; &#8364; &#x1F600;</Message><Message/></Response>', ['A <b> € 😀']],
    ['<Response><Message><Body>Text</Body><Media>https://x/y.png</Media></Message></Response>', ['Text']],
    ['<Response><Message><![CDATA[a & b]]></Message></Response>', ['a & b']],
    ['<Response/>', []],
    ['{"ok":true}', []],
    ['', []],
  ])('%s → %j', (xml, texts) => {
    expect(parseTwimlMessages(xml)).toEqual(texts);
  });
});
