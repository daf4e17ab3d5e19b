import { randomUUID } from 'node:crypto';
import { loadConfig } from '@crm/config';
import { createLogger } from '@crm/observability';
import {
  createTwilioClient,
  createWhatsAppClient,
  isOutsideCustomerServiceWindow,
  isTwilioOptOut,
  ProviderError,
  whatsAppMessageRequest,
  type OutgoingWhatsApp,
} from '@crm/providers';
import { startSandbox, type Sandbox } from '@crm/sandbox';
import { testEnvironment } from '@crm/testing';
import { thrown } from './support/thrown';

const logger = createLogger({ service: 'providers-kinds-test', level: 'silent' });
const config = loadConfig(testEnvironment());


const to = '+14155550123';
const buttons: OutgoingWhatsApp = {
  kind: 'buttons',
  to,
  body: 'Which venue do you prefer?',
  footer: 'Reply by Friday',
  buttons: [
    { id: 'venue-1', title: 'Villa Rosa' },
    { id: 'venue-2', title: 'Harbour Hall' },
  ],
};
const list: OutgoingWhatsApp = {
  kind: 'list',
  to,
  body: 'Pick a caterer',
  buttonLabel: 'Caterers',
  sectionTitle: 'Nearby',
  rows: [
    { id: 'c1', title: 'Green Fork', description: 'Vegetarian' },
    { id: 'c2', title: 'Smoke & Co' },
  ],
};
const template: OutgoingWhatsApp = { kind: 'template', to, name: 'vendors_ready', language: 'en_US', bodyParameters: ['Ada', '3 venues'] };

describe('whatsAppMessageRequest', () => {
  it('builds the Cloud API body of each kind exactly', () => {
    expect(whatsAppMessageRequest({ to, text: 'Hi', callbackData: 'c-1' })).toEqual({
      messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'text', text: { body: 'Hi' }, biz_opaque_callback_data: 'c-1',
    });
    expect(whatsAppMessageRequest({ kind: 'text', to, text: 'Hi' })).toEqual({ messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'text', text: { body: 'Hi' } });
    expect(whatsAppMessageRequest(buttons)).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to,
      type: 'interactive',
      interactive: {
        type: 'button',
        body: { text: 'Which venue do you prefer?' },
        footer: { text: 'Reply by Friday' },
        action: { buttons: [{ type: 'reply', reply: { id: 'venue-1', title: 'Villa Rosa' } }, { type: 'reply', reply: { id: 'venue-2', title: 'Harbour Hall' } }] },
      },
    });
    expect(whatsAppMessageRequest(list)).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to,
      type: 'interactive',
      interactive: {
        type: 'list',
        body: { text: 'Pick a caterer' },
        action: { button: 'Caterers', sections: [{ title: 'Nearby', rows: [{ id: 'c1', title: 'Green Fork', description: 'Vegetarian' }, { id: 'c2', title: 'Smoke & Co' }] }] },
      },
    });
    expect(whatsAppMessageRequest({ ...template, callbackData: 'c-2' })).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to,
      type: 'template',
      template: { name: 'vendors_ready', language: { code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ada' }, { type: 'text', text: '3 venues' }] }] },
      biz_opaque_callback_data: 'c-2',
    });
    expect(whatsAppMessageRequest({ kind: 'template', to, name: 'hello_world', language: 'en', bodyParameters: [] })).toEqual({
      messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'template', template: { name: 'hello_world', language: { code: 'en' } },
    });
  });
});

describe('WhatsApp message kinds against the sandbox', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ logger, httpPort: 0, smtpPort: 0 });
  });
  afterAll(() => sandbox.stop());
  beforeEach(() => {
    sandbox.faults.reset();
    sandbox.whatsapp.clear();
    sandbox.whatsappWindow.clear();
    sandbox.whatsappWindow.setEnforce(false);
  });

  const whatsapp = () => createWhatsAppClient({ ...config.whatsapp, baseUrl: `${sandbox.httpUrl}/whatsapp` });

  it('sends reply buttons, a list and a template, each stored with its content and communication id', async () => {
    const communicationId = randomUUID();
    const sentButtons = await whatsapp().send({ ...buttons, callbackData: communicationId });
    expect(sandbox.whatsapp.get(sentButtons.providerMessageId)).toMatchObject({
      communicationId,
      type: 'interactive',
      interactive: { type: 'button', body: 'Which venue do you prefer?', footer: 'Reply by Friday', buttons: [{ id: 'venue-1', title: 'Villa Rosa' }, { id: 'venue-2', title: 'Harbour Hall' }] },
    });
    const sentList = await whatsapp().send(list);
    expect(sandbox.whatsapp.get(sentList.providerMessageId)).toMatchObject({
      type: 'interactive',
      interactive: { type: 'list', button: 'Caterers', sections: [{ title: 'Nearby', rows: [{ id: 'c1', description: 'Vegetarian' }, { id: 'c2', description: null }] }] },
    });
    const sentTemplate = await whatsapp().send(template);
    expect(sandbox.whatsapp.get(sentTemplate.providerMessageId)).toMatchObject({ type: 'template', template: { name: 'vendors_ready', language: 'en_US', bodyParameters: ['Ada', '3 venues'] } });
    const sentText = await whatsapp().send({ kind: 'text', to, text: 'Plain' });
    expect(sandbox.whatsapp.get(sentText.providerMessageId)).toMatchObject({ type: 'text', text: { body: 'Plain' } });
  });

  it('throws permanent 131009 for a button beyond Meta’s limits', async () => {
    const error = await thrown(whatsapp().send({ ...buttons, buttons: [{ id: 'a', title: 'A title longer than twenty' }] }));
    expect(error).toMatchObject({ provider: 'whatsapp', category: 'permanent', code: '131009' });
    expect(isOutsideCustomerServiceWindow(error)).toBe(false);
  });

  it('throws permanent 131047 outside the 24-hour window (isOutsideCustomerServiceWindow), and a template still goes', async () => {
    sandbox.whatsappWindow.setEnforce(true);
    for (const message of [{ to, text: 'Hi' }, buttons, list]) {
      const error = await thrown(whatsapp().send(message));
      expect(error).toMatchObject({ provider: 'whatsapp', category: 'permanent', code: '131047' });
      expect(isOutsideCustomerServiceWindow(error)).toBe(true);
    }
    await expect(whatsapp().send(template)).resolves.toMatchObject({ providerMessageId: expect.stringMatching(/^wamid\./) });
    sandbox.whatsappWindow.recordInbound('14155550123');
    await expect(whatsapp().send({ to, text: 'Hi' })).resolves.toMatchObject({ providerMessageId: expect.stringMatching(/^wamid\./) });
  });

  it('maps the fault codes for every kind: rate_limit, permanent, auth_failure, transient', async () => {
    const cases = [[131056, 'rate_limit'], [131026, 'permanent'], [131047, 'permanent'], [190, 'auth_failure'], [131000, 'transient']] as const;
    for (const message of [buttons, list, template]) {
      for (const [errorCode, category] of cases) {
        sandbox.faults.set('whatsapp', { errorCode, errorRate: 1, latencyMs: 0, outage: false });
        const error = await thrown(whatsapp().send(message));
        expect({ kind: message.kind, errorCode, category: error.category, code: error.code }).toEqual({ kind: message.kind, errorCode, category, code: String(errorCode) });
      }
    }
    expect(sandbox.whatsapp.size).toBe(0);
  });
});

describe('isTwilioOptOut and isOutsideCustomerServiceWindow', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ logger, httpPort: 0, smtpPort: 0 });
  });
  afterAll(() => sandbox.stop());

  it('recognise 21610 on a send (the opted-out magic number) and nothing else', async () => {
    const twilio = createTwilioClient({ ...config.twilio, baseUrl: `${sandbox.httpUrl}/twilio` });
    const optedOut = await thrown(twilio.send({ to: '+15005550004', body: 'Hi' }));
    expect(isTwilioOptOut(optedOut)).toBe(true);
    const invalid = await thrown(twilio.send({ to: '+15005550001', body: 'Hi' }));
    expect(isTwilioOptOut(invalid)).toBe(false);
    expect(isTwilioOptOut(new ProviderError({ provider: 'whatsapp', category: 'permanent', code: '21610', message: 'x' }))).toBe(false);
    expect(isTwilioOptOut(new Error('21610'))).toBe(false);
    expect(isTwilioOptOut({ provider: 'twilio', code: '21610' })).toBe(false);
    expect(isOutsideCustomerServiceWindow(new ProviderError({ provider: 'twilio', category: 'permanent', code: '131047', message: 'x' }))).toBe(false);
    expect(isOutsideCustomerServiceWindow(null)).toBe(false);
  });
});
