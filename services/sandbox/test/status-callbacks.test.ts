import { randomUUID } from 'node:crypto';
import { createLogger } from '@crm/observability';
import { parseTwilioStatus, parseWhatsAppStatuses } from '@crm/providers';
import { shouldShuffle, shuffled, startSandbox, statusSequence, type Sandbox } from '@crm/sandbox';
import { WebhookReceiver, whatsAppStatusOf } from './support/webhook-receiver';

const logger = createLogger({ service: 'sandbox-callbacks-test', level: 'silent' });

const accountSid = 'AC00000000000000000000000000000000';
const authToken = 'sandbox-twilio-auth-token';
const phoneNumberId = '100000000000001';
const accessToken = 'sandbox-whatsapp-access-token';
const appSecret = 'sandbox-whatsapp-app-secret';
const basic = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;

async function json(url: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const put = (url: string, body: unknown) => json(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('status callbacks', () => {
  let receiver: WebhookReceiver;
  let sandbox: Sandbox;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start({ twilioAuthToken: authToken, appSecret });
    sandbox = await startSandbox({
      logger,
      callbacks: { enabled: true, delayMs: 0, retry: { backoffMs: 10 } },
      webhooks: { twilioInboundUrl: `${receiver.base}/webhooks/twilio/inbound`, whatsappUrl: `${receiver.base}/webhooks/whatsapp`, whatsappAppSecret: appSecret },
    });
  });
  afterAll(async () => {
    await sandbox.stop();
    await receiver.close();
  });
  beforeEach(async () => {
    await sandbox.callbacks.settled();
    receiver.clear();
    sandbox.outcomes.reset();
    sandbox.callbacks.reset();
    sandbox.callbacks.configure({ enabled: true, delayMs: 0 });
  });

  /** Sends an SMS through the Twilio stand-in; its StatusCallback points at the receiver. */
  const sendSms = async (to = '+14155550123', communicationId: string = randomUUID()) => {
    const statusCallback = `${receiver.base}/webhooks/twilio/status?cid=${communicationId}`;
    const answer = await json(`${sandbox.httpUrl}/twilio/2010-04-01/Accounts/${accountSid}/Messages.json`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ To: to, From: '+15005550006', Body: 'Your budget summary is ready.', StatusCallback: statusCallback }).toString(),
    });
    expect(answer.status).toBe(201);
    return { sid: answer.body.sid as string, statusCallback };
  };

  const sendWhatsApp = async (to = '+14155550123', callbackData: string = randomUUID()) => {
    const answer = await json(`${sandbox.httpUrl}/whatsapp/v21.0/${phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', to, type: 'text', text: { body: 'Your plan is ready.' }, biz_opaque_callback_data: callbackData }),
    });
    expect(answer.status).toBe(200);
    return (answer.body.messages as { id: string }[])[0]!.id;
  };

  describe('Twilio', () => {
    it('posts queued → sent → delivered to the StatusCallback, form-encoded and signed over that URL', async () => {
      const { sid, statusCallback } = await sendSms();
      const report = await sandbox.callbacks.settled(sid);
      expect(report?.deliveries.map((d) => [d.status, d.ok, d.attempts])).toEqual([
        ['queued', true, 1],
        ['sent', true, 1],
        ['delivered', true, 1],
      ]);
      const posted = receiver.at('/webhooks/twilio/status');
      expect(posted.map((p) => p.params.MessageStatus)).toEqual(['queued', 'sent', 'delivered']);
      for (const webhook of posted) {
        expect(webhook.verified).toBe(true);
        expect(webhook.url).toBe(statusCallback);
        expect(webhook.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
        expect(webhook.params).toEqual({
          MessageSid: sid,
          SmsSid: sid,
          AccountSid: accountSid,
          From: '+15005550006',
          To: '+14155550123',
          MessageStatus: webhook.params.MessageStatus,
          SmsStatus: webhook.params.MessageStatus,
          ApiVersion: '2010-04-01',
        });
      }
      // What ingest reads from them.
      expect(posted.map((p) => parseTwilioStatus(p.params, new Date())?.status)).toEqual(['sent', 'sent', 'delivered']);
    });

    it('ends undelivered or failed with the ErrorCode set over the admin route, per recipient', async () => {
      expect((await put(`${sandbox.httpUrl}/admin/callbacks/outcomes/sms`, { final: 'undelivered', errorCode: 30005, to: '+14155550111' })).status).toBe(200);
      expect((await put(`${sandbox.httpUrl}/admin/callbacks/outcomes/sms`, { final: 'failed', errorCode: '30007', to: '+1 415 555 0122' })).status).toBe(200);

      const undelivered = await sendSms('+14155550111');
      const failed = await sendSms('+14155550122');
      const normal = await sendSms('+14155550133');
      await sandbox.callbacks.settled();

      const of = (sid: string) => receiver.at('/webhooks/twilio/status').filter((p) => p.params.MessageSid === sid).map((p) => [p.params.MessageStatus, p.params.ErrorCode]);
      expect(of(undelivered.sid)).toEqual([['queued', undefined], ['sent', undefined], ['undelivered', '30005']]);
      expect(of(failed.sid)).toEqual([['queued', undefined], ['failed', '30007']]);
      expect(of(normal.sid)).toEqual([['queued', undefined], ['sent', undefined], ['delivered', undefined]]);
      const last = receiver.at('/webhooks/twilio/status').find((p) => p.params.MessageSid === undelivered.sid && p.params.MessageStatus === 'undelivered');
      expect(parseTwilioStatus(last!.params, new Date())).toMatchObject({ status: 'failed', errorCode: '30005' });
    });

    it('refuses an outcome that does not fit the channel, naming the field', async () => {
      const read = await put(`${sandbox.httpUrl}/admin/callbacks/outcomes/sms`, { final: 'read' });
      expect(read.status).toBe(400);
      expect(String(read.body.detail)).toContain('body/final');
      const codeWithoutFailure = await put(`${sandbox.httpUrl}/admin/callbacks/outcomes/whatsapp`, { final: 'read', errorCode: 131026 });
      expect(codeWithoutFailure.status).toBe(400);
      expect(String(codeWithoutFailure.body.detail)).toContain('body/errorCode');
      expect((await put(`${sandbox.httpUrl}/admin/callbacks/outcomes/email`, {})).status).toBe(404);
    });

    it('sends none for a message without a StatusCallback', async () => {
      const answer = await json(`${sandbox.httpUrl}/twilio/2010-04-01/Accounts/${accountSid}/Messages.json`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ To: '+14155550123', From: '+15005550006', Body: 'Hi' }).toString(),
      });
      expect(await sandbox.callbacks.settled(answer.body.sid as string)).toBeNull();
      expect(receiver.received).toHaveLength(0);
    });
  });

  describe('WhatsApp', () => {
    it('posts sent → delivered → read to the webhook URL as Meta does, signed over the exact body', async () => {
      const callbackData = randomUUID();
      const wamid = await sendWhatsApp('+14155550123', callbackData);
      const report = await sandbox.callbacks.settled(wamid);
      expect(report?.deliveries.map((d) => d.status)).toEqual(['sent', 'delivered', 'read']);

      const posted = receiver.at('/webhooks/whatsapp');
      expect(posted).toHaveLength(3);
      for (const webhook of posted) {
        expect(webhook.verified).toBe(true);
        expect(webhook.headers['content-type']).toBe('application/json');
        expect(webhook.json).toEqual({
          object: 'whatsapp_business_account',
          entry: [
            {
              id: '100000000000000',
              changes: [
                {
                  field: 'messages',
                  value: {
                    messaging_product: 'whatsapp',
                    metadata: { display_phone_number: '15550000000', phone_number_id: phoneNumberId },
                    statuses: [{ id: wamid, status: expect.any(String), timestamp: expect.stringMatching(/^\d{10}$/), recipient_id: '14155550123', biz_opaque_callback_data: callbackData }],
                  },
                },
              ],
            },
          ],
        });
      }
      expect(posted.map((p) => whatsAppStatusOf(p).status)).toEqual(['sent', 'delivered', 'read']);
      expect(posted.flatMap((p) => parseWhatsAppStatuses(p.json).map((s) => s.providerEventId))).toEqual([`${wamid}:sent`, `${wamid}:delivered`, `${wamid}:read`]);
    });

    it("fails with Meta's error object when the outcome says so", async () => {
      sandbox.outcomes.set('whatsapp', { final: 'failed', errorCode: 131049, outOfOrder: false });
      const wamid = await sendWhatsApp();
      await sandbox.callbacks.settled(wamid);
      const [only, ...rest] = receiver.at('/webhooks/whatsapp');
      expect(rest).toHaveLength(0);
      expect(whatsAppStatusOf(only!)).toMatchObject({
        id: wamid,
        status: 'failed',
        errors: [{ code: 131049, title: expect.any(String), message: expect.any(String), error_data: { details: expect.stringContaining('healthy ecosystem') } }],
      });
      expect(parseWhatsAppStatuses(only!.json)).toEqual([expect.objectContaining({ status: 'failed', errorCode: '131049' })]);
    });
  });

  describe('out of order', () => {
    it('shuffles every message’s callbacks with outOfOrder: true, keeping the same statuses', async () => {
      await put(`${sandbox.httpUrl}/admin/callbacks/outcomes/sms`, { outOfOrder: true });
      await put(`${sandbox.httpUrl}/admin/callbacks/outcomes/whatsapp`, { outOfOrder: true });
      const { sid } = await sendSms();
      const wamid = await sendWhatsApp();
      await sandbox.callbacks.settled();

      const sms = receiver.at('/webhooks/twilio/status').map((p) => p.params.MessageStatus);
      expect(sms).not.toEqual(['queued', 'sent', 'delivered']);
      expect([...sms].sort()).toEqual(['delivered', 'queued', 'sent']);
      const whatsapp = receiver.at('/webhooks/whatsapp').map((p) => whatsAppStatusOf(p).status);
      expect(whatsapp).not.toEqual(['sent', 'delivered', 'read']);
      expect([...whatsapp].sort()).toEqual(['delivered', 'read', 'sent']);
      expect((await sandbox.callbacks.settled(sid))?.deliveries.map((d) => d.status)).toEqual(sms);
      expect((await sandbox.callbacks.settled(wamid))?.deliveries.map((d) => d.status)).toEqual(whatsapp);
    });

    it('never leaves a shuffle in its own order; a probability draws once per message', () => {
      // 0.999 makes Fisher–Yates keep every item in place: the fallback swap must still reorder.
      const identity = () => 0.999;
      for (let run = 0; run < 20; run++) {
        const seq = statusSequence('whatsapp', 'read');
        expect(shuffled(seq, run % 2 ? Math.random : identity)).not.toEqual(seq);
      }
      expect(shuffled(['failed'], Math.random)).toEqual(['failed']);
      expect(statusSequence('sms', 'failed')).toEqual(['queued', 'failed']);
      const never = () => {
        throw new Error('no draw expected');
      };
      expect(shouldShuffle(false, never)).toBe(false);
      expect(shouldShuffle(0, never)).toBe(false);
      expect(shouldShuffle(1, never)).toBe(true);
      expect(shouldShuffle(0.3, () => 0.2)).toBe(true);
      expect(shouldShuffle(0.3, () => 0.4)).toBe(false);
    });
  });

  describe('retries', () => {
    it('retries a callback the receiver answered 500, so that each status is accepted once', async () => {
      let refused = 0;
      receiver.answer = ({ params }) => {
        if (params.MessageStatus === 'sent' && refused === 0) {
          refused += 1;
          return { status: 500, body: 'boom' };
        }
        return { status: 200, body: '{}' };
      };
      const { sid } = await sendSms();
      const report = await sandbox.callbacks.settled(sid);
      expect(report?.deliveries.map((d) => [d.status, d.ok, d.attempts])).toEqual([
        ['queued', true, 1],
        ['sent', true, 2],
        ['delivered', true, 1],
      ]);
      const posted = receiver.at('/webhooks/twilio/status');
      expect(posted.map((p) => [p.params.MessageStatus, p.answeredStatus])).toEqual([
        ['queued', 200],
        ['sent', 500],
        ['sent', 200],
        ['delivered', 200],
      ]);
      // The retry is the same signed request.
      expect(posted[2]!.raw).toBe(posted[1]!.raw);
      expect(posted[2]!.headers['x-twilio-signature']).toBe(posted[1]!.headers['x-twilio-signature']);
      expect(sandbox.callbacks.counts()).toEqual({ messages: 1, pending: 0, delivered: 3, failed: 0, attempts: 4, retries: 1 });
    });

    it('gives up after the retries and counts it; GET /admin/callbacks shows the counters', async () => {
      receiver.answer = () => ({ status: 503, body: '' });
      const wamid = await sendWhatsApp();
      const report = await sandbox.callbacks.settled(wamid);
      expect(report?.deliveries.map((d) => [d.status, d.ok, d.attempts, d.httpStatus])).toEqual([
        ['sent', false, 4, 503],
        ['delivered', false, 4, 503],
        ['read', false, 4, 503],
      ]);
      const admin = await json(`${sandbox.httpUrl}/admin/callbacks`);
      expect(admin.body).toMatchObject({
        enabled: true,
        delayMs: 0,
        counts: { messages: 1, pending: 0, delivered: 0, failed: 3, attempts: 12, retries: 9 },
        outcomes: { sms: { default: { final: 'delivered' } }, whatsapp: { default: { final: 'read' } } },
      });
    });
  });

  describe('switching', () => {
    it('sends nothing while disabled (PUT /admin/callbacks) and validates the settings', async () => {
      expect(await put(`${sandbox.httpUrl}/admin/callbacks`, { enabled: false })).toMatchObject({ status: 200, body: { enabled: false, delayMs: 0 } });
      const { sid } = await sendSms();
      expect(await sandbox.callbacks.settled(sid)).toBeNull();
      expect(receiver.received).toHaveLength(0);
      expect((await put(`${sandbox.httpUrl}/admin/callbacks`, { delayMs: -1 })).status).toBe(400);
      expect((await put(`${sandbox.httpUrl}/admin/callbacks`, { enabled: 'yes' })).status).toBe(400);
    });
  });
});

describe('status callbacks off by default', () => {
  it('sends none unless enabled', async () => {
    const receiver = await WebhookReceiver.start({ twilioAuthToken: authToken, appSecret });
    const sandbox = await startSandbox({ logger, webhooks: { twilioInboundUrl: `${receiver.base}/in`, whatsappUrl: `${receiver.base}/wa`, whatsappAppSecret: appSecret } });
    try {
      const answer = await json(`${sandbox.httpUrl}/whatsapp/v21.0/${phoneNumberId}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ messaging_product: 'whatsapp', to: '+14155550123', type: 'text', text: { body: 'Hi' } }),
      });
      expect(sandbox.callbacks.enabled).toBe(false);
      expect(await sandbox.callbacks.settled((answer.body.messages as { id: string }[])[0]!.id)).toBeNull();
      expect(receiver.received).toHaveLength(0);
    } finally {
      await sandbox.stop();
      await receiver.close();
    }
  });
});
