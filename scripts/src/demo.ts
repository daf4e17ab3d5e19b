import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { createCrmClient } from '@crm/client';
import { CommunicationRepository, poolOf, type Database } from '@crm/db';
import { startEventReceiver, WorkflowRunner, workflowEventTypes, type WorkflowEvent } from '@crm/example-event-planning';
import type { Sandbox } from '@crm/sandbox';

export interface DemoOptions {
  readonly ingestUrl: string;
  /** An API key for `Authorization: Bearer`. */
  readonly apiKey: string;
  readonly sandbox: Sandbox;
  readonly db: Kysely<Database>;
  readonly say: (line: string) => void;
  /**
   * Where the sandbox posts its callbacks and the client's replies (PUBLIC_BASE_URL). The reply
   * demo runs only when that is this ingest. @defaultValue `ingestUrl`
   */
  readonly publicBaseUrl?: string;
  /** @defaultValue 30000 */
  readonly timeoutMs?: number;
  /** Where the event-planning workflow keeps its checkpoints. @defaultValue the database of `db` */
  readonly databaseUrl?: string;
}

/** Zones around the world, so that one of them is always in office hours and one always at night. */
const demoZones = ['Europe/London', 'Europe/Berlin', 'Asia/Dubai', 'Asia/Kolkata', 'Asia/Singapore', 'Asia/Tokyo', 'Australia/Sydney', 'Pacific/Auckland', 'America/Sao_Paulo', 'America/New_York', 'America/Los_Angeles'];

/** The first demo zone whose local hour is in [from, to) at `now`. */
export function zoneWithLocalHour(now: Date, from: number, to: number): string {
  const hourIn = (zone: string) => Number(new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', hourCycle: 'h23' }).format(now));
  return demoZones.find((zone) => hourIn(zone) >= from && hourIn(zone) < to) ?? 'UTC';
}

/**
 * Sends one welcome message through the public API, as a workflow node would, and shows it
 * arriving in the sandbox mailbox with its status history; then shows a channel fallback (email
 * refused by the sandbox, WhatsApp next), a client answering vendor options by SMS, a dry
 * run at night, and the event-planning workflow (examples/event-planning) from plan to
 * blueprint. Resolves `true` when each ended as expected.
 */
export async function runDemo(options: DemoOptions): Promise<boolean> {
  const { ingestUrl, apiKey, sandbox, db, say, timeoutMs = 30_000 } = options;
  // Quiet hours (21:00–08:00) and the SMS/WhatsApp window (08:00–20:00) are real: the demo's
  // clients live where it is office hours now, so their messages go at once.
  const zone = zoneWithLocalHour(new Date(), 10, 18);
  say(`demo: POST /api/crm/communications  (welcome message for client demo-client-42, in ${zone} where it is office hours)`);
  const response = await fetch(`${ingestUrl}/api/crm/communications`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, 'idempotency-key': `demo-welcome-${Date.now()}` },
    body: JSON.stringify({
      clientId: 'demo-client-42',
      planId: 'demo-plan-7',
      messageType: 'welcome',
      urgency: 'normal',
      variables: { clientName: 'Ada', eventName: 'Summer gala', plannerName: 'Grace' },
      recipient: { email: 'ada.lovelace@example.com', timezone: zone },
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
  const row = await waitForRow(db, id, timeoutMs, (status) => status === 'sent');
  await printLog(db, id, row?.status ?? 'missing', say);
  say(`demo: read it at ${sandbox.httpUrl}/smtp/messages`);
  if (row?.status !== 'sent') return false;
  return (await runFallbackDemo(options, zone)) && (await runReplyDemo(options, zone)) && (await runQuietHoursPreview(options)) && (await runWorkflowDemo(options, zone));
}

/** Polls the communication until `done` holds for its row (or the time is up); answers the last row read. */
async function waitForRow(db: Kysely<Database>, id: string, timeoutMs: number, done: (status: string) => boolean) {
  const deadline = Date.now() + timeoutMs;
  let row = await CommunicationRepository.findById(db, id);
  while (!done(row?.status ?? '') && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    row = await CommunicationRepository.findById(db, id);
  }
  return row;
}

/**
 * Vendor options by SMS, as the workflow's selection node sends them; the sandbox's Twilio posts
 * its signed delivery callbacks to ingest (`delivered`), then plays the client answering "2",
 * which moves the message to `responded` (and emits `client.replied` for the workflow).
 */
async function runReplyDemo(options: DemoOptions, zone: string): Promise<boolean> {
  const { ingestUrl, apiKey, sandbox, db, say, timeoutMs = 30_000 } = options;
  if (new URL(options.publicBaseUrl ?? ingestUrl).origin !== new URL(ingestUrl).origin) {
    say(`demo: reply demo skipped: PUBLIC_BASE_URL (${options.publicBaseUrl}) is not this ingest (${ingestUrl}), so provider callbacks would not reach it`);
    return true;
  }
  const phone = '+14155550145';
  say('demo: POST /api/crm/communications  (vendor options by SMS; the client answers by SMS)');
  const response = await fetch(`${ingestUrl}/api/crm/communications`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, 'idempotency-key': `demo-vendors-${Date.now()}` },
    body: JSON.stringify({
      clientId: `demo-client-45-${Date.now()}`,
      planId: 'demo-plan-7',
      messageType: 'vendor_options',
      channel: 'sms',
      variables: {
        clientName: 'Katherine', eventName: 'Summer gala',
        vendors: [{ name: 'Harbourview Hall', price: '$7,200' }, { name: 'Saffron Table Catering', price: '$54 per guest' }, { name: 'Lumen Studio', price: '$2,600' }],
      },
      recipient: { phone, timezone: zone },
    }),
  });
  if (response.status !== 202) {
    say(`demo: ingest answered ${response.status}: ${await response.text()}`);
    return false;
  }
  const { id } = (await response.json()) as { id: string };
  const sent = await waitForRow(db, id, timeoutMs, (status) => ['sent', 'delivered', 'failed'].includes(status));
  const [sms] = sandbox.sms.list({ communicationId: id, limit: 1 });
  if (sms) say(`demo: the sandbox's Twilio got ${sms.numSegments} segment: ${JSON.stringify(sms.body)}`);
  if (sandbox.callbacks.enabled) await waitForRow(db, id, timeoutMs, (status) => status === 'delivered');
  if (!sent || sent.status === 'failed') return false;
  say(`demo: the client answers "2"  (POST ${sandbox.httpUrl}/sms/inbound: a signed Twilio webhook to ${ingestUrl}/webhooks/twilio/inbound)`);
  const reply = await sandbox.inbound.sms({ from: phone, body: '2' });
  if (reply.status !== 200) {
    say(`demo: ingest answered the inbound webhook ${reply.status}`);
    return false;
  }
  const row = await waitForRow(db, id, timeoutMs, (status) => status === 'responded');
  await printLog(db, id, row?.status ?? 'missing', say);
  return row?.status === 'responded';
}

/**
 * A dry run (`POST /api/crm/communications/preview`) for a client where it is night now: the
 * answer says the message would wait for the morning, in the client's time zone.
 */
async function runQuietHoursPreview(options: DemoOptions): Promise<boolean> {
  const { ingestUrl, apiKey, say } = options;
  const zone = zoneWithLocalHour(new Date(), 0, 6);
  say(`demo: POST /api/crm/communications/preview  (a reminder for a client in ${zone}, where it is night: nothing is stored or sent)`);
  const response = await fetch(`${ingestUrl}/api/crm/communications/preview`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({
      clientId: 'demo-client-44', planId: 'demo-plan-7', messageType: 'reminder',
      recipient: { email: 'night.owl@example.com', phone: '+14155550144', timezone: zone },
    }),
  });
  if (response.status !== 200) {
    say(`demo: preview answered ${response.status}: ${await response.text()}`);
    return false;
  }
  const preview = (await response.json()) as { reason: string; channels: { channel: string; sendAt: string; reason: string }[] };
  say(`demo: channels: ${preview.reason}`);
  for (const channel of preview.channels) say(`        ${channel.channel.padEnd(9)} ${channel.sendAt}  ${channel.reason}`);
  return preview.channels.length > 0;
}

async function printLog(db: Kysely<Database>, id: string, status: string, say: (line: string) => void): Promise<void> {
  const [logs, row] = await Promise.all([CommunicationRepository.listLogs(db, id), CommunicationRepository.findById(db, id)]);
  if (row?.strategy_reason) say(`demo: strategy: ${row.strategy_reason}`);
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
async function runFallbackDemo(options: DemoOptions, zone: string): Promise<boolean> {
  const { ingestUrl, apiKey, sandbox, db, say, timeoutMs = 30_000 } = options;
  const faults = `${sandbox.httpUrl}/admin/faults/email`;
  say(`demo: PUT ${faults} {"errorCode":550}  (the SMTP server now refuses everything)`);
  await fetch(faults, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errorCode: 550 }) });
  try {
    const response = await fetch(`${ingestUrl}/api/crm/communications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, 'idempotency-key': `demo-budget-${Date.now()}` },
      body: JSON.stringify({
        // A client of its own each run: the refused address is suppressed for email (it bounced).
        clientId: `demo-client-43-${Date.now()}`,
        planId: 'demo-plan-7',
        messageType: 'budget_summary',
        variables: {
          clientName: 'Grace', eventName: 'Summer gala', total: 18500, currency: 'EUR',
          categories: [{ name: 'Venue', amount: 9000 }, { name: 'Catering', amount: 6500 }, { name: 'Music', amount: 3000 }],
        },
        recipient: { email: 'grace.hopper@example.com', phone: '+14155550143', timezone: zone },
      }),
    });
    if (response.status !== 202) {
      say(`demo: ingest answered ${response.status}: ${await response.text()}`);
      return false;
    }
    const { id } = (await response.json()) as { id: string };
    // Sent, and then (with the sandbox's callbacks) delivered and read.
    const delivered = ['sent', 'delivered', 'opened'];
    const row = await waitForRow(db, id, timeoutMs, (status) => [...delivered, 'failed'].includes(status));
    await printLog(db, id, `${row?.status ?? 'missing'} on ${row?.channel ?? '-'}`, say);
    return delivered.includes(row?.status ?? '') && row?.channel === 'whatsapp';
  } finally {
    await fetch(faults, { method: 'DELETE' });
  }
}

/** Seconds from `start` to `at`, for the timeline: `+1.234s`. */
const since = (start: number, at: number) => `+${((at - start) / 1000).toFixed(3)}s`.padStart(9);

/**
 * The event-planning workflow of examples/event-planning (a LangGraph.js StateGraph checkpointed
 * in this PostgreSQL, schema `langgraph`), run through the SDK against this engine: its
 * receiver subscribes to the engine's events, the plan runs to the vendor options (by email)
 * and waits; the sandbox plays the client answering "2" by SMS, and the `client.replied` event
 * resumes the graph, which confirms vendor 2 and emails the PDF blueprint. Prints the timeline:
 * what each node sent and each event that came back.
 */
async function runWorkflowDemo(options: DemoOptions, zone: string): Promise<boolean> {
  const { ingestUrl, apiKey, sandbox, db, say, timeoutMs = 30_000 } = options;
  if (new URL(options.publicBaseUrl ?? ingestUrl).origin !== new URL(ingestUrl).origin) {
    say(`demo: workflow demo skipped: PUBLIC_BASE_URL (${options.publicBaseUrl}) is not this ingest (${ingestUrl}), so the client's reply would not reach it`);
    return true;
  }
  const databaseUrl = options.databaseUrl ?? poolOf(db)?.options.connectionString;
  if (!databaseUrl) {
    say('demo: workflow demo skipped: no database URL for its checkpoints');
    return true;
  }
  const start = Date.now();
  const timeline: { at: number; line: string }[] = [];
  const note = (line: string, at = Date.now()) => timeline.push({ at, line });
  const crm = createCrmClient({ baseUrl: ingestUrl, apiKey });
  const runner = await WorkflowRunner.create({ databaseUrl, crm });
  const secret = `whsec_${randomBytes(32).toString('base64url')}`;
  const receiver = await startEventReceiver({
    secret,
    runner: {
      async handleEvent(event: WorkflowEvent) {
        const received = Date.now();
        const result = await runner.handleEvent(event);
        const what = event.type === 'client.replied'
          ? `reply on ${event.data.channel}: ${JSON.stringify(event.data.text)} (selection ${String(event.data.selection)})`
          : `${event.data.messageType.padEnd(22)} ${(event.data.channel ?? '-').padEnd(8)} ${event.data.status}`;
        note(`event ${event.type.padEnd(23)} ${what}  → ${result.outcome}`, received);
        return result;
      },
    },
  });
  const subscription = await crm.callbacks.create({ url: receiver.url, events: [...workflowEventTypes], secret });
  try {
    const stamp = Date.now();
    const planId = `demo-plan-${stamp}`;
    const clientId = `demo-client-46-${stamp}`;
    const phone = '+14155550146';
    say(`demo: event-planning workflow (examples/event-planning: a LangGraph StateGraph, checkpoints in PostgreSQL schema ${runner.schema})`);
    say(`demo: its receiver ${receiver.url} subscribed to ${workflowEventTypes.join(', ')} (POST /api/crm/callbacks)`);
    // Messages by email; the client answers the vendor options by SMS (an answer belongs to the newest
    // message that asked something, whatever its channel).
    await crm.preferences.set({ clientId, channels: ['email', 'sms'], timezone: zone });
    const waiting = await runner.startPlan({
      planId, clientId, clientName: 'Katherine', eventName: 'Summer gala', eventDate: '2026-09-12', guestCount: 120, budgetTotal: 18_500, currency: 'USD',
      recipient: { email: 'katherine.johnson@example.com', phone },
    });
    for (const c of waiting.values.communications) note(`node  ${c.node.padEnd(23)} sent ${c.type} (${c.id})`, Date.parse(c.updatedAt));
    note(`plan ${planId} waits in ${waiting.next.join(', ')}: ${waiting.values.vendorOptions.map((v, i) => `${i + 1}) ${v.name}`).join(', ')}`);
    if (!waiting.waitingForClient) {
      say(`demo: the plan did not reach client_selection (stage ${waiting.values.stage})`);
      return false;
    }
    const vendorOptions = waiting.values.communications.find((c) => c.type === 'vendor_options')!;
    await waitUntil(timeoutMs, () => sandbox.mailbox.list({ communicationId: vendorOptions.id }).length > 0);
    note(`the client answers "2" by SMS (POST ${sandbox.httpUrl}/sms/inbound)`);
    await sandbox.inbound.sms({ from: phone, body: '2' });
    const done = await waitUntil(timeoutMs, async () => {
      const plan = await runner.getPlan(planId);
      return plan?.done && ['completed', 'failed'].includes(plan.values.stage) ? plan : undefined;
    });
    if (done?.values.stage !== 'completed') {
      say(`demo: the plan did not complete (stage ${done?.values.stage ?? 'awaiting_selection'})`);
      return false;
    }
    for (const c of done.values.communications.slice(waiting.values.communications.length)) note(`node  ${c.node.padEnd(23)} sent ${c.type} (${c.id})`, Date.parse(c.updatedAt));
    const blueprint = done.values.communications.find((c) => c.type === 'blueprint_delivery')!;
    const mail = await sandbox.mailbox.waitFor((m) => m.headers['x-crm-communication-id'] === blueprint.id, timeoutMs).catch(() => null);
    const pdf = mail?.attachments.find((a) => a.contentType === 'application/pdf');
    if (pdf) note(`the sandbox mailbox got "${mail!.subject}" with ${pdf.filename ?? 'a PDF'} (${pdf.size} bytes)`);
    // The last status events trail the workflow by a moment.
    await waitUntil(10_000, async () => {
      const plan = await runner.getPlan(planId);
      return plan?.values.communications.every((c) => !['pending', 'queued', 'sending'].includes(c.status));
    });
    const settled = (await runner.getPlan(planId)) ?? done;
    say(`demo: plan ${planId} completed with vendor ${done.values.choice?.selection ?? '?'} (${done.values.selectedVendor?.name ?? '?'}); its timeline:`);
    for (const { at, line } of timeline.sort((a, b) => a.at - b.at)) say(`        ${since(start, at)}  ${line}`);
    say('demo: the workflow state\'s communications:');
    for (const c of settled.values.communications) say(`        ${c.type.padEnd(22)} ${(c.channel ?? '-').padEnd(8)} ${c.status.padEnd(10)} from ${c.node}`);
    return Boolean(pdf) && done.values.choice?.selection === 2;
  } finally {
    await crm.callbacks.delete(subscription.id).catch(() => undefined);
    await receiver.close();
    await runner.close();
  }
}

/** Polls `probe` every 50 ms until it answers something truthy (answered) or `timeoutMs` passes (`undefined`). */
async function waitUntil<T>(timeoutMs: number, probe: () => T | Promise<T>): Promise<Exclude<T, false | null | undefined> | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as Exclude<T, false | null | undefined>;
    if (Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
