import type { Kysely } from 'kysely';
import { CommunicationRepository, type Database } from '@crm/db';
import type { Sandbox } from '@crm/sandbox';

export interface DemoOptions {
  readonly ingestUrl: string;
  /** An API key for `Authorization: Bearer`. */
  readonly apiKey: string;
  readonly sandbox: Sandbox;
  readonly db: Kysely<Database>;
  readonly say: (line: string) => void;
  /** @defaultValue 30000 */
  readonly timeoutMs?: number;
}

/**
 * Sends one welcome message through the public API, as a workflow node would, and shows it
 * arriving in the sandbox mailbox with its status history; then shows a channel fallback (email
 * refused by the sandbox, WhatsApp next). Resolves `true` when both ended as expected.
 */
export async function runDemo(options: DemoOptions): Promise<boolean> {
  const { ingestUrl, apiKey, sandbox, db, say, timeoutMs = 30_000 } = options;
  say('demo: POST /api/crm/communications  (welcome message for client demo-client-42)');
  const response = await fetch(`${ingestUrl}/api/crm/communications`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, 'idempotency-key': `demo-welcome-${Date.now()}` },
    body: JSON.stringify({
      clientId: 'demo-client-42',
      planId: 'demo-plan-7',
      messageType: 'welcome',
      urgency: 'normal',
      variables: { clientName: 'Ada', eventName: 'Summer gala' },
      recipient: { email: 'ada.lovelace@example.com', timezone: 'Europe/London' },
      metadata: { source: 'npm start demo' },
    }),
  });
  if (response.status !== 202) {
    say(`demo: ingest answered ${response.status}: ${await response.text()}`);
    return false;
  }
  const { id } = (await response.json()) as { id: string };
  say(`demo: accepted as communication ${id}`);
  try {
    const message = await sandbox.mailbox.waitFor((m) => m.headers['x-crm-communication-id'] === id, timeoutMs);
    say(`demo: the sandbox SMTP server received "${message.subject}" (${message.size} bytes), Message-ID ${message.messageId}`);
  } catch {
    say(`demo: the message did not reach the sandbox within ${timeoutMs / 1000} s`);
    return false;
  }
  // The status moves to `sent` right after the SMTP server's 250 reply.
  const deadline = Date.now() + timeoutMs;
  let row = await CommunicationRepository.findById(db, id);
  while (row?.status !== 'sent' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    row = await CommunicationRepository.findById(db, id);
  }
  await printLog(db, id, row?.status ?? 'missing', say);
  say(`demo: read it at ${sandbox.httpUrl}/smtp/messages`);
  if (row?.status !== 'sent') return false;
  return runFallbackDemo(options);
}

async function printLog(db: Kysely<Database>, id: string, status: string, say: (line: string) => void): Promise<void> {
  const logs = await CommunicationRepository.listLogs(db, id);
  say(`demo: communication ${id} is ${status}; its delivery log:`);
  for (const log of logs) {
    const error = log.error_code ? `  ${log.error_category ?? ''} ${log.error_code}` : '';
    say(`        ${log.created_at.toISOString()}  ${log.event.padEnd(18)} ${log.from_status ?? '·'} → ${log.to_status ?? '·'}${log.channel ? `  ${log.channel}` : ''}${error}`);
  }
}

/**
 * The sandbox's SMTP server is told to refuse every message with 550 (a fault knob of its admin
 * API); a budget summary for a client with an email address and a phone number then fails on
 * email and falls back to WhatsApp, the client's next channel.
 */
async function runFallbackDemo(options: DemoOptions): Promise<boolean> {
  const { ingestUrl, apiKey, sandbox, db, say, timeoutMs = 30_000 } = options;
  const faults = `${sandbox.httpUrl}/admin/faults/email`;
  say(`demo: PUT ${faults} {"errorCode":550}  (the SMTP server now refuses everything)`);
  await fetch(faults, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errorCode: 550 }) });
  try {
    const response = await fetch(`${ingestUrl}/api/crm/communications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, 'idempotency-key': `demo-budget-${Date.now()}` },
      body: JSON.stringify({
        clientId: 'demo-client-43',
        planId: 'demo-plan-7',
        messageType: 'budget_summary',
        variables: { clientName: 'Grace', total: 18500, currency: 'EUR' },
        recipient: { email: 'grace.hopper@example.com', phone: '+14155550143' },
      }),
    });
    if (response.status !== 202) {
      say(`demo: ingest answered ${response.status}: ${await response.text()}`);
      return false;
    }
    const { id } = (await response.json()) as { id: string };
    const deadline = Date.now() + timeoutMs;
    let row = await CommunicationRepository.findById(db, id);
    while (!['sent', 'failed'].includes(row?.status ?? '') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      row = await CommunicationRepository.findById(db, id);
    }
    await printLog(db, id, `${row?.status ?? 'missing'} on ${row?.channel ?? '-'}`, say);
    return row?.status === 'sent' && row.channel === 'whatsapp';
  } finally {
    await fetch(faults, { method: 'DELETE' });
  }
}
