import { createHash } from 'node:crypto';
import net from 'node:net';
import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { createLogger } from '@crm/observability';
import {
  Mailbox,
  MailboxWaitTimeoutError,
  startSandbox,
  startSmtpServer,
  type MailboxMessage,
  type Sandbox,
} from '@crm/sandbox';

const logger = createLogger({ service: 'sandbox-test', level: 'silent' });

const pdf = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');

const transportFor = (port: number, auth = true): Transporter<SMTPTransport.SentMessageInfo> =>
  nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    ...(auth ? { auth: { user: 'sandbox-user', pass: 'anything' } } : {}),
  });

async function send(port: number, mail: SendMailOptions, auth = true): Promise<SMTPTransport.SentMessageInfo> {
  const transport = transportFor(port, auth);
  try {
    return await transport.sendMail({ from: 'CRM <noreply@crm.test>', to: 'ada@example.com', subject: 'Hello', text: 'Hi', ...mail });
  } finally {
    transport.close();
  }
}

async function getJson(url: string): Promise<{ status: number; contentType: string | null; body: unknown }> {
  const response = await fetch(url);
  return { status: response.status, contentType: response.headers.get('content-type'), body: await response.json() };
}

const connectionRefused = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });

describe('sandbox', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ logger, host: '127.0.0.1', smtpPort: 0, httpPort: 0 });
  });
  afterAll(() => sandbox.stop());
  beforeEach(() => sandbox.mailbox.clear());

  it('listens on ephemeral ports and answers /health', async () => {
    expect(sandbox.smtpPort).toBeGreaterThan(0);
    expect(sandbox.httpPort).toBeGreaterThan(0);
    expect(sandbox.httpUrl).toBe(`http://127.0.0.1:${sandbox.httpPort}`);
    expect(await getJson(`${sandbox.httpUrl}/health`)).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('stores what nodemailer sends and serves it over HTTP', async () => {
    const info = await send(sandbox.smtpPort, {
      to: ['Ada Lovelace <ada@example.com>', 'bob@example.com'],
      cc: 'carol@example.com',
      bcc: 'audit@crm.test',
      subject: 'Résumé – budget €',
      text: 'Your budget is ready.\n',
      html: '<p>Your budget is <b>ready</b>.</p>',
      headers: { 'X-Communication-Id': 'comm-123' },
      attachments: [{ filename: 'budget.pdf', content: pdf, contentType: 'application/pdf' }],
    });
    expect(info.response).toMatch(/^250 OK: queued as [0-9a-f-]{36}$/);
    const id = info.response.split(' ').pop() ?? '';

    const list = await getJson(`${sandbox.httpUrl}/smtp/messages`);
    expect(list.status).toBe(200);
    const { messages } = list.body as { messages: MailboxMessage[] };
    expect(messages).toHaveLength(1);
    const message = messages[0];
    expect(message).toMatchObject({
      id,
      envelope: {
        from: 'noreply@crm.test',
        to: ['ada@example.com', 'bob@example.com', 'carol@example.com', 'audit@crm.test'],
      },
      from: 'CRM <noreply@crm.test>',
      to: ['ada@example.com', 'bob@example.com'],
      subject: 'Résumé – budget €',
      text: 'Your budget is ready.\n',
      html: '<p>Your budget is <b>ready</b>.</p>',
      messageId: info.messageId,
    });
    expect(Date.parse(message?.receivedAt ?? '')).not.toBeNaN();
    expect(message?.size).toBeGreaterThan(pdf.length);
    expect(message?.headers).toMatchObject({
      'x-communication-id': 'comm-123',
      subject: 'Résumé – budget €',
      'message-id': info.messageId,
      cc: 'carol@example.com',
    });
    expect(message?.headers).not.toHaveProperty('bcc');
    expect(message?.headers['content-type']).toMatch(/^multipart\/mixed/);
    expect(message?.attachments).toEqual([
      {
        filename: 'budget.pdf',
        contentType: 'application/pdf',
        size: pdf.length,
        sha256: createHash('sha256').update(pdf).digest('hex'),
        content: pdf.toString('base64'),
      },
    ]);

    const one = await getJson(`${sandbox.httpUrl}/smtp/messages/${id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(message);
  });

  it('accepts mail without AUTH and lists newest first, filtered by recipient', async () => {
    await send(sandbox.smtpPort, { to: 'ada@example.com', subject: 'first' }, false);
    await send(sandbox.smtpPort, { to: 'bob@example.com', subject: 'second' });
    await send(sandbox.smtpPort, { to: 'ADA@example.com', subject: 'third' });

    const all = await getJson(`${sandbox.httpUrl}/smtp/messages`);
    expect((all.body as { messages: MailboxMessage[] }).messages.map((m) => m.subject)).toEqual(['third', 'second', 'first']);
    const ada = await getJson(`${sandbox.httpUrl}/smtp/messages?to=ada%40example.com`);
    expect((ada.body as { messages: MailboxMessage[] }).messages.map((m) => m.subject)).toEqual(['third', 'first']);
    const limited = await getJson(`${sandbox.httpUrl}/smtp/messages?limit=1`);
    expect((limited.body as { messages: MailboxMessage[] }).messages.map((m) => m.subject)).toEqual(['third']);
  });

  it('DELETE /smtp/messages empties the mailbox', async () => {
    await send(sandbox.smtpPort, {});
    expect(sandbox.mailbox.size).toBe(1);
    const response = await fetch(`${sandbox.httpUrl}/smtp/messages`, { method: 'DELETE' });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
    expect(await getJson(`${sandbox.httpUrl}/smtp/messages`)).toMatchObject({ status: 200, body: { messages: [] } });
  });

  it.each(['abc', '0', '1001', '2.5'])('answers limit=%s with 400 problem+json', async (limit) => {
    const { status, contentType, body } = await getJson(`${sandbox.httpUrl}/smtp/messages?limit=${limit}`);
    expect(status).toBe(400);
    expect(contentType).toMatch(/^application\/problem\+json/);
    expect(body).toEqual({ type: 'about:blank', title: 'Bad Request', status: 400, detail: expect.stringContaining('limit') });
  });

  it('answers an unknown message id or route with 404 problem+json', async () => {
    const unknown = await getJson(`${sandbox.httpUrl}/smtp/messages/00000000-0000-4000-8000-000000000000`);
    expect(unknown.status).toBe(404);
    expect(unknown.contentType).toMatch(/^application\/problem\+json/);
    expect(unknown.body).toEqual({ type: 'about:blank', title: 'Not Found', status: 404, detail: expect.any(String) });
    const route = await getJson(`${sandbox.httpUrl}/nowhere`);
    expect(route).toMatchObject({ status: 404, body: { status: 404, title: 'Not Found' } });
    expect(route.contentType).toMatch(/^application\/problem\+json/);
  });

  it('waitFor resolves when a matching message arrives, and times out otherwise', async () => {
    const arrived = sandbox.mailbox.waitFor((m) => m.headers['x-communication-id'] === 'comm-wait', 5_000);
    await send(sandbox.smtpPort, { subject: 'unrelated' });
    await send(sandbox.smtpPort, { subject: 'awaited', headers: { 'X-Communication-Id': 'comm-wait' } });
    expect((await arrived).subject).toBe('awaited');
    // Already stored: resolves at once.
    expect((await sandbox.mailbox.waitFor((m) => m.subject === 'unrelated', 50)).subject).toBe('unrelated');
    await expect(sandbox.mailbox.waitFor((m) => m.subject === 'never', 50)).rejects.toBeInstanceOf(MailboxWaitTimeoutError);
  });
});

describe('sandbox lifecycle', () => {
  it('keeps only the newest `capacity` messages', async () => {
    const sandbox = await startSandbox({ logger, capacity: 2 });
    try {
      for (const subject of ['one', 'two', 'three']) await send(sandbox.smtpPort, { subject });
      const { body } = await getJson(`${sandbox.httpUrl}/smtp/messages`);
      expect((body as { messages: MailboxMessage[] }).messages.map((m) => m.subject)).toEqual(['three', 'two']);
    } finally {
      await sandbox.stop();
    }
  });

  it('stop() releases both ports', async () => {
    const sandbox = await startSandbox({ logger });
    await send(sandbox.smtpPort, {});
    await fetch(`${sandbox.httpUrl}/health`);
    await sandbox.stop();
    await sandbox.stop(); // idempotent
    expect(await connectionRefused(sandbox.smtpPort)).toBe(true);
    expect(await connectionRefused(sandbox.httpPort)).toBe(true);
    await expect(fetch(`${sandbox.httpUrl}/health`)).rejects.toThrow();
  });

  it('rejects bad options before listening', async () => {
    await expect(startSandbox({ logger, smtpPort: 70_000 })).rejects.toThrow(RangeError);
    await expect(startSandbox({ logger, capacity: 0 })).rejects.toThrow(RangeError);
  });
});

describe('startSmtpServer', () => {
  it('refuses a message over the size limit with 552', async () => {
    const mailbox = new Mailbox();
    const smtp = await startSmtpServer({ host: '127.0.0.1', port: 0, mailbox, logger, sizeLimitBytes: 10_000 });
    try {
      await expect(send(smtp.port, { text: 'x'.repeat(20_000) })).rejects.toMatchObject({ responseCode: 552 });
      expect(mailbox.size).toBe(0);
      await send(smtp.port, { text: 'small' });
      expect(mailbox.size).toBe(1);
    } finally {
      await smtp.close();
    }
  });
});
