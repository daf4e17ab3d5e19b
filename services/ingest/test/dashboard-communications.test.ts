import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import type { MessageChannel } from '@crm/core';
import { CommunicationRepository, moveCommunication } from '@crm/db';
import { startTestIngest, type TestIngest } from './support/test-ingest';
import { browserAccept, operatorBasic, testOperator } from './support/operator';

// The dashboard's communications screens against a real database: the search form (filters,
// validation beside each field, cursor paging) and one communication's timeline.
const operator = testOperator;
const basic = operatorBasic;
const browser = browserAccept;
let ingest: TestIngest;

beforeAll(async () => {
  ingest = await startTestIngest('ingest-dashboard-communications-test', { operator });
});
afterAll(() => ingest.close());

const get = (url: string, headers: Record<string, string> = { ...basic, ...browser }) => ingest.app.inject({ method: 'GET', url, headers });

/** The page's text without tags and with the entities the tests look for decoded. */
const textOf = (response: LightMyRequestResponse): string =>
  response.body.replace(/<[^>]+>/g, '').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/\s+/g, ' ');

/** Communication ids in the result table, in page order. */
const resultIds = (response: LightMyRequestResponse): string[] =>
  [...response.body.matchAll(/<td><a href="\/dashboard\/communications\/([0-9a-f-]{36})">/g)].map((m) => m[1]!);

/** Stores a communication created at `createdAt`, moved to `status` on `channel` with the repository. */
async function stored(input: { clientId: string; planId?: string; createdAt: string; channel?: MessageChannel; status?: 'queued' | 'sent' | 'failed'; variables?: Record<string, string> }): Promise<string> {
  const db = ingest.t.db;
  const { communication } = await CommunicationRepository.save(db, {
    clientId: input.clientId, planId: input.planId ?? 'plan-1', messageType: 'reminder', urgency: 'normal', requestedChannel: null,
    sendAt: null, variables: input.variables ?? { clientName: 'Ada' }, metadata: {}, idempotencyKey: null, requestHash: null,
  });
  const id = communication.id;
  if (input.channel) {
    await CommunicationRepository.updateStatus(db, { id, to: 'queued', channel: input.channel, attempt: 1, strategyReason: 'preferred channel' });
    if (input.status === 'sent' || input.status === 'failed') {
      await CommunicationRepository.updateStatus(db, { id, to: 'sending', channel: input.channel, attempt: 1, event: 'attempt_started', provider: 'sandbox' });
      await CommunicationRepository.updateStatus(db, input.status === 'sent'
        ? { id, to: 'sent', event: 'attempt_succeeded', channel: input.channel, attempt: 1, provider: 'sandbox', providerMessageId: `pm-${id.slice(0, 8)}`, latencyMs: 42 }
        : { id, to: 'failed', event: 'attempt_failed', channel: input.channel, attempt: 1, provider: 'sandbox', failureReason: 'all_channels_failed', error: { message: 'refused', code: '550', category: 'permanent' } });
    }
  }
  await db.updateTable('crm_communications').set({ created_at: input.createdAt }).where('id', '=', id).execute();
  return id;
}

// Client search-a: four communications over three UTC days; search-b: one on another plan.
const ids: Record<string, string> = {};
beforeAll(async () => {
  ids.a1 = await stored({ clientId: 'search-a', createdAt: '2026-11-01T10:00:00Z', channel: 'email', status: 'sent' });
  ids.a2 = await stored({ clientId: 'search-a', createdAt: '2026-11-02T23:59:59Z', channel: 'sms', status: 'failed' });
  ids.a3 = await stored({ clientId: 'search-a', createdAt: '2026-11-03T00:00:00Z', channel: 'whatsapp', status: 'queued' });
  ids.a4 = await stored({ clientId: 'search-a', createdAt: '2026-11-03T12:00:00Z' });
  ids.b1 = await stored({ clientId: 'search-b', planId: 'plan-2', createdAt: '2026-11-02T08:00:00Z', channel: 'email', status: 'sent' });
});

describe('GET /dashboard/communications', () => {
  it('shows the search form with a label for every field and every status, and the newest communications first', async () => {
    const response = await get('/dashboard/communications?clientId=search-a');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['content-security-policy']).toContain("script-src 'self'");
    const page = response.body;
    expect(page).toContain('<form method="get" action="/dashboard/communications" class="filters"');
    for (const [name, label] of [['planId', 'Plan id'], ['clientId', 'Client id'], ['channel', 'Channel'], ['status', 'Status'], ['from', 'From (UTC day)'], ['to', 'To (UTC day, included)']]) {
      expect(page).toContain(`<label for="${name}">${label}</label>`);
    }
    expect(page).toMatch(/<input id="from" name="from" type="date"/);
    expect(page).toMatch(/<input id="to" name="to" type="date"/);
    expect(page).toMatch(/<input id="clientId" name="clientId" type="text" value="search-a"/);
    for (const status of ['pending', 'scheduled', 'batched', 'queued', 'sending', 'sent', 'delivered', 'opened', 'clicked', 'responded', 'failed', 'cancelled', 'bounced']) {
      expect(page).toContain(`<option value="${status}">${status}</option>`);
    }
    expect(page).toContain('<option value="">any</option><option value="email">email</option><option value="sms">sms</option><option value="whatsapp">whatsapp</option>');
    expect(page).toContain('<a href="/dashboard/communications" aria-current="page">Communications</a>');
    expect(page).toMatch(/<caption>4 communications, newest first<\/caption>/);
    expect(page).toContain('<th scope="col">Channels tried</th>');
    expect(resultIds(response)).toEqual([ids.a4, ids.a3, ids.a2, ids.a1]);
    expect(page).toContain('<span class="badge ok">sent</span>');
    expect(page).toContain('<span class="badge bad">failed</span>');
    expect(page).toContain('<span class="badge wait">queued</span>');
    expect(page).toContain('<span class="badge wait">pending</span>');
    expect(page).toContain(`<a href="/dashboard/communications/${ids.a1}"><time datetime="2026-11-01T10:00:00.000Z">2026-11-01 10:00:00 UTC</time></a>`);
    expect(page).not.toContain('Next page');
  });

  it('filters by plan, channel, status and UTC days (both included), alone and together', async () => {
    expect(resultIds(await get('/dashboard/communications?planId=plan-2'))).toEqual([ids.b1]);
    expect(resultIds(await get('/dashboard/communications?clientId=search-a&channel=sms'))).toEqual([ids.a2]);
    expect(resultIds(await get('/dashboard/communications?channel=email'))).toEqual([ids.b1, ids.a1]);
    expect(resultIds(await get('/dashboard/communications?status=sent'))).toEqual([ids.b1, ids.a1]);
    expect(resultIds(await get('/dashboard/communications?clientId=search-a&status=pending'))).toEqual([ids.a4]);
    // 2026-11-02 is one whole UTC day: 23:59:59 is in, 00:00 of the 3rd is not.
    expect(resultIds(await get('/dashboard/communications?from=2026-11-02&to=2026-11-02'))).toEqual([ids.a2, ids.b1]);
    expect(resultIds(await get('/dashboard/communications?from=2026-11-03'))).toEqual([ids.a4, ids.a3]);
    expect(resultIds(await get('/dashboard/communications?clientId=search-a&to=2026-11-01'))).toEqual([ids.a1]);
    // Empty fields, as a submitted form sends them, mean "any"; the selected options stay selected.
    const form = await get('/dashboard/communications?planId=&clientId=search-b&channel=email&status=&from=&to=');
    expect(form.statusCode).toBe(200);
    expect(resultIds(form)).toEqual([ids.b1]);
    expect(form.body).toContain('<option value="email" selected>email</option>');
  });

  it('pages with a "Next page" link that keeps the filters', async () => {
    const first = await get('/dashboard/communications?clientId=search-a&limit=3');
    expect(resultIds(first)).toEqual([ids.a4, ids.a3, ids.a2]);
    const next = /<a href="([^"]+)" rel="next">Next page<\/a>/.exec(first.body)?.[1]?.replace(/&amp;/g, '&');
    expect(next).toMatch(/^\/dashboard\/communications\?clientId=search-a&limit=3&cursor=/);
    const second = await get(next!);
    expect(second.statusCode).toBe(200);
    expect(resultIds(second)).toEqual([ids.a1]);
    expect(second.body).not.toContain('Next page');
    expect(second.body).toContain('<a href="/dashboard/communications?clientId=search-a&amp;limit=3">First page</a>');
    // The hidden limit keeps the page size when the form is submitted again.
    expect(second.body).toContain('<input type="hidden" name="limit" value="3">');
  });

  it('says so when nothing matches', async () => {
    const response = await get('/dashboard/communications?clientId=nobody-at-all');
    expect(response.statusCode).toBe(200);
    expect(textOf(response)).toContain('No communication matches this search.');
    expect(response.body).not.toContain('<table');
  });

  it('answers 400 with the problem beside a bad channel, status or day', async () => {
    const channel = await get('/dashboard/communications?clientId=search-a&channel=pigeon');
    expect(channel.statusCode).toBe(400);
    expect(channel.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(channel.body).toContain('<select id="channel" name="channel" aria-invalid="true" aria-describedby="channel-error">');
    expect(channel.body).toContain('<p class="field-error" id="channel-error">must be one of email, sms, whatsapp (or any)</p>');
    expect(channel.body).toContain('role="alert"');
    // The other fields keep what was typed; there is no result table.
    expect(channel.body).toMatch(/<input id="clientId" name="clientId" type="text" value="search-a"/);
    expect(channel.body).not.toContain('<table');

    const status = await get('/dashboard/communications?status=lost');
    expect(status.statusCode).toBe(400);
    expect(status.body).toContain('<p class="field-error" id="status-error">');

    const date = await get('/dashboard/communications?from=2026-13-45&to=yesterday');
    expect(date.statusCode).toBe(400);
    expect(date.body).toMatch(/<input id="from" name="from" type="date" value="2026-13-45" aria-invalid="true" aria-describedby="from-error">/);
    expect(date.body).toContain('<p class="field-error" id="from-error">must be a day as YYYY-MM-DD</p>');
    expect(date.body).toContain('<p class="field-error" id="to-error">must be a day as YYYY-MM-DD</p>');

    const order = await get('/dashboard/communications?from=2026-11-03&to=2026-11-01');
    expect(order.statusCode).toBe(400);
    expect(order.body).toContain('<p class="field-error" id="to-error">is before the “from” day</p>');
    expect(order.body).not.toContain('id="from-error"');

    const cursor = await get('/dashboard/communications?cursor=not-a-cursor');
    expect(cursor.statusCode).toBe(400);
    expect(textOf(cursor)).toContain('cursor: is not a page of this list: start again from the first page');
  });

  it('escapes a hostile client id in the form and a hostile plan id stored in a row', async () => {
    const hostile = '<script>alert(1)</script>';
    const response = await get(`/dashboard/communications?clientId=${encodeURIComponent(hostile)}`);
    expect(response.statusCode).toBe(400);
    expect(response.body).not.toContain('<script>alert');
    expect(response.body).toContain('value="&lt;script&gt;alert(1)&lt;/script&gt;"');
    expect(response.body).toContain('<p class="field-error" id="clientId-error">must be 1-128 characters');
    // The page's only scripts are our own files.
    expect([...response.body.matchAll(/<script[^>]*>/g)].map((m) => m[0])).toEqual(['<script src="/dashboard/assets/dashboard.js" defer>']);

    const id = await stored({ clientId: 'search-hostile', planId: '<img src=x onerror=alert(1)>', createdAt: '2026-10-01T00:00:00Z', variables: { note: '</pre><script>alert(2)</script>' } });
    const list = await get('/dashboard/communications?clientId=search-hostile');
    expect(list.body).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(list.body).not.toContain('<img');
    const detail = await get(`/dashboard/communications/${id}`);
    expect(detail.statusCode).toBe(200);
    expect(detail.body).not.toContain('<img');
    expect(detail.body).not.toContain('<script>alert');
    expect(detail.body).toContain('&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;');
  });

  it('sends a browser without credentials to the login form, and a script gets a 401', async () => {
    const page = await get('/dashboard/communications?clientId=search-a', browser);
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe(`/login?next=${encodeURIComponent('/dashboard/communications?clientId=search-a')}`);
    const detail = await get(`/dashboard/communications/${ids.a1}`, browser);
    expect(detail.statusCode).toBe(303);
    expect(detail.headers.location).toMatch(/^\/login\?next=/);
    const script = await get('/dashboard/communications', { accept: 'application/json' });
    expect(script.statusCode).toBe(401);
  });
});

describe('GET /dashboard/communications/:id', () => {
  /** A communication that failed on WhatsApp, fell back to SMS and was delivered there. */
  async function fallenBack(): Promise<string> {
    const db = ingest.t.db;
    const { communication } = await CommunicationRepository.save(db, {
      clientId: 'timeline-client', planId: 'plan-t', messageType: 'reminder', urgency: 'high', requestedChannel: null,
      sendAt: null, variables: { clientName: 'Grace', amount: 120 }, metadata: {}, idempotencyKey: null, requestHash: null,
    });
    const id = communication.id;
    const queued = await moveCommunication(db, {
      id, guard: { statuses: ['pending'] }, to: 'queued', event: 'status_changed', channel: 'whatsapp', channelPlan: ['whatsapp', 'sms'],
      attempt: 1, budget: 'reset', strategyReason: 'client prefers whatsapp; send now', detail: { plan: ['whatsapp', 'sms'] },
    });
    expect(queued.applied).toBe(true);
    await moveCommunication(db, { id, guard: { statuses: ['queued'] }, to: 'sending', event: 'attempt_started', attempt: 1, provider: 'whatsapp-cloud' });
    await moveCommunication(db, {
      id, guard: { statuses: ['sending'] }, to: 'queued', event: 'attempt_failed', attempt: 1, provider: 'whatsapp-cloud', awaitingFallback: true,
      error: { message: 'Message undeliverable to +14155550123 (reply to ada@example.com)', code: '131026', category: 'permanent' }, latencyMs: 87,
      detail: { action: 'fallback', reason: 'permanent' },
    });
    const fell = await moveCommunication(db, {
      id, guard: { statuses: ['queued'] }, to: 'queued', event: 'fallback', channel: 'sms', attempt: 2, logAttempt: 2, budget: 'reset', awaitingFallback: false,
      detail: { from: 'whatsapp', to: 'sms', reason: 'permanent', code: '131026' },
    });
    expect(fell.applied).toBe(true);
    await moveCommunication(db, { id, guard: { statuses: ['queued'] }, to: 'sending', event: 'attempt_started', attempt: 2, provider: 'twilio' });
    await moveCommunication(db, {
      id, guard: { statuses: ['sending'] }, to: 'sent', event: 'attempt_succeeded', attempt: 2, provider: 'twilio', providerMessageId: 'SM0123456789abcdef',
      latencyMs: 1530, detail: { status: 'queued', textTemplate: 'reminder', encoding: 'GSM-7', segments: 1 },
    });
    await moveCommunication(db, {
      id, guard: { statuses: ['sent'] }, to: 'delivered', event: 'webhook', provider: 'twilio', providerMessageId: 'SM0123456789abcdef', providerEventId: 'evt-1',
      detail: { status: 'delivered', at: '2026-11-05T10:00:03.000Z', moved: true, extra: { carrier: 'acme', to: '+14155550123' } },
    });
    return id;
  }

  it('shows the summary and the timeline, oldest first, with the fallback from/to/reason standing out', async () => {
    const id = await fallenBack();
    const response = await get(`/dashboard/communications/${id}`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-security-policy']).toContain("default-src 'none'");
    const page = response.body;
    const text = textOf(response);
    // Summary.
    for (const fact of [`Communication id${id}`, 'Clienttimeline-client', 'Planplan-t', 'Typereminder', 'Urgencyhigh', 'Statusdelivered', 'Channelsms',
      'Channel planwhatsapp → sms', 'Channels triedwhatsapp → sms', 'Attempts2 (1 on this channel)', 'Strategy reasonclient prefers whatsapp; send now',
      'Provider message idSM0123456789abcdef']) {
      expect(text).toContain(fact);
    }
    expect(text).toMatch(/Delivered\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    // Variables only inside a collapsed <details>.
    expect(page).toMatch(/<details class="variables card">\s*<summary>Template variables \(2\)<\/summary>\s*<pre>\{\n {2}&quot;amount&quot;: 120,\n {2}&quot;clientName&quot;: &quot;Grace&quot;\n\}<\/pre>/);
    expect(page).not.toMatch(/<details[^>]* open/);
    // The timeline, oldest first.
    const events = [...page.matchAll(/<span class="event">([^<]+)<\/span>/g)].map((m) => m[1]);
    expect(events).toEqual(['Accepted', 'Status changed', 'Attempt started', 'Attempt failed', 'Fallback', 'Attempt started', 'Provider accepted', 'Provider report']);
    expect(page).toMatch(/<li class="entry fallback">/);
    expect(text).toContain('Fallback whatsapp → sms (reason: permanent, code 131026)');
    expect(text).toContain('Channel plan: whatsapp → sms');
    expect(text).toContain('Gives up on this channel (reason: permanent)');
    expect(text).toContain('Errorcode 131026 · permanent · Message undeliverable to [phone] (reply to [email])');
    expect(text).toContain('Latency87 ms');
    expect(text).toContain('Latency1.53 s');
    expect(text).toContain('text template reminder; 1 segment (GSM-7)');
    expect(text).toContain('twilio reported delivered at 2026-11-05 10:00:03 UTC');
    expect(text).toContain('Provider event idevt-1');
    // A status change reads from → to; details not told in words stay as compact JSON, masked.
    expect(page).toMatch(/<span class="change"><span class="badge wait">queued<\/span> → <span class="badge wait">queued<\/span><\/span>/);
    // (jsonb keeps keys shortest first.)
    expect(text).toContain('Detail: {"extra":{"to":"[phone]","carrier":"acme"}}');
    // Never a contact detail.
    expect(page).not.toContain('+14155550123');
    expect(page).not.toContain('ada@example.com');
    // The way back to the search, and no link to the API (it needs a key).
    expect(page).toContain('<a href="/dashboard/communications?clientId=timeline-client">');
    expect(page).not.toContain('/api/crm/communications');
  });

  it('answers 400 for an id that is not a UUID and 404 for an unknown one, as HTML pages', async () => {
    const bad = await get('/dashboard/communications/not-a-uuid');
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(textOf(bad)).toContain('“not-a-uuid” is not a communication id');
    expect(bad.body).toContain('<a href="/dashboard/communications">← Search communications</a>');

    const hostile = await get(`/dashboard/communications/${encodeURIComponent('<b>x</b>')}`);
    expect(hostile.statusCode).toBe(400);
    expect(hostile.body).not.toContain('<b>x</b>');

    const unknown = randomUUID();
    const missing = await get(`/dashboard/communications/${unknown}`);
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(textOf(missing)).toContain(`There is no communication ${unknown}`);
    expect(missing.body).toContain('<h1>Communication not found</h1>');
  });
});
