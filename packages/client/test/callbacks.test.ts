import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { signCallback } from '@crm/callback-worker';
import {
  createCrmClient,
  CrmApiError,
  CrmSignatureError,
  signCrmEvent,
  verifyCrmEvent,
  type CallbackInput,
  type CallbackSubscription,
  type CreatedCallbackSubscription,
  type CrmClient,
  type CrmEvent,
} from '@crm/client';
import { startTestIngest, type TestIngest } from '../../../services/ingest/test/support/test-ingest';

// callbacks.* against ingest's real subscriptions routes (its own database), and a receiver that
// verifies what is POSTed to the subscribed URL the way docs/sdk.md shows, signed both by
// signCrmEvent and by the callback worker's own signCallback.

/** What the receiver saw: verified events, and refusals with their reason. */
const received: CrmEvent[] = [];
const refused: string[] = [];
let receiverSecret = '';

/** A workflow's callback endpoint: raw body first, then verifyCrmEvent, then act. */
function receiver(request: IncomingMessage, response: ServerResponse, raw: Buffer): void {
  try {
    const event = verifyCrmEvent({ secret: receiverSecret, body: raw, signature: request.headers['crm-signature'] });
    if (!received.some((seen) => seen.id === event.id)) received.push(event);
    response.writeHead(204).end();
  } catch (error) {
    if (!(error instanceof CrmSignatureError)) throw error;
    refused.push(error.reason);
    response.writeHead(400, { 'content-type': 'text/plain' }).end(error.reason);
  }
}

let ingest: TestIngest;
let crm: CrmClient;
let hook: Server;
let hookUrl: string;

async function listen(handler: (request: IncomingMessage, response: ServerResponse, raw: Buffer) => void): Promise<[Server, string]> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handler(request, response, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return [server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`];
}

beforeAll(async () => {
  ingest = await startTestIngest('client-sdk-callbacks-test');
  const baseUrl = await ingest.app.listen({ host: '127.0.0.1', port: 0 });
  crm = createCrmClient({ baseUrl, apiKey: ingest.auth.authorization.replace(/^Bearer /, ''), retryBaseDelayMs: 5 });
  [hook, hookUrl] = await listen(receiver);
});
afterAll(async () => {
  await new Promise<void>((resolve) => hook.close(() => resolve()));
  await ingest.close();
});

describe('callbacks', () => {
  let created: CreatedCallbackSubscription;

  it('create answers the subscription with its generated secret', async () => {
    created = await crm.callbacks.create({ url: `${hookUrl}/crm-events`, events: ['client.replied', 'communication.failed'] });
    expect(created).toEqual({
      id: expect.any(String), url: `${hookUrl}/crm-events`, events: ['client.replied', 'communication.failed'],
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9_-]{43}$/), createdAt: expect.any(String),
    });
    const own = await crm.callbacks.create({ url: 'https://example.com/hook', events: ['communication.sent'], secret: 'whsec_my-own-secret-1234' });
    expect(own.secret).toBe('whsec_my-own-secret-1234');
  });

  it('list answers them without secrets', async () => {
    const items: CallbackSubscription[] = await crm.callbacks.list();
    expect(items.map((item) => item.url).sort()).toEqual([`${hookUrl}/crm-events`, 'https://example.com/hook'].sort());
    expect(items.every((item) => !('secret' in item))).toBe(true);
  });

  it('a bad URL and event type are a CrmApiError naming both fields', async () => {
    const bad = { url: 'ftp://example.com/x', events: ['communication.opened'] } as unknown as CallbackInput;
    const error = await crm.callbacks.create(bad).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CrmApiError);
    expect(error).toMatchObject({ status: 400, code: 'validation_failed' });
    expect(Object.keys((error as CrmApiError).fieldErrors()).sort()).toEqual(['events.0', 'url']);
    expect(await crm.callbacks.list()).toHaveLength(2);
  });

  it('the receiver verifies a signed event with the secret, and refuses a forged one', async () => {
    receiverSecret = created.secret;
    const event: CrmEvent = {
      id: `evt_${randomBytes(16).toString('hex')}`, type: 'client.replied', createdAt: new Date().toISOString(),
      data: { inboundId: 'in-1', clientId: 'client-42', planId: 'plan-7', communicationId: null, channel: 'whatsapp', text: 'Option 2', selection: 2, at: new Date().toISOString() },
    };
    const body = JSON.stringify(event);
    const post = (signature: string) => fetch(created.url, {
      method: 'POST', body,
      headers: { 'content-type': 'application/json', 'user-agent': 'crm-engine-callbacks/1', 'crm-event-id': event.id, 'crm-event-type': event.type, 'crm-signature': signature },
    });
    const now = Math.floor(Date.now() / 1000);
    expect((await post(signCallback(created.secret, body, now))).status).toBe(204); // as the callback worker signs
    expect((await post(signCrmEvent({ secret: created.secret, body }))).status).toBe(204); // a redelivery: deduplicated on id
    expect((await post(signCrmEvent({ secret: 'whsec_forged', body }))).status).toBe(400);
    expect((await post(signCrmEvent({ secret: created.secret, body, timestamp: Math.floor(Date.now() / 1000) - 600 }))).status).toBe(400);
    expect(received).toEqual([event]);
    expect(refused).toEqual(['mismatch', 'too_old']);
  });

  it('delete removes one (204); an unknown one is not_found', async () => {
    await expect(crm.callbacks.delete(created.id)).resolves.toBeUndefined();
    expect((await crm.callbacks.list()).map((item) => item.id)).not.toContain(created.id);
    await expect(crm.callbacks.delete(created.id)).rejects.toMatchObject({ status: 404, code: 'not_found' });
    await expect(crm.callbacks.delete('not-a-uuid')).rejects.toMatchObject({ status: 400, errors: [expect.objectContaining({ field: 'id' })] });
  });
});
