import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '@crm/config';
import { createLogger } from '@crm/observability';
import { createTwilioClient, createWhatsAppClient } from '@crm/providers';
import { startSandbox, type Sandbox } from '@crm/sandbox';
import { testEnvironment } from '@crm/testing';
import { thrown } from './support/thrown';

const logger = createLogger({ service: 'providers-test', level: 'silent' });
// The sandbox-mode configuration: default credentials, which the sandbox accepts.
const config = loadConfig(testEnvironment());


/** A port nothing listens on. */
const closedPort = async (): Promise<number> => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
};

describe('Twilio and WhatsApp clients against the sandbox', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ logger, httpPort: 0, smtpPort: 0 });
  });
  afterAll(() => sandbox.stop());
  beforeEach(() => {
    sandbox.faults.reset();
    sandbox.sms.clear();
    sandbox.whatsapp.clear();
  });

  const twilio = (overrides: { authToken?: string; timeoutMs?: number } = {}) =>
    createTwilioClient({ ...config.twilio, baseUrl: `${sandbox.httpUrl}/twilio`, ...overrides });
  const whatsapp = (overrides: { accessToken?: string; timeoutMs?: number } = {}) =>
    createWhatsAppClient({ ...config.whatsapp, baseUrl: `${sandbox.httpUrl}/whatsapp`, ...overrides });
  const setFault = (channel: 'sms' | 'whatsapp', setting: { errorCode?: number | null; errorRate?: number; latencyMs?: number; outage?: boolean }) =>
    sandbox.faults.set(channel, { errorCode: null, errorRate: 0, latencyMs: 0, outage: false, ...setting, ...(setting.errorCode ? { errorRate: setting.errorRate ?? 1 } : {}) });

  describe('createTwilioClient', () => {
    it('sends form-encoded with basic auth and returns the SID and status', async () => {
      const communicationId = randomUUID();
      const receipt = await twilio().send({ to: '+14155550123', body: 'Your budget summary is ready.', statusCallback: `http://127.0.0.1:3000/webhooks/twilio/status?cid=${communicationId}` });
      expect(receipt.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
      expect(receipt.detail).toEqual({ status: 'queued' });
      expect(sandbox.sms.get(receipt.providerMessageId)).toMatchObject({
        communicationId,
        to: '+14155550123',
        from: config.twilio.fromNumber,
        body: 'Your budget summary is ready.',
        accountSid: config.twilio.accountSid,
      });
    });

    it('throws auth_failure (20003) for a wrong auth token', async () => {
      const error = await thrown(twilio({ authToken: 'not-the-right-token' }).send({ to: '+14155550123', body: 'Hi' }));
      expect(error).toMatchObject({ provider: 'twilio', category: 'auth_failure', code: '20003' });
    });

    it('throws permanent for an invalid or opted-out number, with no number in the message', async () => {
      const invalid = await thrown(twilio().send({ to: '4155550123', body: 'Hi' }));
      expect(invalid).toMatchObject({ category: 'permanent', code: '21211' });
      expect(invalid.message).not.toContain('4155550123');
      const optedOut = await thrown(twilio().send({ to: '+15005550004', body: 'Hi' }));
      expect(optedOut).toMatchObject({ category: 'permanent', code: '21610' });
    });

    it('throws rate_limit with Retry-After for 20429, transient for an outage and for a timeout', async () => {
      setFault('sms', { errorCode: 20429 });
      expect(await thrown(twilio().send({ to: '+14155550123', body: 'Hi' }))).toMatchObject({ category: 'rate_limit', code: '20429', retryAfterMs: 1000 });
      setFault('sms', { outage: true });
      expect(await thrown(twilio().send({ to: '+14155550123', body: 'Hi' }))).toMatchObject({ category: 'transient', code: '20503' });
      setFault('sms', { latencyMs: 500 });
      expect(await thrown(twilio({ timeoutMs: 100 }).send({ to: '+14155550123', body: 'Hi' }))).toMatchObject({ category: 'transient', code: 'ETIMEDOUT' });
      // The sandbox stored nothing for the request whose client gave up.
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(sandbox.sms.size).toBe(0);
    });

    it('throws transient when nothing listens', async () => {
      const client = createTwilioClient({ ...config.twilio, baseUrl: `http://127.0.0.1:${await closedPort()}/twilio` });
      expect(await thrown(client.send({ to: '+14155550123', body: 'Hi' }))).toMatchObject({ provider: 'twilio', category: 'transient', code: 'ECONNREFUSED' });
    });
  });

  describe('createWhatsAppClient', () => {
    it('sends a text message with the bearer token and returns the wamid', async () => {
      const communicationId = randomUUID();
      const receipt = await whatsapp().send({ to: '+14155550123', text: 'Your plan is ready.', callbackData: communicationId });
      expect(receipt.providerMessageId).toMatch(/^wamid\./);
      expect(sandbox.whatsapp.get(receipt.providerMessageId)).toMatchObject({
        communicationId,
        to: '+14155550123',
        waId: '14155550123',
        text: { body: 'Your plan is ready.' },
        phoneNumberId: config.whatsapp.phoneNumberId,
      });
    });

    it('throws auth_failure (190) for a wrong token', async () => {
      const error = await thrown(whatsapp({ accessToken: 'not-the-right-token' }).send({ to: '+14155550123', text: 'Hi' }));
      expect(error).toMatchObject({ provider: 'whatsapp', category: 'auth_failure', code: '190' });
    });

    it('maps the fault codes: 131056 rate_limit, 131026 permanent, 190 auth_failure, outage transient', async () => {
      for (const [errorCode, category] of [[131056, 'rate_limit'], [130429, 'rate_limit'], [131026, 'permanent'], [190, 'auth_failure'], [131000, 'transient']] as const) {
        setFault('whatsapp', { errorCode });
        const error = await thrown(whatsapp().send({ to: '+14155550123', text: 'Hi' }));
        expect({ errorCode, category: error.category, code: error.code }).toEqual({ errorCode, category, code: String(errorCode) });
      }
      setFault('whatsapp', { outage: true });
      expect(await thrown(whatsapp().send({ to: '+14155550123', text: 'Hi' }))).toMatchObject({ category: 'transient', code: '2' });
      expect(sandbox.whatsapp.size).toBe(0);
    });

    it('throws permanent for a number the API refuses, transient on a timeout', async () => {
      expect(await thrown(whatsapp().send({ to: 'not a number', text: 'Hi' }))).toMatchObject({ category: 'permanent', code: '100' });
      setFault('whatsapp', { latencyMs: 500 });
      expect(await thrown(whatsapp({ timeoutMs: 100 }).send({ to: '+14155550123', text: 'Hi' }))).toMatchObject({ category: 'transient', code: 'ETIMEDOUT' });
    });
  });
});
