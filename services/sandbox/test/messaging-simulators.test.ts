import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { createLogger } from '@crm/observability';
import {
  buildSandboxHttp,
  Mailbox,
  SentMessages,
  startSandbox,
  type FaultSource,
  type Sandbox,
  type SandboxHttp,
  type SandboxSms,
  type SandboxWhatsAppMessage,
  type SimulatorFault,
} from '@crm/sandbox';

const logger = createLogger({ service: 'sandbox-messaging-test', level: 'silent' });

const accountSid = 'AC00000000000000000000000000000000';
const authToken = 'sandbox-twilio-auth-token';
const phoneNumberId = '100000000000001';
const accessToken = 'sandbox-whatsapp-access-token';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface Answer {
  readonly status: number;
  readonly contentType: string | null;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get('content-type'), headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const twilioSend = (base: string, form: Record<string, string>, auth = basic(accountSid, authToken), sid = accountSid) =>
  call(`${base}/twilio/2010-04-01/Accounts/${sid}/Messages.json`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });

const whatsAppSend = (base: string, body: unknown, token = accessToken, id = phoneNumberId) =>
  call(`${base}/whatsapp/v21.0/${id}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

const textMessage = (to: string, text: string, extra: Record<string, unknown> = {}) => ({
  messaging_product: 'whatsapp',
  recipient_type: 'individual',
  to,
  type: 'text',
  text: { body: text },
  ...extra,
});

describe('Twilio and WhatsApp stand-ins (startSandbox)', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ logger, httpPort: 0, smtpPort: 0 });
  });
  afterAll(() => sandbox.stop());
  beforeEach(() => {
    sandbox.sms.clear();
    sandbox.whatsapp.clear();
  });

  describe('Twilio', () => {
    it('answers 201 with a Message resource and keeps the SMS, with the communication id of its StatusCallback', async () => {
      const communicationId = randomUUID();
      const answer = await twilioSend(sandbox.httpUrl, {
        To: '+14155550123',
        From: '+15005550006',
        Body: 'Your budget summary is ready.',
        StatusCallback: `http://127.0.0.1:3000/webhooks/twilio/status?cid=${communicationId}`,
      });
      expect(answer.status).toBe(201);
      expect(answer.contentType).toMatch(/^application\/json/);
      expect(answer.body).toMatchObject({
        account_sid: accountSid,
        api_version: '2010-04-01',
        to: '+14155550123',
        from: '+15005550006',
        body: 'Your budget summary is ready.',
        status: 'queued',
        direction: 'outbound-api',
        num_segments: '1',
        num_media: '0',
        error_code: null,
        price_unit: 'USD',
      });
      const sid = answer.body.sid as string;
      expect(sid).toMatch(/^SM[0-9a-f]{32}$/);
      expect(answer.body.uri).toBe(`/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`);
      expect(new Date(answer.body.date_created as string).getTime()).not.toBeNaN();

      const outbox = await call(`${sandbox.httpUrl}/sms/messages?communicationId=${communicationId}`);
      expect(outbox.status).toBe(200);
      expect(outbox.body.messages).toEqual([
        expect.objectContaining({ id: sid, communicationId, to: '+14155550123', body: 'Your budget summary is ready.', numSegments: 1, status: 'queued' }),
      ]);
      expect(sandbox.sms.get(sid)?.communicationId).toBe(communicationId);

      const fetched = await call(`${sandbox.httpUrl}/twilio/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`, { headers: { authorization: basic(accountSid, authToken) } });
      expect(fetched).toMatchObject({ status: 200, body: { sid, status: 'queued' } });
    });

    it('counts segments as Twilio does and keeps a message without a StatusCallback under communicationId null', async () => {
      const answer = await twilioSend(sandbox.httpUrl, { To: '+14155550123', From: '+15005550006', Body: 'ç'.repeat(71) });
      expect(answer.body.num_segments).toBe('2');
      expect(sandbox.sms.list()).toEqual([expect.objectContaining({ communicationId: null, statusCallback: null })]);
    });

    it('refuses bad credentials with 401 and error 20003, storing nothing', async () => {
      for (const auth of [basic(accountSid, 'wrong-token-wrong'), basic('AC11111111111111111111111111111111', authToken), 'Bearer x', '']) {
        const answer = await twilioSend(sandbox.httpUrl, { To: '+14155550123', From: '+15005550006', Body: 'Hi' }, auth);
        expect(answer.status).toBe(401);
        expect(answer.body).toEqual({ code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
      }
      // Credentials of one account, path of another.
      const other = await twilioSend(sandbox.httpUrl, { To: '+14155550123', From: '+15005550006', Body: 'Hi' }, basic(accountSid, authToken), 'AC11111111111111111111111111111111');
      expect(other.status).toBe(401);
      expect(sandbox.sms.size).toBe(0);
    });

    it('validates the request with Twilio error codes: 21211 for a To that is not E.164, 21604, 21602, 21617, 21609', async () => {
      const cases: [Record<string, string>, number][] = [
        [{ To: '4155550123', From: '+15005550006', Body: 'Hi' }, 21211],
        [{ To: '+1 415 555', From: '+15005550006', Body: 'Hi' }, 21211],
        [{ From: '+15005550006', Body: 'Hi' }, 21604],
        [{ To: '+14155550123', From: '+15005550006' }, 21602],
        [{ To: '+14155550123', From: '+15005550006', Body: 'x'.repeat(1601) }, 21617],
        [{ To: '+14155550123', From: 'nobody', Body: 'Hi' }, 21212],
        [{ To: '+14155550123', From: '+15005550006', Body: 'Hi', StatusCallback: 'not a url' }, 21609],
      ];
      for (const [form, code] of cases) {
        const answer = await twilioSend(sandbox.httpUrl, form);
        expect({ code, status: answer.status, body: answer.body }).toEqual({
          code,
          status: 400,
          body: { code, message: expect.any(String), more_info: `https://www.twilio.com/docs/errors/${code}`, status: 400 },
        });
      }
      expect(sandbox.sms.size).toBe(0);
    });

    it("fails Twilio's magic test numbers as Twilio does (21610 opted out, 21614, 21408, 21612)", async () => {
      for (const [to, code] of [['+15005550004', 21610], ['+15005550009', 21614], ['+15005550003', 21408], ['+15005550002', 21612]] as const) {
        const answer = await twilioSend(sandbox.httpUrl, { To: to, From: '+15005550006', Body: 'Hi' });
        expect({ to, status: answer.status, code: answer.body.code }).toEqual({ to, status: 400, code });
      }
    });
  });

  describe('WhatsApp Cloud API', () => {
    it('answers 200 with contacts and a wamid and keeps the message under its biz_opaque_callback_data', async () => {
      const communicationId = randomUUID();
      const answer = await whatsAppSend(sandbox.httpUrl, textMessage('+14155550123', 'Your plan is ready.', { biz_opaque_callback_data: communicationId }));
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({
        messaging_product: 'whatsapp',
        contacts: [{ input: '+14155550123', wa_id: '14155550123' }],
        messages: [{ id: expect.stringMatching(/^wamid\.[A-Za-z0-9+/=]+$/) }],
      });
      const id = (answer.body.messages as { id: string }[])[0]!.id;
      const outbox = await call(`${sandbox.httpUrl}/whatsapp/messages?communicationId=${communicationId}`);
      expect(outbox.body.messages).toEqual([
        expect.objectContaining({ id, communicationId, to: '+14155550123', waId: '14155550123', type: 'text', text: { body: 'Your plan is ready.', previewUrl: false } }),
      ]);
    });

    it('refuses a bad or missing bearer token with 401 and Graph error 190 (OAuthException)', async () => {
      for (const token of ['not-the-token-at-all', '']) {
        const answer = await whatsAppSend(sandbox.httpUrl, textMessage('+14155550123', 'Hi'), token);
        expect(answer.status).toBe(401);
        expect(answer.body).toEqual({ error: { message: expect.any(String), type: 'OAuthException', code: 190, fbtrace_id: expect.any(String) } });
      }
      expect(sandbox.whatsapp.size).toBe(0);
    });

    it('refuses an unknown phone number id with Graph error 100 and bad parameters with 100 / 131008', async () => {
      const unknownId = await whatsAppSend(sandbox.httpUrl, textMessage('+14155550123', 'Hi'), accessToken, '999999999999');
      expect(unknownId.status).toBe(400);
      expect(unknownId.body.error).toMatchObject({ code: 100, error_subcode: 33, type: 'GraphMethodException' });

      const cases: [unknown, number][] = [
        [{ ...textMessage('+14155550123', 'Hi'), messaging_product: 'sms' }, 100],
        [{ ...textMessage('+14155550123', 'Hi'), to: 'ada' }, 100],
        [{ messaging_product: 'whatsapp', to: '+14155550123', type: 'text' }, 131008],
        [textMessage('+14155550123', ''), 131008],
        [textMessage('+14155550123', 'x'.repeat(4097)), 100],
      ];
      for (const [body, code] of cases) {
        const answer = await whatsAppSend(sandbox.httpUrl, body);
        expect({ code, status: answer.status, error: answer.body.error }).toEqual({
          code,
          status: 400,
          error: expect.objectContaining({ code, type: 'OAuthException', message: expect.stringContaining(`(#${code})`), error_data: { messaging_product: 'whatsapp', details: expect.any(String) } }),
        });
      }
      expect(sandbox.whatsapp.size).toBe(0);
    });
  });

  describe('fault knobs over HTTP (PUT /admin/faults/:channel)', () => {
    afterEach(() => fetch(`${sandbox.httpUrl}/admin/faults`, { method: 'DELETE' }));
    const put = (channel: string, body: unknown) =>
      call(`${sandbox.httpUrl}/admin/faults/${channel}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it('makes the Twilio stand-in answer the sms errorCode and the WhatsApp stand-in the whatsapp one', async () => {
      expect((await put('sms', { errorCode: 20429 })).status).toBe(200);
      expect((await put('whatsapp', { errorCode: 131026 })).status).toBe(200);
      const sms = await twilioSend(sandbox.httpUrl, { To: '+14155550123', From: '+15005550006', Body: 'Hi' });
      expect(sms).toMatchObject({ status: 429, body: { code: 20429, status: 429 } });
      const wa = await whatsAppSend(sandbox.httpUrl, textMessage('+14155550123', 'Hi'));
      expect(wa).toMatchObject({ status: 400, body: { error: { code: 131026 } } });

      await fetch(`${sandbox.httpUrl}/admin/faults/sms`, { method: 'DELETE' });
      expect((await twilioSend(sandbox.httpUrl, { To: '+14155550123', From: '+15005550006', Body: 'Hi' })).status).toBe(201);
    });

    it('answers 503 on an outage', async () => {
      await put('sms', { outage: true });
      expect((await twilioSend(sandbox.httpUrl, { To: '+14155550123', From: '+15005550006', Body: 'Hi' })).status).toBe(503);
      expect(sandbox.sms.size).toBe(0);
    });
  });

  describe('outboxes', () => {
    it('filter by communicationId and to, refuse a bad filter with problem+json naming it, and clear on DELETE', async () => {
      await twilioSend(sandbox.httpUrl, { To: '+14155550123', From: '+15005550006', Body: 'One' });
      await twilioSend(sandbox.httpUrl, { To: '+14155550199', From: '+15005550006', Body: 'Two' });
      const byTo = await call(`${sandbox.httpUrl}/sms/messages?to=${encodeURIComponent('+14155550199')}`);
      expect((byTo.body.messages as SandboxSms[]).map((m) => m.body)).toEqual(['Two']);
      const newestFirst = await call(`${sandbox.httpUrl}/sms/messages?limit=1`);
      expect((newestFirst.body.messages as SandboxSms[]).map((m) => m.body)).toEqual(['Two']);

      const bad = await call(`${sandbox.httpUrl}/sms/messages?communicationId=nope`);
      expect(bad.status).toBe(400);
      expect(bad.contentType).toMatch(/^application\/problem\+json/);
      expect(String(bad.body.detail)).toContain('communicationId');
      const unknown = await call(`${sandbox.httpUrl}/whatsapp/messages?phone=1`);
      expect(unknown.status).toBe(400);

      expect((await fetch(`${sandbox.httpUrl}/sms/messages`, { method: 'DELETE' })).status).toBe(204);
      expect((await call(`${sandbox.httpUrl}/sms/messages`)).body.messages).toEqual([]);
      expect((await fetch(`${sandbox.httpUrl}/whatsapp/messages`, { method: 'DELETE' })).status).toBe(204);
    });
  });
});

describe('Twilio and WhatsApp stand-ins under fault knobs', () => {
  const faults: Record<'sms' | 'whatsapp', SimulatorFault | undefined> = { sms: undefined, whatsapp: undefined };
  const source: FaultSource = { get: (channel) => faults[channel] };
  const sms = new SentMessages<SandboxSms>();
  const whatsapp = new SentMessages<SandboxWhatsAppMessage>();
  let app: SandboxHttp;
  let base: string;
  const fault = (setting: Partial<SimulatorFault>): SimulatorFault => ({ outage: false, errorCode: null, errorRate: 0, latencyMs: 0, ...setting });

  beforeAll(async () => {
    app = buildSandboxHttp({
      mailbox: new Mailbox(),
      logger,
      twilio: { store: sms, accountSid, authToken, faults: source },
      whatsapp: { store: whatsapp, phoneNumberId, accessToken, faults: source },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(() => app.close());
  beforeEach(() => {
    faults.sms = undefined;
    faults.whatsapp = undefined;
    sms.clear();
    whatsapp.clear();
  });

  const smsForm = { To: '+14155550123', From: '+15005550006', Body: 'Hi' };

  it('answers a Twilio errorCode with its HTTP status and body: 20429 → 429 with Retry-After, 21211 → 400, 20003 → 401', async () => {
    for (const [errorCode, status] of [[20429, 429], [21211, 400], [20003, 401], ['21610', 400], [20500, 500]] as const) {
      faults.sms = fault({ errorCode, errorRate: 1 });
      const answer = await twilioSend(base, smsForm);
      expect({ errorCode, status: answer.status, body: answer.body }).toEqual({
        errorCode,
        status,
        body: { code: Number(errorCode), message: expect.any(String), more_info: `https://www.twilio.com/docs/errors/${errorCode}`, status },
      });
      if (status === 429) expect(answer.headers.get('retry-after')).toBe('1');
    }
    expect(sms.size).toBe(0);
  });

  it('answers a WhatsApp errorCode as Graph does: 131056 → 400, 190 → 401, 131026 → 400, 130429 → 429', async () => {
    for (const [errorCode, status] of [[131056, 400], [190, 401], [131026, 400], [130429, 429]] as const) {
      faults.whatsapp = fault({ errorCode, errorRate: 1 });
      const answer = await whatsAppSend(base, textMessage('+14155550123', 'Hi'));
      expect({ errorCode, status: answer.status, code: (answer.body.error as { code: number }).code }).toEqual({ errorCode, status, code: errorCode });
    }
    expect(whatsapp.size).toBe(0);
  });

  it('answers an outage with 503 (Twilio 20503, Graph code 2) and stores nothing; auth is checked first', async () => {
    faults.sms = fault({ outage: true });
    faults.whatsapp = fault({ outage: true });
    const twilio = await twilioSend(base, smsForm);
    expect(twilio).toMatchObject({ status: 503, body: { code: 20503, status: 503 } });
    const graph = await whatsAppSend(base, textMessage('+14155550123', 'Hi'));
    expect(graph).toMatchObject({ status: 503, body: { error: { code: 2, is_transient: true } } });
    expect((await twilioSend(base, smsForm, basic(accountSid, 'bad-token-bad-token'))).status).toBe(401);
    expect(sms.size + whatsapp.size).toBe(0);
  });

  it('applies errorCode at errorRate: about that share of requests fail, the rest are stored', async () => {
    faults.sms = fault({ errorCode: 20429, errorRate: 0.5 });
    const statuses: number[] = [];
    for (let index = 0; index < 60; index++) statuses.push((await twilioSend(base, smsForm)).status);
    const failed = statuses.filter((status) => status === 429).length;
    expect(failed).toBeGreaterThan(10);
    expect(failed).toBeLessThan(50);
    expect(sms.size).toBe(60 - failed);
  });

  it('delays the answer by latencyMs and stores nothing for a client that gave up meanwhile', async () => {
    faults.sms = fault({ latencyMs: 300 });
    const started = performance.now();
    expect((await twilioSend(base, smsForm)).status).toBe(201);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(sms.size).toBe(1);

    // A client whose timeout fires first hangs up, as the engine's axios clients do.
    faults.whatsapp = fault({ latencyMs: 400 });
    const outcome = await new Promise<string>((resolve) => {
      const request = http.request(`${base}/whatsapp/v21.0/${phoneNumberId}/messages`, {
        method: 'POST',
        agent: false,
        timeout: 100,
        headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      });
      request.once('timeout', () => request.destroy(new Error('client timeout')));
      request.once('error', (error) => resolve(error.message));
      request.once('response', (response) => resolve(`answered ${response.statusCode}`));
      request.end(JSON.stringify(textMessage('+14155550123', 'Hi')));
    });
    expect(outcome).toBe('client timeout');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(whatsapp.size).toBe(0);
  });
});
