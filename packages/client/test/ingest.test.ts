import { createCrmClient, CrmApiError, type CommunicationRequest, type CrmClient, type SendResult } from '@crm/client';
import { startTestIngest, type TestIngest } from '../../../services/ingest/test/support/test-ingest';

// The SDK over HTTP against the real ingest app (real PostgreSQL and Redis, its own database and queue prefix).

let ingest: TestIngest;
let baseUrl: string;
let crm: CrmClient;
let apiKey: string;

beforeAll(async () => {
  ingest = await startTestIngest('client-sdk-test');
  baseUrl = await ingest.app.listen({ host: '127.0.0.1', port: 0 });
  apiKey = ingest.auth.authorization.replace(/^Bearer /, '');
  crm = createCrmClient({ baseUrl, apiKey, retryBaseDelayMs: 5 });
});
afterAll(() => ingest.close());

const request = (over: Partial<CommunicationRequest> = {}): CommunicationRequest => ({
  clientId: 'sdk-client-1',
  planId: 'sdk-plan-1',
  messageType: 'budget_summary',
  variables: { clientName: 'Ada', total: 18500, currency: 'EUR' },
  recipient: { email: 'ada.sdk@example.com' },
  metadata: { workflowRunId: 'run-1' },
  ...over,
});

async function rowsWithKey(key: string): Promise<number> {
  const row = await ingest.t.db
    .selectFrom('crm_communications')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('idempotency_key', '=', key)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe('send', () => {
  it('answers the created communication (202), typed', async () => {
    const result: SendResult = await crm.send(request());
    expect(result).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), status: 'pending', outcome: 'created' });
    // Without a key of its own, the call made one (a UUID), stored as the communication's key.
    const stored = await crm.get(result.id);
    expect(stored.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('the same idempotency key answers the same communication (200) and stores one row', async () => {
    const first = await crm.send(request(), { idempotencyKey: 'sdk:idem:1' });
    const second = await crm.send(request(), { idempotencyKey: 'sdk:idem:1' });
    expect(first.outcome).toBe('created');
    expect(second).toEqual({ id: first.id, status: first.status, outcome: 'duplicate' });
    expect(await rowsWithKey('sdk:idem:1')).toBe(1);
  });

  it('a retry after a lost answer reuses the key of its call: one communication', async () => {
    const keys: (string | null)[] = [];
    let calls = 0;
    // The first answer is lost on the way back (the engine did store the communication).
    const losingFetch: typeof fetch = async (input, init) => {
      keys.push(new Headers(init?.headers).get('idempotency-key'));
      const answer = await fetch(input, init);
      calls += 1;
      if (calls === 1) throw new TypeError('fetch failed: socket hang up');
      return answer;
    };
    const flaky = createCrmClient({ baseUrl, apiKey, fetch: losingFetch, retryBaseDelayMs: 5 });
    const result = await flaky.send(request({ clientId: 'sdk-client-lost' }));
    expect(calls).toBe(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(result.outcome).toBe('duplicate');
    expect(await rowsWithKey(keys[0]!)).toBe(1);
  });

  it('uses the request\'s own idempotencyKey as the header', async () => {
    const first = await crm.send(request({ idempotencyKey: 'sdk:field:1' }));
    const again = await crm.send(request({ idempotencyKey: 'sdk:field:1' }));
    expect(again.id).toBe(first.id);
    expect((await crm.get(first.id)).idempotencyKey).toBe('sdk:field:1');
  });

  it('a validation error throws CrmApiError naming the fields', async () => {
    const bad = { ...request(), messageType: 'nope', chanel: 'sms' } as unknown as CommunicationRequest;
    const error = await crm.send(bad).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CrmApiError);
    const apiError = error as CrmApiError;
    expect(apiError.status).toBe(400);
    expect(apiError.code).toBe('validation_failed');
    expect(apiError.errors.map((e) => e.field).sort()).toEqual(expect.arrayContaining(['messageType']));
    expect(Object.keys(apiError.fieldErrors())).toContain('messageType');
    expect(apiError.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(apiError.detail).toContain('messageType');
  });

  it('an unreachable client is a 422 CrmApiError', async () => {
    const error = await crm.send(request({ clientId: 'sdk-nobody', recipient: null })).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CrmApiError);
    expect((error as CrmApiError).status).toBe(422);
    expect((error as CrmApiError).code).toBe('unreachable_client');
  });

  it('a wrong API key is a 401 CrmApiError, not retried', async () => {
    const wrong = createCrmClient({ baseUrl, apiKey: 'crm_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    await expect(wrong.history()).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
  });
});

describe('sendBatch', () => {
  it('keys the whole batch with the given header and answers per item', async () => {
    const items = [request({ clientId: 'sdk-batch-1' }), request({ clientId: 'sdk-batch-2' })];
    const result = await crm.sendBatch(items, { idempotencyKey: 'sdk:batch:1' });
    expect(result.items.map((item) => [item.index, item.outcome])).toEqual([[0, 'created'], [1, 'created']]);
    const again = await crm.sendBatch(items, { idempotencyKey: 'sdk:batch:1' });
    expect(again.items.map((item) => item.id)).toEqual(result.items.map((item) => item.id));
    expect(again.items.every((item) => item.outcome === 'duplicate')).toBe(true);
  });

  it('without keys, one generated key covers the batch (item i: <key>:<i>)', async () => {
    const result = await crm.sendBatch([request({ clientId: 'sdk-batch-5' }), request({ clientId: 'sdk-batch-6' })]);
    const keys = await Promise.all(result.items.map(async (item) => (await crm.get(item.id)).idempotencyKey));
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}:0$/);
    expect(keys[1]).toBe(`${keys[0]!.slice(0, -2)}:1`);
  });

  it('items with their own keys are sent without a header', async () => {
    const items = [request({ clientId: 'sdk-batch-3', idempotencyKey: 'sdk:b:3' }), request({ clientId: 'sdk-batch-4', idempotencyKey: 'sdk:b:4' })];
    const result = await crm.sendBatch(items);
    expect(result.items).toHaveLength(2);
    expect(await rowsWithKey('sdk:b:3')).toBe(1);
  });

  it('names the bad item\'s field', async () => {
    const items = [request(), { ...request(), urgency: 'asap' } as unknown as CommunicationRequest];
    await expect(crm.sendBatch(items)).rejects.toMatchObject({ status: 400, errors: expect.arrayContaining([expect.objectContaining({ field: 'items.1.urgency' })]) });
  });
});

describe('reading', () => {
  const plan = 'sdk-plan-history';
  const ids: string[] = [];
  beforeAll(async () => {
    for (let n = 0; n < 5; n += 1) ids.push((await crm.send(request({ planId: plan, clientId: `sdk-hist-${n}` }))).id);
  });

  it('get answers the communication with its delivery log', async () => {
    const detail = await crm.get(ids[0]!);
    expect(detail).toMatchObject({ id: ids[0], planId: plan, messageType: 'budget_summary', status: 'pending', metadata: { workflowRunId: 'run-1' } });
    expect(detail.variables).toEqual({ clientName: 'Ada', total: 18500, currency: 'EUR' });
    expect(detail.deliveryLog[0]).toMatchObject({ event: 'created', toStatus: 'pending' });
  });

  it('get of an unknown id throws not_found', async () => {
    await expect(crm.get('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ status: 404, code: 'not_found' });
  });

  it('history pages with the cursor, newest first', async () => {
    const first = await crm.history({ planId: plan, limit: 2 });
    expect(first.items).toHaveLength(2);
    expect(first.nextCursor).not.toBeNull();
    const second = await crm.history({ planId: plan, limit: 2, cursor: first.nextCursor });
    const third = await crm.history({ planId: plan, limit: 2, cursor: second.nextCursor });
    const seen = [...first.items, ...second.items, ...third.items].map((item) => item.id);
    expect(seen).toEqual([...ids].reverse());
    expect(third.nextCursor).toBeNull();
  });

  it('history filters by several statuses and a date range', async () => {
    const page = await crm.history({ planId: plan, status: ['pending', 'queued'], channel: ['email', 'sms', 'whatsapp'], from: new Date(Date.now() - 3_600_000) });
    // No channel chosen yet (no strategy worker here), so the channel filter leaves none.
    expect(page.items).toEqual([]);
    const pending = await crm.history({ planId: plan, status: ['pending', 'queued'], from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 60_000) });
    expect(pending.items).toHaveLength(5);
  });

  it('historyAll walks every page', async () => {
    const seen: string[] = [];
    for await (const item of crm.historyAll({ planId: plan, limit: 2 })) seen.push(item.id);
    expect(seen).toEqual([...ids].reverse());
  });

  it('a bad cursor names the cursor', async () => {
    await expect(crm.history({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ status: 400, errors: [expect.objectContaining({ field: 'cursor' })] });
  });
});

describe('cancel', () => {
  it('cancels a pending communication, and again answers the same', async () => {
    const { id } = await crm.send(request({ clientId: 'sdk-cancel' }));
    const cancelled = await crm.cancel(id);
    expect(cancelled).toMatchObject({ id, status: 'cancelled', failureReason: 'cancelled_by_api' });
    expect((await crm.cancel(id)).status).toBe('cancelled');
  });
});

describe('preferences', () => {
  it('round trip: set, then get', async () => {
    const unknown = await crm.preferences.get('sdk-prefs');
    expect(unknown.known).toBe(false);
    const stored = await crm.preferences.set({
      clientId: 'sdk-prefs', channels: ['whatsapp', 'email'], timezone: 'Europe/Lisbon', quietHours: { start: '22:00', end: '07:30' },
      optOuts: ['sms'], language: 'pt-br', phone: '+351 912 345 678',
    });
    expect(stored).toMatchObject({ clientId: 'sdk-prefs', known: true, language: 'pt-BR', phone: '+351912345678', optOuts: ['sms'] });
    expect(await crm.preferences.get('sdk-prefs')).toEqual(stored);
  });

  it('a bad value names its field', async () => {
    await expect(crm.preferences.set({ clientId: 'sdk-prefs', timezone: 'Mars/Olympus' })).rejects.toMatchObject({
      status: 400, code: 'validation_failed', errors: [expect.objectContaining({ field: 'timezone' })],
    });
  });
});

describe('analytics', () => {
  it('answers the report for a plan', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const report = await crm.analytics({ planId: 'sdk-plan-history', from: today, to: today });
    expect(report.source).toBe('communications');
    expect(report.filters).toMatchObject({ from: today, to: today, planId: 'sdk-plan-history' });
    expect(report.overall.total).toBe(5);
    expect(report.funnel.map((step) => step.stage)).toEqual(['sent', 'delivered', 'opened', 'clicked', 'responded']);
    expect(typeof report.preferences.clients).toBe('number');
  });

  it('a bad day names its field', async () => {
    await expect(crm.analytics({ from: '2026-02-30' })).rejects.toMatchObject({ status: 400, errors: [expect.objectContaining({ field: 'from' })] });
  });
});

describe('uploadAttachment', () => {
  it('uploads a PDF and sends it with a request', async () => {
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n', 'latin1');
    const attachment = await crm.uploadAttachment({ filename: 'blueprint.pdf', contentType: 'application/pdf', data: pdf });
    expect(attachment).toMatchObject({ filename: 'blueprint.pdf', contentType: 'application/pdf', size: pdf.length, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const { id } = await crm.send(request({ clientId: 'sdk-blueprint', messageType: 'blueprint_delivery', attachments: [attachment.id] }));
    expect((await crm.get(id)).attachments).toEqual([attachment.id]);
  });

  it('a file that is not what it says is a 415 naming body', async () => {
    await expect(crm.uploadAttachment({ filename: 'x.png', contentType: 'image/png', data: Buffer.from('%PDF-1.4 nope') })).rejects.toMatchObject({
      status: 415, code: 'attachment_type_mismatch',
    });
  });
});
