import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCrmClient, CrmApiError, CrmNetworkError, type CommunicationRequest } from '@crm/client';

// Retries against a local node:http server that fails on purpose, then answers like ingest.

type Handler = (request: IncomingMessage, response: ServerResponse, body: string) => void;

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

let server: Server;
let baseUrl: string;
let script: Handler[] = [];
let seen: Seen[] = [];

function problem(response: ServerResponse, status: number, code: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/problem+json', 'x-request-id': `req-${seen.length}`, ...headers });
  response.end(JSON.stringify({ type: 'about:blank', title: code, status, code, detail: `${code} on purpose` }));
}
const json = (status: number, body: unknown): Handler => (_request, response) => {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(body));
};
const fail = (status: number, code: string, headers: Record<string, string> = {}): Handler => (_request, response) => problem(response, status, code, headers);
const drop: Handler = (request) => request.socket.destroy();
const accepted = json(202, { id: '4b0c0000-0000-4000-8000-000000000001', status: 'pending' });

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body, at: Date.now() });
      const handler = script.shift() ?? fail(500, 'script_exhausted');
      handler(request, response, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  script = [];
  seen = [];
});

const client = (over: { retries?: number; timeoutMs?: number } = {}) =>
  createCrmClient({ baseUrl, apiKey: 'crm_live_test', retryBaseDelayMs: 10, retryMaxDelayMs: 50, ...over });
const request: CommunicationRequest = { clientId: 'client-42', planId: 'plan-7', messageType: 'welcome' };

describe('retries', () => {
  it('send survives a 503 and a dropped connection, with the same Idempotency-Key each time', async () => {
    script = [fail(503, 'internal'), drop, accepted];
    const result = await client().send(request);
    expect(result).toEqual({ id: '4b0c0000-0000-4000-8000-000000000001', status: 'pending', outcome: 'created' });
    expect(seen).toHaveLength(3);
    const keys = seen.map((s) => s.headers['idempotency-key']);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(keys).size).toBe(1);
    expect(seen.every((s) => s.method === 'POST' && s.url === '/api/crm/communications' && s.headers.authorization === 'Bearer crm_live_test')).toBe(true);
    expect(new Set(seen.map((s) => s.body)).size).toBe(1);
    expect(JSON.parse(seen[0]!.body)).toEqual(request);
  });

  it('each call gets its own generated key', async () => {
    script = [accepted, accepted];
    await client().send(request);
    await client().send(request);
    expect(seen[0]!.headers['idempotency-key']).not.toBe(seen[1]!.headers['idempotency-key']);
  });

  it('a given key is sent as it is', async () => {
    script = [fail(502, 'bad_gateway'), json(200, { id: '4b0c0000-0000-4000-8000-000000000001', status: 'sent' })];
    const result = await client().send(request, { idempotencyKey: 'plan-7:welcome:v1' });
    expect(result.outcome).toBe('duplicate');
    expect(seen.map((s) => s.headers['idempotency-key'])).toEqual(['plan-7:welcome:v1', 'plan-7:welcome:v1']);
  });

  it('a 400 is not retried', async () => {
    script = [fail(400, 'validation_failed'), accepted];
    const error = await client().send(request).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CrmApiError);
    expect(error).toMatchObject({ status: 400, code: 'validation_failed', detail: 'validation_failed on purpose', requestId: 'req-1' });
    expect(seen).toHaveLength(1);
  });

  it('a 409 is not retried', async () => {
    script = [fail(409, 'not_cancellable')];
    await expect(client().cancel('4b0c0000-0000-4000-8000-000000000001')).rejects.toMatchObject({ status: 409, code: 'not_cancellable' });
    expect(seen).toHaveLength(1);
  });

  it('a 429 waits Retry-After, then retries', async () => {
    script = [fail(429, 'rate_limited', { 'retry-after': '1' }), json(200, { items: [], nextCursor: null })];
    const started = Date.now();
    const page = await client().history({ planId: 'plan-7' });
    expect(page).toEqual({ items: [], nextCursor: null });
    expect(seen).toHaveLength(2);
    expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(seen[0]!.url).toBe('/api/crm/communications?planId=plan-7');
  });

  it('a 429 asking for longer than maxRetryAfterMs is thrown at once, with retryAfterSeconds', async () => {
    script = [fail(429, 'rate_limited', { 'retry-after': '120' })];
    await expect(client().history()).rejects.toMatchObject({ status: 429, code: 'rate_limited', retryAfterSeconds: 120 });
    expect(seen).toHaveLength(1);
  });

  it('gives up after `retries` retries with the last problem', async () => {
    script = [fail(503, 'a'), fail(503, 'b'), fail(503, 'c')];
    await expect(client({ retries: 2 }).get('x')).rejects.toMatchObject({ status: 503, code: 'c' });
    expect(seen).toHaveLength(3);
  });

  it('backs off between attempts', async () => {
    script = [fail(500, 'internal'), fail(500, 'internal'), json(200, { items: [] })];
    await createCrmClient({ baseUrl, apiKey: 'k', retryBaseDelayMs: 100, retryMaxDelayMs: 1000 }).callbacks.list();
    // Jittered between half and all of 100 ms, then of 200 ms.
    expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(45);
    expect(seen[2]!.at - seen[1]!.at).toBeGreaterThanOrEqual(95);
  });

  it('a POST that is not idempotent is not retried on a 5xx or a dropped connection', async () => {
    script = [fail(503, 'internal')];
    await expect(client().callbacks.create({ url: 'https://example.com/hook', events: ['client.replied'] })).rejects.toMatchObject({ status: 503 });
    script = [drop];
    const error = await client().uploadAttachment({ filename: 'a.pdf', contentType: 'application/pdf', data: Buffer.from('%PDF-1.4') }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CrmNetworkError);
    expect(seen).toHaveLength(2);
  });

  it('...but is retried on a 429, which did nothing', async () => {
    script = [fail(429, 'rate_limited', { 'retry-after': '0' }), json(201, { id: 'a1', filename: 'a.pdf', contentType: 'application/pdf', size: 8, sha256: '00' })];
    const attachment = await client().uploadAttachment({ filename: 'a.pdf', contentType: 'application/pdf', data: new Uint8Array(Buffer.from('%PDF-1.4')) });
    expect(attachment.id).toBe('a1');
    expect(seen.map((s) => [s.url, s.headers['content-type'], s.body])).toEqual([
      ['/api/crm/attachments?filename=a.pdf', 'application/pdf', '%PDF-1.4'],
      ['/api/crm/attachments?filename=a.pdf', 'application/pdf', '%PDF-1.4'],
    ]);
  });

  it('a batch whose items are not all keyed is not retried on a 5xx', async () => {
    script = [fail(503, 'internal')];
    await expect(client().sendBatch([{ ...request, idempotencyKey: 'k1' }, request])).rejects.toMatchObject({ status: 503 });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers['idempotency-key']).toBeUndefined();
  });

  it('a batch without keys gets one generated key, kept across retries', async () => {
    script = [drop, json(202, { items: [] })];
    await client().sendBatch([request, request]);
    expect(seen).toHaveLength(2);
    expect(seen[0]!.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen[1]!.headers['idempotency-key']).toBe(seen[0]!.headers['idempotency-key']);
  });

  it('a timeout is a CrmNetworkError (timedOut) after the retries', async () => {
    const hang: Handler = () => undefined;
    script = [hang, hang];
    const error = await client({ retries: 1, timeoutMs: 150 }).get('x').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CrmNetworkError);
    expect((error as CrmNetworkError).timedOut).toBe(true);
    expect((error as CrmNetworkError).message).toContain('2 attempts');
    expect(seen).toHaveLength(2);
    server.closeAllConnections();
  });

  it('a server that is not there is a CrmNetworkError', async () => {
    const gone = createCrmClient({ baseUrl: 'http://127.0.0.1:9', apiKey: 'k', retries: 1, retryBaseDelayMs: 1 });
    await expect(gone.get('x')).rejects.toMatchObject({ name: 'CrmNetworkError', timedOut: false });
  });

  it('a non-problem error answer is still a CrmApiError (code http_<status>)', async () => {
    script = [(_request, response) => { response.writeHead(404, { 'content-type': 'text/plain' }); response.end('nope'); }];
    await expect(client().get('x')).rejects.toMatchObject({ status: 404, code: 'http_404', errors: [] });
  });
});

describe('paths and queries', () => {
  it('encodes ids, lists and dates', async () => {
    script = [json(200, { clientId: 'a/b' }), json(200, { items: [], nextCursor: null }), json(200, {}), (_q, response) => { response.writeHead(204); response.end(); }];
    const crm = client();
    await crm.preferences.get('a/b');
    await crm.history({ status: ['failed', 'bounced'], channel: 'sms', from: new Date('2026-11-25T10:00:00Z'), limit: 20, cursor: 'c1' });
    await crm.analytics({ from: '2026-11-01', channel: 'email' });
    await expect(crm.callbacks.delete('sub 1')).resolves.toBeUndefined();
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /api/crm/preferences/a%2Fb',
      'GET /api/crm/communications?channel=sms&status=failed%2Cbounced&from=2026-11-25T10%3A00%3A00.000Z&limit=20&cursor=c1',
      'GET /api/crm/analytics?from=2026-11-01&channel=email',
      'DELETE /api/crm/callbacks/sub%201',
    ]);
  });

  it('a trailing slash of baseUrl is ignored', async () => {
    script = [json(200, { items: [] })];
    await createCrmClient({ baseUrl: `${baseUrl}/`, apiKey: 'k' }).callbacks.list();
    expect(seen[0]!.url).toBe('/api/crm/callbacks');
  });
});
