import type { FastifyInstance } from 'fastify';
import type { CommunicationStatus } from '@crm/core';
import { CommunicationRepository } from '@crm/db';
import { type QueueProducer } from '@crm/queue';
import type { TestDatabase } from '@crm/testing';
import { startTestIngest, type TestIngest } from './support/test-ingest';

let t: TestDatabase;
let producer: QueueProducer;
let app: FastifyInstance;
let auth: { authorization: string };
let apiKeyId: string;

let ingest: TestIngest;
beforeAll(async () => {
  ingest = await startTestIngest('ingest-cancel-test');
  ({ t, producer, app, auth, apiKeyId } = ingest);
});
afterAll(() => ingest.close());

const create = async (): Promise<string> => {
  const response = await app.inject({
    method: 'POST', url: '/api/crm/communications', headers: auth,
    payload: { clientId: 'cancel-client', planId: 'cancel-plan', messageType: 'reminder', recipient: { email: 'cancel@example.com' } },
  });
  expect(response.statusCode).toBe(202);
  return response.json<{ id: string }>().id;
};
const cancel = (id: string) => app.inject({ method: 'POST', url: `/api/crm/communications/${id}/cancel`, headers: auth });
/** Walks a new communication along the main line to `status`. */
const moveTo = async (id: string, path: CommunicationStatus[]) => {
  for (const to of path) expect((await CommunicationRepository.updateStatus(t.db, { id, to, ...(to === 'queued' && { channel: 'email' }) })).applied).toBe(true);
};

describe('POST /api/crm/communications/:id/cancel', () => {
  it('cancels a pending communication, records why, and removes its waiting job', async () => {
    const id = await create();
    expect(await producer.queue('crm.requests').getJob(`${id}.request`)).toBeDefined();
    const response = await cancel(id);
    expect(response.statusCode).toBe(200);
    const body = response.json<{ status: string; failureReason: string; cancelledAt: string; deliveryLog: { event: string; toStatus: string; detail: Record<string, unknown> }[] }>();
    expect(body).toMatchObject({ id, status: 'cancelled', failureReason: 'cancelled_by_api', cancelledAt: expect.any(String) });
    expect(body.deliveryLog.at(-1)).toMatchObject({ event: 'cancelled', toStatus: 'cancelled', detail: { reason: 'cancelled_by_api', apiKeyId } });
    expect(await producer.queue('crm.requests').getJob(`${id}.request`)).toBeUndefined();
    expect((await CommunicationRepository.findById(t.db, id))?.status).toBe('cancelled');
  });

  it.each([[['scheduled']], [['queued']], [['scheduled', 'queued']]] as [CommunicationStatus[]][])('cancels from %j', async (path) => {
    const id = await create();
    await moveTo(id, path);
    expect((await cancel(id)).json()).toMatchObject({ status: 'cancelled' });
  });

  it('removes a postponed message\'s delayed wake-up job too', async () => {
    const id = await create();
    const due = new Date(Date.now() + 3_600_000);
    expect((await CommunicationRepository.updateStatus(t.db, { id, to: 'scheduled', scheduledFor: due })).applied).toBe(true);
    await producer.enqueue('crm.requests', { communicationId: id, due: due.getTime() }, { delay: 3_600_000 });
    expect(await producer.queue('crm.requests').getJob(`${id}.request.${due.getTime()}`)).toBeDefined();
    expect((await cancel(id)).json()).toMatchObject({ status: 'cancelled' });
    expect(await producer.queue('crm.requests').getJob(`${id}.request.${due.getTime()}`)).toBeUndefined();
  });

  it('refuses a message already batched into a digest (its digest is what to cancel)', async () => {
    const id = await create();
    await moveTo(id, ['scheduled', 'batched']);
    const response = await cancel(id);
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ code: 'not_cancellable' });
  });

  it('answers 200 with the same communication when cancelled again', async () => {
    const id = await create();
    const first = await cancel(id);
    const again = await cancel(id);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    expect((await CommunicationRepository.listLogs(t.db, id)).filter((log) => log.event === 'cancelled')).toHaveLength(1);
  });

  it.each([
    ['sending', ['queued', 'sending']],
    ['sent', ['queued', 'sending', 'sent']],
    ['failed', ['failed']],
  ] as [string, CommunicationStatus[]][])('answers 409 not_cancellable once %s, changing nothing', async (status, path) => {
    const id = await create();
    await moveTo(id, path);
    const before = await CommunicationRepository.listLogs(t.db, id);
    const response = await cancel(id);
    expect(response.statusCode).toBe(409);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ code: 'not_cancellable', detail: expect.stringContaining(`is ${status}`) });
    expect((await CommunicationRepository.findById(t.db, id))?.status).toBe(status);
    expect(await CommunicationRepository.listLogs(t.db, id)).toEqual(before);
  });

  it('lets one of two concurrent cancels record it, and both answer cancelled', async () => {
    const id = await create();
    const [a, b] = await Promise.all([cancel(id), cancel(id)]);
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
    expect((await CommunicationRepository.listLogs(t.db, id)).filter((log) => log.event === 'cancelled')).toHaveLength(1);
  });

  it('answers 404 for an unknown id and 400 for a malformed one', async () => {
    expect((await cancel('6f1c7f55-2d5f-4d57-9d1f-3d1b8f7c9a11')).statusCode).toBe(404);
    const bad = await cancel('42');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ errors: [{ field: 'id', in: 'params' }] });
  });

  it('needs an API key', async () => {
    const id = await create();
    expect((await app.inject({ method: 'POST', url: `/api/crm/communications/${id}/cancel` })).statusCode).toBe(401);
    expect((await CommunicationRepository.findById(t.db, id))?.status).toBe('pending');
  });
});
