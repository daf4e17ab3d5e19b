import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { CommunicationRepository, saveAttachment, type CommunicationRow } from '@crm/db';
import { TemplateStore } from '@crm/delivery';
import { buildApp } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import { createRedisConnection } from '@crm/queue';
import { loadEmailTemplateSources, validateHtml } from '@crm/templates';
import { testEnvironment, waitFor } from '@crm/testing';
import { startTestEngine, testEmailContent, testKeys, type TestEngine } from './support/engine';

// The email channel end to end: templates rendered by the email worker, sent over SMTP to the
// sandbox, parsed there with mailparser; headers, parts, attachments byte for byte, tracking
// links that redirect through ingest, bounces, and template versions.

let engine: TestEngine;
let app: FastifyInstance;
beforeAll(async () => {
  engine = await startTestEngine({ templates: true });
  // Ingest's tracking routes, on the engine's database and with its tracking key.
  app = await buildApp({
    db: engine.t.db, producer: engine.producer, keys: testKeys, logger: createLogger({ service: 'email-channel-test', level: 'silent' }),
    redisPing: async () => 'PONG', bodyLimitBytes: 65_536,
    email: { trackingSecret: testEmailContent.trackingSecret, machineOpenWindowMs: 0, attachmentMaxTotalBytes: 10 * 1024 * 1024 },
  });
});
afterAll(async () => {
  await app.close();
  await engine.close();
});
afterEach(() => fetch(`${engine.sandbox.httpUrl}/admin/faults`, { method: 'DELETE' }));

const samples = new Map(loadEmailTemplateSources().map((source) => [source.messageType, source.sampleVariables]));
const mailFor = async (id: string) => {
  const [message] = await engine.sandbox.mailbox.messages({ communicationId: id });
  if (!message) throw new Error(`no mail for ${id}`);
  return message;
};
const row = async (id: string) => (await CommunicationRepository.findById(engine.t.db, id)) as CommunicationRow;
const tokenIn = (html: string, path: 't/o' | 't/c' | 'u') => {
  const match = new RegExp(`${testEmailContent.publicBaseUrl}/${path}/([A-Za-z0-9_.-]+)`).exec(html);
  if (!match?.[1]) throw new Error(`no /${path}/ link`);
  return match[1];
};

it('renders the budget summary from its template, with the text part, the footer and the compliance headers', async () => {
  const id = await engine.send({ email: 'ada@example.com', messageType: 'budget_summary', variables: samples.get('budget_summary')! });
  expect(await engine.finished(id)).toMatchObject({ status: 'sent', channel: 'email', template_version: 1 });
  const sent = await row(id);
  expect(sent.template_id).toEqual((await engine.templates!.get('budget_summary')).version.id);

  const mail = await mailFor(id);
  expect(mail.subject).toBe(`Your budget summary for ${String(samples.get('budget_summary')!.eventName)}`);
  expect(mail.messageId).toBe(`<${id}@crm-engine.local>`);
  expect(mail.html).toContain(testEmailContent.postalAddress);
  expect(mail.text).toContain(String(samples.get('budget_summary')!.clientName));
  expect(mail.text).toContain(testEmailContent.postalAddress);
  const unsubscribe = mail.headers['list-unsubscribe'];
  expect(unsubscribe).toMatch(new RegExp(`^<${testEmailContent.publicBaseUrl}/u/[A-Za-z0-9_.-]+>, <mailto:unsubscribe@example\\.com\\?subject=unsubscribe-[A-Za-z0-9_.-]+>$`));
  expect(mail.headers['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
  // What arrived is still valid HTML for mail clients, with the pixel and tracked links added.
  expect(validateHtml(mail.html!).problems).toEqual([]);
  expect(mail.html).toMatch(/\/t\/o\/[A-Za-z0-9_.-]+" width="1" height="1" alt=""/);
});

it('renders every template through the worker and the SMTP server', async () => {
  for (const [type, variables] of samples) {
    if (type === 'digest') continue;
    const id = await engine.send({ email: `every-${type}@example.com`, messageType: type, variables });
    expect(await engine.finished(id)).toMatchObject({ status: 'sent' });
    const mail = await mailFor(id);
    expect(mail.html).toContain(String(variables.clientName));
    expect(mail.text).toContain(String(variables.clientName));
  }
});

it('sends attachments byte for byte, with their names and types', async () => {
  const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251))]);
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(300, 7)]);
  const a = await saveAttachment(engine.t.db, { filename: 'blueprint.pdf', contentType: 'application/pdf', content: pdf });
  const b = await saveAttachment(engine.t.db, { filename: 'floor-plan.png', contentType: 'image/png', content: png });
  const id = await engine.send({ email: 'files@example.com', messageType: 'blueprint_delivery', variables: samples.get('blueprint_delivery')!, attachmentIds: [a.id, b.id] });
  expect(await engine.finished(id)).toMatchObject({ status: 'sent' });
  const mail = await mailFor(id);
  const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  expect(mail.attachments.map((x) => [x.filename, x.contentType, x.size, x.sha256])).toEqual([
    ['blueprint.pdf', 'application/pdf', pdf.length, sha(pdf)],
    ['floor-plan.png', 'image/png', png.length, sha(png)],
  ]);
});

it('counts opens and clicks through ingest\'s tracking routes, redirects only to the signed URL, and refuses tampered tokens', async () => {
  const variables = samples.get('vendor_options')!;
  const id = await engine.send({ email: 'clicks@example.com', messageType: 'vendor_options', variables });
  await engine.finished(id);
  const html = (await mailFor(id)).html!;
  // mailto: and tel: links are left as they are; https links go through /t/c/.
  expect(html).not.toMatch(/href="https:\/\/(?!crm\.test)/);

  const click = tokenIn(html, 't/c');
  const redirect = await app.inject({ method: 'GET', url: `/t/c/${click}` });
  expect(redirect.statusCode).toBe(302);
  const vendorUrls = (variables.vendors as { url: string }[]).map((v) => v.url);
  expect(vendorUrls).toContain(redirect.headers.location);
  expect(await row(id)).toMatchObject({ status: 'clicked' });

  const tampered = `${click.slice(0, -3)}${click.slice(-3) === 'AAA' ? 'BBB' : 'AAA'}`;
  const refused = await app.inject({ method: 'GET', url: `/t/c/${tampered}` });
  expect([400, 404]).toContain(refused.statusCode);
  expect(refused.headers.location).toBeUndefined();

  const pixel = await app.inject({ method: 'GET', url: `/t/o/${tokenIn(html, 't/o')}`, headers: { 'user-agent': 'Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko)' } });
  expect(pixel.statusCode).toBe(200);
  expect(pixel.headers['content-type']).toBe('image/gif');
  const events = (await CommunicationRepository.listLogs(engine.t.db, id)).map((l) => l.event);
  expect(events).toEqual(expect.arrayContaining(['clicked', 'opened']));
});

it('records a one-click unsubscribe (RFC 8058 POST) from the List-Unsubscribe link: the client is opted out of email', async () => {
  const id = await engine.send({ clientId: 'unsubscriber', email: 'leave@example.com', messageType: 'reminder', variables: samples.get('reminder')! });
  await engine.finished(id);
  const link = /<([^>]+\/u\/[^>]+)>/.exec((await mailFor(id)).headers['list-unsubscribe']!)![1]!;
  const response = await app.inject({
    method: 'POST', url: new URL(link).pathname, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click',
  });
  expect(response.statusCode).toBe(200);
  const prefs = await engine.t.db.selectFrom('crm_client_preferences').select('opt_outs').where('client_id', '=', 'unsubscriber').executeTakeFirstOrThrow();
  expect(prefs.opt_outs).toContain('email');
  // The next message for the client does not use email.
  const next = await engine.send({ clientId: 'unsubscriber', messageType: 'reminder', variables: samples.get('reminder')! });
  expect(await engine.finished(next)).toMatchObject({ status: 'failed', failure_reason: 'no_usable_channel' });
});

it('marks a message bounced on an SMTP 5xx when no channel is left, and suppresses the address for email', async () => {
  await engine.fault('email', { errorCode: 550 });
  const id = await engine.send({ clientId: 'bouncer', email: 'gone@example.com', messageType: 'reminder', variables: samples.get('reminder')! });
  expect(await engine.finished(id)).toMatchObject({ status: 'bounced', last_error_code: '550', last_error_category: 'permanent' });
  const prefs = await engine.t.db.selectFrom('crm_client_preferences').select(['email_suppressed_at', 'email_suppression_reason']).where('client_id', '=', 'bouncer').executeTakeFirstOrThrow();
  expect(prefs.email_suppressed_at).not.toBeNull();
  expect(prefs.email_suppression_reason).toBe('smtp 550');
  await fetch(`${engine.sandbox.httpUrl}/admin/faults`, { method: 'DELETE' });
  const next = await engine.send({ clientId: 'bouncer', messageType: 'reminder', variables: samples.get('reminder')! });
  const failed = await engine.finished(next);
  expect(failed).toMatchObject({ status: 'failed', failure_reason: 'no_usable_channel' });
  expect(failed.strategy_reason).toContain('email: the address bounced');
  // The same address again stays suppressed; a new one is used.
  const again = await engine.send({ clientId: 'bouncer', email: 'GONE@example.com', messageType: 'reminder', variables: samples.get('reminder')! });
  expect(await engine.finished(again)).toMatchObject({ status: 'failed', failure_reason: 'no_usable_channel' });
  const fresh = await engine.send({ clientId: 'bouncer', email: 'new-address@example.com', messageType: 'reminder', variables: samples.get('reminder')! });
  expect(await engine.finished(fresh)).toMatchObject({ status: 'sent', channel: 'email' });
});

it('fails a render that lacks required variables, naming each, without sending', async () => {
  const id = await engine.send({ email: 'partial@example.com', messageType: 'budget_summary', variables: { clientName: 'Ada' } });
  const failed = await engine.finished(id);
  expect(failed).toMatchObject({ status: 'failed', last_error_code: 'template_variables_missing' });
  expect(failed.last_error).toMatch(/needs .*eventName.*total|needs .*total.*eventName/);
  expect(engine.sandbox.mailbox.list({ communicationId: id })).toHaveLength(0);
});

it('uses a new template version as soon as it is published, here and in another process (Redis pub/sub), and records it', async () => {
  const reminder = loadEmailTemplateSources().find((s) => s.messageType === 'reminder')!;
  // A second store, as another process would have, listening for invalidations.
  const redis = createRedisConnection({ url: testEnvironment().REDIS_URL!, role: 'worker' });
  const subscriber = createRedisConnection({ url: testEnvironment().REDIS_URL!, role: 'worker' });
  const other = new TemplateStore({ db: engine.t.db, logger: createLogger({ service: 'other', level: 'silent' }), redis, subscriber, prefix: engine.prefix, recheckMs: 3_600_000 });
  try {
    await other.listen();
    expect((await other.get('reminder')).version.version).toBe(1);
    const publisher = new TemplateStore({ db: engine.t.db, logger: createLogger({ service: 'publisher', level: 'silent' }), redis, prefix: engine.prefix });
    const { template, published } = await publisher.publish({
      messageType: 'reminder', channel: 'email', language: 'en', subject: 'New reminder subject for {{eventName}}', body: reminder.mjml, textBody: reminder.text, requiredVariables: reminder.requiredVariables,
    });
    expect(published).toBe(true);
    expect(template.version).toBe(2);
    // Publishing the same content again is a no-op (seeding on every start relies on it).
    expect((await publisher.publish({ messageType: 'reminder', channel: 'email', language: 'en', subject: 'New reminder subject for {{eventName}}', body: reminder.mjml, textBody: reminder.text, requiredVariables: reminder.requiredVariables })).published).toBe(false);
    await waitFor(async () => ((await other.get('reminder')).version.version === 2 ? true : undefined), { timeoutMs: 5_000 });

    // The engine's worker has a store of its own without a subscriber: drop its entry, as the
    // invalidation message would.
    engine.templates!.clear();
    const id = await engine.send({ email: 'versions@example.com', messageType: 'reminder', variables: samples.get('reminder')! });
    expect(await engine.finished(id)).toMatchObject({ status: 'sent', template_version: 2, template_id: template.id });
    expect((await mailFor(id)).subject).toBe(`New reminder subject for ${String(samples.get('reminder')!.eventName)}`);
    // The compiled HTML is cached in Redis under the version's id, without expiry.
    expect(await redis.ttl(`${engine.prefix}:template:${template.id}:html`)).toBe(-1);
  } finally {
    await redis.quit();
    await subscriber.quit();
  }
});
