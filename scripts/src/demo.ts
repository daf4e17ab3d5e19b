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
 * arriving in the sandbox mailbox with its status history. Resolves `true` when it arrived.
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
  const logs = await CommunicationRepository.listLogs(db, id);
  say(`demo: communication ${id} is ${row?.status ?? 'missing'}; its delivery log:`);
  for (const log of logs) {
    say(`        ${log.created_at.toISOString()}  ${log.event.padEnd(18)} ${log.from_status ?? '·'} → ${log.to_status ?? '·'}${log.channel ? `  ${log.channel}` : ''}`);
  }
  say(`demo: read it at ${sandbox.httpUrl}/smtp/messages`);
  return row?.status === 'sent';
}
