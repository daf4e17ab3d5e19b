import net from 'node:net';
import { randomUUID } from 'node:crypto';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { createLogger } from '@crm/observability';
import { waitFor } from '@crm/testing';
import { FaultStore, Mailbox, SmtpStats, startSandbox, startSmtpServer, type MailboxMessage, type Sandbox } from '@crm/sandbox';

/** Log lines, parsed, so tests can check what fault changes log. */
const logLines: Record<string, unknown>[] = [];
const logger = createLogger({
  service: 'sandbox-faults-test',
  level: 'info',
  destination: { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) },
});

async function send(port: number, mail: SendMailOptions = {}, auth = true): Promise<SMTPTransport.SentMessageInfo> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    connectionTimeout: 2_000,
    ...(auth ? { auth: { user: 'sandbox-user', pass: 'anything' } } : {}),
  });
  try {
    return await transport.sendMail({ from: 'CRM <noreply@crm.test>', to: 'ada@example.com', subject: 'Hello', text: 'Hi', ...mail });
  } finally {
    transport.close();
  }
}

interface ApiAnswer {
  readonly status: number;
  readonly contentType: string | null;
  readonly body: unknown;
}

async function api(sandbox: Sandbox, method: string, path: string, body?: unknown, rawBody?: string): Promise<ApiAnswer> {
  const payload = rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
  const response = await fetch(`${sandbox.httpUrl}${path}`, {
    method,
    ...(payload !== undefined && { body: payload, headers: { 'content-type': 'application/json' } }),
  });
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get('content-type'), body: text === '' ? null : (JSON.parse(text) as unknown) };
}

/** A hand-driven SMTP session over a raw socket: to hang up at a chosen moment. */
function rawSession(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setEncoding('utf8');
  socket.on('error', () => undefined);
  const pending: ((line: string) => void)[] = [];
  let buffered = '';
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\r\n'); end >= 0; end = buffered.indexOf('\r\n')) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      // The last line of a reply: code and a space.
      if (/^\d{3} /.test(line)) pending.shift()?.(line);
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const reply = (): Promise<string> => new Promise((resolve) => pending.push(resolve));
  const greeting = reply();
  return {
    socket,
    closed,
    greeting,
    command: (line: string): Promise<string> => {
      const answer = reply();
      socket.write(`${line}\r\n`);
      return answer;
    },
    /** Sends the message and the final dot; returns the promise of the reply to it. */
    data: (message: string): Promise<string> => {
      const answer = reply();
      socket.write(`${message.replace(/\n/g, '\r\n')}\r\n.\r\n`);
      return answer;
    },
  };
}

const messagesOf = (answer: ApiAnswer): MailboxMessage[] => (answer.body as { messages: MailboxMessage[] }).messages;

describe('sandbox fault knobs over HTTP', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ logger });
  });
  afterAll(() => sandbox.stop());
  beforeEach(async () => {
    await api(sandbox, 'DELETE', '/admin/faults');
    await api(sandbox, 'DELETE', '/smtp/messages');
    logLines.length = 0;
  });

  const normal = { errorCode: null, errorRate: 0, latencyMs: 0, outage: false };

  it('GET /admin/faults lists every channel, normal at first', async () => {
    expect(await api(sandbox, 'GET', '/admin/faults')).toMatchObject({ status: 200, body: { email: normal, sms: normal, whatsapp: normal } });
  });

  it('PUT sets a channel (errorRate 1 by default with an errorCode), logs it, DELETE resets', async () => {
    const put = await api(sandbox, 'PUT', '/admin/faults/email', { errorCode: 451 });
    expect(put).toMatchObject({ status: 200, body: { errorCode: 451, errorRate: 1, latencyMs: 0, outage: false } });
    expect(sandbox.faults.get('email')).toEqual({ errorCode: 451, errorRate: 1, latencyMs: 0, outage: false });
    expect(logLines).toContainEqual(expect.objectContaining({ level: 'info', msg: 'sandbox fault set', channel: 'email', fault: put.body }));

    expect(await api(sandbox, 'PUT', '/admin/faults/sms', { errorCode: '21611', errorRate: 0.25, latencyMs: 300 })).toMatchObject({
      status: 200,
      body: { errorCode: '21611', errorRate: 0.25, latencyMs: 300, outage: false },
    });
    expect(await api(sandbox, 'PUT', '/admin/faults/whatsapp', { errorCode: 131056, outage: true })).toMatchObject({
      status: 200,
      body: { errorCode: 131056, errorRate: 1, latencyMs: 0, outage: true },
    });
    // PUT replaces the whole setting: fields left out are normal.
    expect(await api(sandbox, 'PUT', '/admin/faults/email', { latencyMs: 10 })).toMatchObject({ status: 200, body: { ...normal, latencyMs: 10 } });
    expect(await api(sandbox, 'GET', '/admin/faults/sms')).toMatchObject({ status: 200, body: { errorCode: '21611' } });

    const deleted = await api(sandbox, 'DELETE', '/admin/faults/email');
    expect(deleted).toEqual({ status: 204, contentType: null, body: null });
    expect(logLines).toContainEqual(expect.objectContaining({ level: 'info', msg: 'sandbox fault cleared', channel: 'email' }));
    expect(await api(sandbox, 'GET', '/admin/faults')).toMatchObject({ body: { email: normal, sms: { errorCode: '21611' }, whatsapp: { outage: true } } });

    expect((await api(sandbox, 'DELETE', '/admin/faults')).status).toBe(204);
    expect(await api(sandbox, 'GET', '/admin/faults')).toMatchObject({ body: { email: normal, sms: normal, whatsapp: normal } });
  });

  it.each([
    ['errorRate above 1', { errorCode: 451, errorRate: 1.5 }, 'body/errorRate'],
    ['negative errorRate', { errorCode: 451, errorRate: -0.1 }, 'body/errorRate'],
    ['errorRate without errorCode', { errorRate: 0.5 }, 'body/errorRate'],
    ['a 2xx errorCode', { errorCode: 250 }, 'body/errorCode'],
    ['a 6xx errorCode', { errorCode: 600 }, 'body/errorCode'],
    ['a string errorCode for email', { errorCode: '451' }, 'body/errorCode'],
    ['a fractional errorCode', { errorCode: 451.5 }, 'body/errorCode'],
    ['latencyMs over 120000', { latencyMs: 120_001 }, 'body/latencyMs'],
    ['negative latencyMs', { latencyMs: -1 }, 'body/latencyMs'],
    ['fractional latencyMs', { latencyMs: 1.5 }, 'body/latencyMs'],
    ['a string outage', { outage: 'yes' }, 'body/outage'],
    ['an unknown field', { errorCode: 451, extra: 1 }, 'body/extra'],
    ['an array', [451], 'body'],
  ])('PUT with %s is a 400 problem naming the field, and changes nothing', async (_case, payload, field) => {
    await api(sandbox, 'PUT', '/admin/faults/email', { latencyMs: 5 });
    const answer = await api(sandbox, 'PUT', '/admin/faults/email', payload);
    expect(answer.status).toBe(400);
    expect(answer.contentType).toMatch(/^application\/problem\+json/);
    expect(answer.body).toEqual({ type: 'about:blank', title: 'Bad Request', status: 400, detail: expect.stringContaining(field) });
    expect(sandbox.faults.get('email')).toEqual({ ...normal, latencyMs: 5 });
  });

  it('PUT with no body or broken JSON is a 400 problem', async () => {
    for (const [body, raw] of [[undefined, '{"errorCode":'], [undefined, '']] as const) {
      const answer = await api(sandbox, 'PUT', '/admin/faults/email', body, raw);
      expect(answer.status).toBe(400);
      expect(answer.contentType).toMatch(/^application\/problem\+json/);
    }
    const missing = await fetch(`${sandbox.httpUrl}/admin/faults/email`, { method: 'PUT' });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ status: 400, detail: expect.stringContaining('body') });
    expect(sandbox.faults.get('email')).toEqual(normal);
  });

  it('an unknown channel is a 404 problem', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const answer = await api(sandbox, method, '/admin/faults/pigeon', method === 'PUT' ? { outage: true } : undefined);
      expect(answer.status).toBe(404);
      expect(answer.contentType).toMatch(/^application\/problem\+json/);
      expect(answer.body).toMatchObject({ title: 'Not Found', status: 404, detail: expect.stringContaining('email, sms and whatsapp') });
    }
  });

  it('GET /smtp/messages?communicationId= filters on X-CRM-Communication-Id; /smtp/stats counts; DELETE resets both', async () => {
    const [first, second] = [randomUUID(), randomUUID()];
    await send(sandbox.smtpPort, { subject: 'one', headers: { 'X-CRM-Communication-Id': first } });
    await send(sandbox.smtpPort, { subject: 'two', headers: { 'X-CRM-Communication-Id': second } });
    await send(sandbox.smtpPort, { subject: 'one again', headers: { 'X-CRM-Communication-Id': first } });
    await expect(send(sandbox.smtpPort, { to: 'bounce@example.com' })).rejects.toMatchObject({ responseCode: 550 });

    const matching = await api(sandbox, 'GET', `/smtp/messages?communicationId=${first.toUpperCase()}`);
    expect(matching.status).toBe(200);
    expect(messagesOf(matching).map((m) => m.subject)).toEqual(['one again', 'one']);
    expect(messagesOf(await api(sandbox, 'GET', `/smtp/messages?communicationId=${randomUUID()}`))).toEqual([]);
    const bad = await api(sandbox, 'GET', '/smtp/messages?communicationId=not-a-uuid');
    expect(bad).toMatchObject({ status: 400, body: { detail: expect.stringContaining('querystring/communicationId') } });
    expect(await api(sandbox, 'GET', '/smtp/messages?colour=red')).toMatchObject({ status: 400, body: { detail: 'querystring/colour: is not a known field' } });

    expect(await api(sandbox, 'GET', '/smtp/stats')).toEqual({ status: 200, contentType: expect.stringMatching(/^application\/json/), body: { received: 3, refused: 1, dropped: 0 } });
    expect((await api(sandbox, 'DELETE', '/smtp/messages')).status).toBe(204);
    expect(await api(sandbox, 'GET', '/smtp/stats')).toMatchObject({ body: { received: 0, refused: 0, dropped: 0 } });
    expect(messagesOf(await api(sandbox, 'GET', '/smtp/messages'))).toEqual([]);
  });
});

describe('sandbox fault knobs over SMTP', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ logger });
  });
  afterAll(() => sandbox.stop());
  beforeEach(async () => {
    await api(sandbox, 'DELETE', '/admin/faults');
    await api(sandbox, 'DELETE', '/smtp/messages');
  });

  const stats = async (): Promise<unknown> => (await api(sandbox, 'GET', '/smtp/stats')).body;

  it('outage: new connections are reset, open sessions end; clearing it restores service', async () => {
    const open = rawSession(sandbox.smtpPort);
    expect(await open.greeting).toMatch(/^220 /);

    expect((await api(sandbox, 'PUT', '/admin/faults/email', { outage: true })).status).toBe(200);
    await open.closed; // the open session was reset
    await expect(send(sandbox.smtpPort)).rejects.toMatchObject({ code: expect.stringMatching(/^(ECONNECTION|ESOCKET|ECONNRESET)$/) });
    expect(sandbox.mailbox.size).toBe(0);

    expect((await api(sandbox, 'DELETE', '/admin/faults/email')).status).toBe(204);
    expect((await send(sandbox.smtpPort)).response).toMatch(/^250 /);
    expect(sandbox.mailbox.size).toBe(1);
  });

  it('errorCode 451 at rate 1 refuses every message with 451 at the end of DATA, named as a sandbox fault', async () => {
    await api(sandbox, 'PUT', '/admin/faults/email', { errorCode: 451 });
    for (let i = 0; i < 3; i++) {
      await expect(send(sandbox.smtpPort)).rejects.toMatchObject({
        responseCode: 451,
        command: 'DATA',
        response: expect.stringMatching(/^451 4\.3\.0 .*sandbox fault 451/),
      });
    }
    expect(sandbox.mailbox.size).toBe(0);
    expect(await stats()).toEqual({ received: 0, refused: 3, dropped: 0 });
  });

  it('errorCode at rate 0 refuses nothing', async () => {
    await api(sandbox, 'PUT', '/admin/faults/email', { errorCode: 550, errorRate: 0 });
    for (let i = 0; i < 3; i++) expect((await send(sandbox.smtpPort)).response).toMatch(/^250 OK: queued as /);
    expect(await stats()).toEqual({ received: 3, refused: 0, dropped: 0 });
  });

  it('errorCode 550 is a permanent refusal; 421 also closes the session', async () => {
    await api(sandbox, 'PUT', '/admin/faults/email', { errorCode: 550 });
    await expect(send(sandbox.smtpPort)).rejects.toMatchObject({ responseCode: 550, response: expect.stringContaining('sandbox fault 550') });
    await api(sandbox, 'PUT', '/admin/faults/email', { errorCode: 421 });
    const session = rawSession(sandbox.smtpPort);
    await session.greeting;
    await session.command('EHLO client.test');
    await session.command('MAIL FROM:<noreply@crm.test>');
    await session.command('RCPT TO:<ada@example.com>');
    expect(await session.command('DATA')).toMatch(/^354 /);
    expect(await session.data('Subject: hi\n\nbody')).toMatch(/^421 4\.3\.2 .*sandbox fault 421/);
    await session.closed;
    expect(sandbox.mailbox.size).toBe(0);
  });

  it('535 is answered to AUTH, or to MAIL FROM for a client that does not authenticate', async () => {
    await api(sandbox, 'PUT', '/admin/faults/email', { errorCode: 535 });
    await expect(send(sandbox.smtpPort)).rejects.toMatchObject({ code: 'EAUTH', responseCode: 535, response: expect.stringContaining('sandbox fault 535') });
    await expect(send(sandbox.smtpPort, {}, false)).rejects.toMatchObject({ responseCode: 535, command: 'MAIL FROM' });
    expect(sandbox.mailbox.size).toBe(0);
    expect(await stats()).toEqual({ received: 0, refused: 2, dropped: 0 });
    await api(sandbox, 'DELETE', '/admin/faults/email');
    expect((await send(sandbox.smtpPort)).response).toMatch(/^250 /);
  });

  it('latencyMs holds back the 250 after DATA; the message is stored once answered', async () => {
    await api(sandbox, 'PUT', '/admin/faults/email', { latencyMs: 600 });
    const id = randomUUID();
    const started = Date.now();
    const info = await send(sandbox.smtpPort, { headers: { 'X-CRM-Communication-Id': id } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
    expect(info.response).toMatch(/^250 OK: queued as /);
    expect(messagesOf(await api(sandbox, 'GET', `/smtp/messages?communicationId=${id}`))).toHaveLength(1);
    expect(await stats()).toEqual({ received: 1, refused: 0, dropped: 0 });
  });

  it('a client that hangs up during the latency never gets its message stored: counted dropped', async () => {
    await api(sandbox, 'PUT', '/admin/faults/email', { latencyMs: 1_000 });
    const id = randomUUID();
    const session = rawSession(sandbox.smtpPort);
    await session.greeting;
    await session.command('EHLO client.test');
    expect(await session.command('MAIL FROM:<noreply@crm.test>')).toMatch(/^250 /);
    expect(await session.command('RCPT TO:<ada@example.com>')).toMatch(/^250 /);
    expect(await session.command('DATA')).toMatch(/^354 /);
    const answered = jest.fn();
    void session.data(`Subject: crash test\nX-CRM-Communication-Id: ${id}\n\nsent by a worker about to be killed`).then(answered);
    await new Promise((resolve) => setTimeout(resolve, 150));
    session.socket.destroy(); // as if the worker were SIGKILLed mid-send

    await waitFor(async () => ((await stats()) as { dropped: number }).dropped === 1, { timeoutMs: 3_000, message: 'the drop to be counted' });
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // past the latency
    expect(answered).not.toHaveBeenCalled();
    expect(sandbox.mailbox.size).toBe(0);
    expect(messagesOf(await api(sandbox, 'GET', `/smtp/messages?communicationId=${id}`))).toEqual([]);
    expect(await stats()).toEqual({ received: 0, refused: 0, dropped: 1 });
  });

  it('an outage starting during the latency drops the held message', async () => {
    await api(sandbox, 'PUT', '/admin/faults/email', { latencyMs: 5_000 });
    const sending = send(sandbox.smtpPort);
    await new Promise((resolve) => setTimeout(resolve, 500)); // the message is sent, its 250 held back
    await api(sandbox, 'PUT', '/admin/faults/email', { outage: true });
    await expect(sending).rejects.toMatchObject({ code: expect.stringMatching(/^(ECONNECTION|ESOCKET|ECONNRESET)$/) });
    await waitFor(() => sandbox.smtpStats.dropped === 1, { timeoutMs: 2_000, message: 'the drop to be counted' });
    expect(sandbox.mailbox.size).toBe(0);
  });

  it('keeps the bounce/defer simulator, counted as refused', async () => {
    await expect(send(sandbox.smtpPort, { to: 'bounce-1@example.com' })).rejects.toMatchObject({ responseCode: 550 });
    await expect(send(sandbox.smtpPort, { to: 'defer-1@example.com' })).rejects.toMatchObject({ responseCode: 451 });
    expect(await stats()).toEqual({ received: 0, refused: 2, dropped: 0 });
  });
});

describe('startSmtpServer with an injected random source', () => {
  it('refuses exactly the messages whose draw is below errorRate', async () => {
    const draws = [0.1, 0.9, 0.49, 0.5, 0.7];
    const random = jest.fn(() => draws.shift() ?? 1);
    const faults = new FaultStore();
    const stats = new SmtpStats();
    const mailbox = new Mailbox();
    const smtp = await startSmtpServer({ host: '127.0.0.1', port: 0, mailbox, logger, faults, stats, random });
    try {
      faults.set('email', { errorCode: 452, errorRate: 0.5, latencyMs: 0, outage: false });
      const outcomes: (number | string)[] = [];
      for (let i = 0; i < 5; i++) {
        outcomes.push(await send(smtp.port, { subject: `m${i}` }).then(() => 250, (error: { responseCode?: number }) => error.responseCode ?? 'error'));
      }
      expect(outcomes).toEqual([452, 250, 452, 250, 250]);
      expect(random).toHaveBeenCalledTimes(5);
      expect(stats.snapshot()).toEqual({ received: 3, refused: 2, dropped: 0 });
      expect(mailbox.list().map((m) => m.subject)).toEqual(['m4', 'm3', 'm1']);
      expect((await mailbox.messages({ limit: 1 }))[0]).toMatchObject({ subject: 'm4', text: 'Hi\n' });
    } finally {
      await smtp.close();
    }
  });
});
