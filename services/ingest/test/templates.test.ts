import type { FastifyInstance } from 'fastify';
import { emailTemplateTypes } from '@crm/templates';
import { startTestIngest, type TestIngest } from './support/test-ingest';

// GET /api/crm/templates/:type/preview: each template rendered with its sample data.
let ingest: TestIngest;
let app: FastifyInstance;
let auth: { authorization: string };
beforeAll(async () => {
  ingest = await startTestIngest('ingest-templates-test');
  ({ app, auth } = ingest);
});
afterAll(() => ingest.close());

const get = (url: string) => app.inject({ method: 'GET', url, headers: auth });

describe('GET /api/crm/templates/:type/preview', () => {
  it.each([...emailTemplateTypes])('renders %s with its sample data into valid HTML and text', async (type) => {
    const response = await get(`/api/crm/templates/${type}/preview?channel=email`);
    expect(response.statusCode).toBe(200);
    const body = response.json<{ messageType: string; version: number; subject: string; html: string; text: string; validation: { valid: boolean; problems: string[] } }>();
    expect(body).toMatchObject({ messageType: type, version: 1, validation: { valid: true, problems: [] } });
    expect(body.subject.length).toBeGreaterThan(0);
    expect(body.html).toContain('Event Planner, 1 Example Street');
    expect(body.text.length).toBeGreaterThan(0);
  });

  it('seeds the templates on first use and writes nothing more after', async () => {
    const rows = await ingest.t.db.selectFrom('crm_communication_templates').select(['message_type', 'version']).execute();
    expect(rows).toHaveLength(emailTemplateTypes.length);
    expect(new Set(rows.map((r) => r.version))).toEqual(new Set([1]));
  });

  it('answers the HTML itself with format=html', async () => {
    const response = await get('/api/crm/templates/welcome/preview?format=html');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.body).toMatch(/^<!doctype html>/i);
  });

  it.each([
    ['/api/crm/templates/newsletter/preview', 'type'],
    ['/api/crm/templates/welcome/preview?channel=sms', 'channel'],
    ['/api/crm/templates/welcome/preview?format=pdf', 'format'],
    ['/api/crm/templates/welcome/preview?extra=1', 'extra'],
  ])('%s → 400 naming %s', async (url, field) => {
    const response = await get(url);
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json<{ errors: { field: string }[] }>().errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
  });

  it('needs an API key', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/crm/templates/welcome/preview' })).statusCode).toBe(401);
  });
});
