import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { loadConfig } from '@crm/config';
import type { MessageChannel } from '@crm/core';
import { buildApp } from '@crm/ingest';
import { createLogger } from '@crm/observability';
import type { QueueName } from '@crm/queue';
import { createTestApiKey, startPrivateRedis, testEnvironment, testPiiKeys, waitFor, type PrivateRedis, type TestApiKey } from '@crm/testing';
import { startTestEngine, testEmailContent, type TestEngine } from './support/engine';

// Issue 8, "Done when": 1,000 communications over email, SMS and WhatsApp (with retries,
// fallbacks, provider errors, replies and a STOP) leave no email address, phone number, message
// text or reply in Redis or in the logs, nor any secret in the logs; PostgreSQL holds contact
// details and replies only encrypted, and finds a client by phone through the blind index.

const COUNT = 1000;
/** Distinguishes this run's values from anything else in the data. */
const tag = randomBytes(4).toString('hex');
const channels: readonly MessageChannel[] = ['email', 'sms', 'whatsapp'];

interface Contact {
  readonly n: number;
  readonly clientId: string;
  readonly email: string;
  readonly phone: string;
  /** In `clientName` and `reminderText`, so it is in every rendered message. */
  readonly marker: string;
  /** The forced channel, or null for the strategy's choice. */
  readonly channel: MessageChannel | null;
  id?: string;
}

/** Every 25th client's address bounces at the sandbox (`bounce…`), so SMTP 550 replies happen. */
const emailOf = (n: number) => `${n % 25 === 3 ? 'bounce-' : ''}priv-${n}-${tag}@example.com`;
/** Distinct E.164 numbers, US and UK. */
const phoneOf = (n: number) => (n % 4 === 0 ? `+447700${String(900000 + n)}` : `+1415${String(3000000 + n * 37)}`);
const markerOf = (n: number) => `Zebediah${n}Marker${tag}`;
const replyOf = (n: number) => `Quillon${n}Reply${tag} yes, see you then`;

const contacts: Contact[] = Array.from({ length: COUNT }, (_, n) => ({
  n,
  clientId: `priv-client-${n}`,
  email: emailOf(n),
  phone: phoneOf(n),
  marker: markerOf(n),
  channel: n % 10 === 9 ? null : channels[n % 3]!,
}));
/** Twilio's magic number that it refuses (21614, not a mobile number): the refusal path runs with a number of its own. */
const magic: Contact = { n: COUNT, clientId: 'priv-client-magic', email: emailOf(COUNT), phone: '+15005550009', marker: markerOf(COUNT), channel: 'sms' };
contacts.push(magic);

/**
 * What must never appear, as lower-case strings, found by anchor: each needle starts with one
 * of `anchors`, so a text is searched once per anchor instead of once per needle.
 */
class Needles {
  readonly #set = new Set<string>();
  readonly #lengths = new Set<number>();
  readonly #anchors: readonly string[];

  constructor(anchors: readonly string[]) {
    this.#anchors = anchors;
  }

  add(value: string): void {
    const needle = value.toLowerCase();
    if (!this.#anchors.some((anchor) => needle.startsWith(anchor))) throw new Error(`needle ${needle} has no anchor`);
    this.#set.add(needle);
    this.#lengths.add(needle.length);
  }

  get size(): number {
    return this.#set.size;
  }

  /** The needles found in `text`. */
  find(text: string): string[] {
    const lower = text.toLowerCase();
    const found = new Set<string>();
    for (const anchor of this.#anchors) {
      for (let at = lower.indexOf(anchor); at >= 0; at = lower.indexOf(anchor, at + 1)) {
        for (const length of this.#lengths) {
          const candidate = lower.slice(at, at + length);
          if (this.#set.has(candidate)) found.add(candidate);
        }
      }
    }
    return [...found];
  }
}

const personal = new Needles(['priv-', 'bounce-priv-', 'zebediah', 'quillon', 'waprofile', '1415', '447700', '15005550009', '+']);
for (const contact of contacts) {
  personal.add(contact.email);
  // The local part alone too: it catches an address in any encoding (`%40`, quoted, split).
  personal.add(contact.email.split('@')[0]!);
  personal.add(contact.phone);
  personal.add(contact.phone.slice(1));
  personal.add(contact.marker);
}
/** The markers alone: the request's variables hold them, and nothing else in PostgreSQL may. */
const markers = new Needles(['zebediah']);
for (const contact of contacts) markers.add(contact.marker);

const env = testEnvironment();
const config = loadConfig(env);
const lines: string[] = [];
/** Where every logger of the engine writes. */
const capture = { write: (line: string) => { lines.push(line); } };
let redis: PrivateRedis;
let engine: TestEngine;
let apiKey: TestApiKey;
const inbound: { contact: Contact; text: string }[] = [];
let stopContact: Contact;
const timings: Record<string, number> = {};

const secrets = (): Record<string, string> => ({
  DB_ENCRYPTION_KEY: env.DB_ENCRYPTION_KEY!,
  BLIND_INDEX_KEY: env.BLIND_INDEX_KEY!,
  TWILIO_AUTH_TOKEN: config.twilio.authToken,
  WHATSAPP_ACCESS_TOKEN: config.whatsapp.accessToken,
  WHATSAPP_APP_SECRET: config.whatsapp.appSecret,
  WHATSAPP_VERIFY_TOKEN: config.whatsapp.verifyToken,
  'testPiiKeys.encryptionKey': testPiiKeys.encryptionKey,
  'testPiiKeys.blindIndexKey': testPiiKeys.blindIndexKey,
  trackingSecret: testEmailContent.trackingSecret,
  apiKey: apiKey.key,
});

const post = async (path: string, body: unknown): Promise<{ status: number; body: unknown }> => {
  const response = await fetch(`${engine.ingestUrl!}${path}`, {
    method: 'POST', headers: { ...apiKey.headers, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
};

const requestOf = (contact: Contact) => ({
  clientId: contact.clientId,
  planId: `plan-${contact.n % 7}`,
  messageType: 'reminder',
  channel: contact.channel,
  variables: { clientName: contact.marker, eventName: 'Summer gala', reminderText: `Bring the list for ${contact.marker}.`, dueDate: '2026-12-01' },
  metadata: { workflowRunId: `run-${contact.n}` },
  recipient: { email: contact.email, phone: contact.phone },
});

/** Rows not yet where they stay: in flight, or sent on a channel whose receipt is still to come. */
const unsettled = async (): Promise<number> => {
  const row = await engine.t.db
    .selectFrom('crm_communications')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where((eb) => eb.or([
      eb('status', 'in', ['pending', 'scheduled', 'queued', 'sending']),
      eb.and([eb('status', '=', 'sent'), eb('channel', 'in', ['sms', 'whatsapp'])]),
    ]))
    .executeTakeFirstOrThrow();
  return Number(row.n);
};

beforeAll(async () => {
  const started = Date.now();
  redis = await startPrivateRedis();
  engine = await startTestEngine({
    redisUrl: redis.url, messaging: true, templates: true, webhooks: { callbackDelayMs: 5 },
    deliverableChannels: ['email', 'sms', 'whatsapp'],
    logDestination: capture,
  });
  apiKey = await createTestApiKey(engine.t.db, 'privacy');

  // Failures while the first part goes out: transient SMTP and Twilio errors (retries, and
  // fallbacks when the three attempts are spent), some numbers WhatsApp reports failed and some
  // SMS reported undelivered (fallback after sent), plus the bouncing addresses and the magic number.
  await engine.fault('email', { errorCode: 451, errorRate: 0.3 });
  await engine.fault('sms', { errorCode: 20500, errorRate: 0.3 });
  for (const contact of contacts.filter((c) => c.n % 50 === 2)) engine.sandbox.outcomes.set('whatsapp', { final: 'failed', errorCode: 131026, outOfOrder: false }, contact.phone);
  for (const contact of contacts.filter((c) => c.n % 50 === 1)) engine.sandbox.outcomes.set('sms', { final: 'undelivered', errorCode: 30005, outOfOrder: false }, contact.phone);

  // Most in batches of 250, the rest one by one, through ingest's API as a workflow sends them.
  const batched = contacts.slice(0, 750);
  const single = contacts.slice(750);
  const answers = await Promise.all([
    ...[0, 250, 500].map((from) => post('/api/crm/communications/batch', { items: batched.slice(from, from + 250).map(requestOf) })),
  ]);
  for (const [index, answer] of answers.entries()) {
    expect(answer.status).toBe(202);
    for (const item of (answer.body as { items: { index: number; id: string }[] }).items) batched[index * 250 + item.index]!.id = item.id;
  }
  for (let i = 0; i < single.length; i += 25) {
    await Promise.all(single.slice(i, i + 25).map(async (contact) => {
      const answer = await post('/api/crm/communications', requestOf(contact));
      expect(answer.status).toBe(202);
      contact.id = (answer.body as { id: string }).id;
    }));
  }
  // Refused requests with personal data in them: the answers and the logs name fields only.
  const refused = await post('/api/crm/communications', { ...requestOf(contacts[0]!), recipient: { email: `priv-0-${tag}`, phone: contacts[0]!.phone } });
  expect(refused.status).toBe(400);
  const unknown = await post('/api/crm/communications', { ...requestOf(contacts[1]!), recipient: undefined, email: contacts[1]!.email });
  expect(unknown.status).toBe(400);
  expect(JSON.stringify([refused.body, unknown.body])).not.toContain(`priv-`);
  // A NUL character, which PostgreSQL's text and jsonb refuse (that was a 500): a 400 naming the field, nothing stored.
  const nul = await post('/api/crm/communications', { ...requestOf(contacts[2]!), clientId: 'priv-client-nul', variables: { clientName: `${contacts[2]!.marker}\u0000`, note: contacts[2]!.email } });
  expect([nul.status, (nul.body as { errors: { field: string }[] }).errors.map((e) => e.field)]).toEqual([400, ['variables.clientName']]);
  expect(JSON.stringify(nul.body)).not.toMatch(/priv-|zebediah/i);
  timings.accepted = Date.now() - started;

  // The faults last until a third of the messages are done, then the providers recover.
  await waitFor(async () => (await unsettled()) < (COUNT * 2) / 3, { timeoutMs: 60_000, intervalMs: 100, message: 'a third of the messages' });
  await engine.fault('email', {});
  await engine.fault('sms', {});
  await waitFor(async () => {
    await engine.sandbox.callbacks.settled();
    return (await unsettled()) === 0;
  }, { timeoutMs: 120_000, intervalMs: 250, message: 'every communication to settle' });
  timings.settled = Date.now() - started;

  // The clients write back: answers with text, one STOP, and WhatsApp messages with a profile name.
  const delivered = await engine.t.db.selectFrom('crm_communications').select(['id', 'client_id']).where('channel', '=', 'sms').where('status', '=', 'delivered').orderBy('client_id').limit(21).execute();
  const byClient = new Map(contacts.map((c) => [c.clientId, c]));
  const repliers = delivered.map((row) => byClient.get(row.client_id)!);
  stopContact = repliers.pop()!;
  for (const contact of repliers) {
    const text = replyOf(contact.n);
    personal.add(text.split(' ')[0]!);
    inbound.push({ contact, text });
    const answer = await engine.sandbox.inbound.sms({ from: contact.phone, body: text });
    expect(answer.status).toBe(200);
  }
  const stop = await engine.sandbox.inbound.sms({ from: stopContact.phone, body: 'STOP' });
  expect([stop.status, stop.replies.length]).toEqual([200, 1]);
  for (const contact of contacts.filter((c) => c.channel === 'whatsapp').slice(0, 3)) {
    const text = replyOf(contact.n);
    personal.add(text.split(' ')[0]!);
    personal.add(`WaProfile${contact.n}Name${tag}`);
    const answer = await engine.sandbox.inbound.whatsapp({ from: contact.phone, text, name: `WaProfile${contact.n}Name${tag}` });
    expect(answer.status).toBe(200);
  }
  // Opens (the pixel) of three emails and a one-click unsubscribe, through their signed links, at
  // an ingest replica that knows the email worker's tracking secret (the engine's does not).
  const tracking = await buildApp({
    db: engine.t.db, producer: engine.producer, keys: testPiiKeys, logger: createLogger({ service: 'ingest-tracking', level: 'debug', destination: capture }),
    redisPing: async () => 'PONG', bodyLimitBytes: 65_536, preferencesCache: engine.preferencesCache,
    email: { trackingSecret: testEmailContent.trackingSecret, machineOpenWindowMs: 0, attachmentMaxTotalBytes: 1_000_000 },
  });
  const emailed = contacts.filter((c) => c.channel === 'email').slice(0, 20);
  const mails = (await Promise.all(emailed.map((c) => engine.sandbox.mailbox.messages({ communicationId: c.id! })))).flat().slice(0, 3);
  const tracked: [string, number][] = [];
  for (const [index, mail] of mails.entries()) {
    for (const [, link] of mail.html!.matchAll(/https:\/\/crm\.test(\/(?:t\/[oc]|u)\/[^"'\s<>]+)/g)) {
      const url = link!.replace(/&amp;/g, '&');
      if (url.startsWith('/u/') && index > 0) continue;
      const response = url.startsWith('/u/')
        ? await tracking.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click' })
        : await tracking.inject({ method: 'GET', url });
      tracked.push([url.slice(0, 5), response.statusCode]);
    }
  }
  await tracking.close();
  expect(tracked.length).toBeGreaterThanOrEqual(4);
  expect(tracked.filter(([, status]) => status >= 400)).toEqual([]);
  // What the webhooks enqueued after their commits is in Redis before the scan.
  await waitFor(async () => {
    const stored = await engine.t.db.selectFrom('crm_inbound_messages').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    return Number(stored.n) === inbound.length + 4;
  }, { message: 'the inbound messages' });
  await waitFor(async () => {
    const counts = await Promise.all((['crm.requests', 'crm.email', 'crm.messaging', 'crm.fallback'] satisfies QueueName[]).map((name) => engine.producer.queue(name).getJobCounts('waiting', 'active', 'delayed', 'prioritized')));
    return counts.every((c) => Object.values(c).every((n) => n === 0));
  }, { timeoutMs: 10_000, message: 'idle queues' });
  timings.total = Date.now() - started;
  console.log(`privacy: ${COUNT + 1} communications accepted in ${timings.accepted} ms, settled after ${timings.settled} ms, with replies ${timings.total} ms`);
}, 240_000);

afterAll(async () => {
  await engine?.close();
  await redis?.stop();
});

describe('the run itself', () => {
  it('exercised every channel, retries, fallbacks, failures, replies and a STOP, and rendered the markers into the messages', async () => {
    const statuses = await engine.t.db.selectFrom('crm_communications').select(['channel', 'status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy(['channel', 'status']).execute();
    const events = await engine.t.db.selectFrom('crm_delivery_logs').select(['event', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('event').execute();
    const eventCount = Object.fromEntries(events.map((e) => [e.event, Number(e.n)]));
    console.log(`privacy: statuses ${JSON.stringify(statuses.map((s) => `${s.channel}:${s.status}=${s.n}`))}; log events ${JSON.stringify(eventCount)}`);
    expect(statuses.reduce((sum, s) => sum + Number(s.n), 0)).toBe(COUNT + 1);
    // Nothing of the refused requests was stored.
    expect(await engine.t.db.selectFrom('crm_client_preferences').select('client_id').where('client_id', '=', 'priv-client-nul').executeTakeFirst()).toBeUndefined();
    for (const channel of channels) expect(statuses.some((s) => s.channel === channel && ['sent', 'delivered', 'opened', 'responded'].includes(s.status))).toBe(true);
    expect(statuses.some((s) => ['failed', 'bounced'].includes(s.status))).toBe(true);
    expect(eventCount.attempt_failed).toBeGreaterThan(50);
    expect(eventCount.fallback).toBeGreaterThan(10);
    // Twilio refused the magic number.
    const refusal = await engine.t.db.selectFrom('crm_delivery_logs').select(['error_code']).where('communication_id', '=', magic.id!).where('channel', '=', 'sms').where('event', '=', 'attempt_failed').executeTakeFirst();
    expect(refusal?.error_code).toBe('21614');

    const sms = contacts.find((c) => c.channel === 'sms' && engine.sandbox.sms.list({ communicationId: c.id! }).length > 0)!;
    expect(engine.sandbox.sms.list({ communicationId: sms.id! })[0]!.body).toContain(sms.marker);
    const whatsapp = contacts.find((c) => c.channel === 'whatsapp' && engine.sandbox.whatsapp.list({ communicationId: c.id! }).length > 0)!;
    expect(JSON.stringify(engine.sandbox.whatsapp.list({ communicationId: whatsapp.id! })[0])).toContain(whatsapp.marker);
    const email = contacts.find((c) => c.channel === 'email' && engine.sandbox.mailbox.list({ communicationId: c.id! }).length > 0)!;
    const [mail] = await engine.sandbox.mailbox.messages({ communicationId: email.id! });
    expect(mail!.text).toContain(email.marker);
    expect(mail!.html).toContain(email.marker);

    const replies = await engine.t.db.selectFrom('crm_inbound_messages').select(['kind', 'client_id']).execute();
    expect(replies.filter((r) => r.kind === 'opt_out').map((r) => r.client_id)).toEqual([stopContact.clientId]);
  });
});

describe('Redis', () => {
  it('holds no address, number, message text or reply in any key name or value', async () => {
    const client = redis.redis;
    // Planted first, one of each type and form, to prove that the scan reads and finds them all.
    const [c0, c1, c2] = contacts;
    const canary = `privacy-canary-${tag}`;
    const canaries: Record<string, () => Promise<unknown>> = {
      [`${canary}:string`]: () => client.set(`${canary}:string`, JSON.stringify({ to: c0!.phone })),
      [`${canary}:hash`]: () => client.hset(`${canary}:hash`, 'data', JSON.stringify({ url: `https://x.test/?to=${encodeURIComponent(c0!.email)}` })),
      [`${canary}:list`]: () => client.rpush(`${canary}:list`, `SMS to ${c1!.phone.slice(1)}`),
      [`${canary}:set`]: () => client.sadd(`${canary}:set`, c1!.marker),
      [`${canary}:zset`]: () => client.zadd(`${canary}:zset`, 1, c2!.email),
      [`${canary}:stream`]: () => client.xadd(`${canary}:stream`, '*', 'returnvalue', JSON.stringify({ text: inbound[0]!.text })),
      [`${canary}:${c2!.phone}`]: () => client.set(`${canary}:${c2!.phone}`, '1'),
    };
    for (const plant of Object.values(canaries)) await plant();
    let cursor = '0';
    let keys = 0;
    let bytes = 0;
    const types: Record<string, number> = {};
    const leaks: { key: string; found: string[] }[] = [];
    do {
      const [next, batch] = await client.scan(cursor, 'COUNT', 1000);
      cursor = next;
      for (const key of batch) {
        const type = await client.type(key);
        types[type] = (types[type] ?? 0) + 1;
        let values: string[];
        switch (type) {
          case 'string': values = [(await client.get(key)) ?? '']; break;
          case 'hash': values = Object.entries(await client.hgetall(key)).flat(); break;
          case 'list': values = await client.lrange(key, 0, -1); break;
          case 'set': values = await client.smembers(key); break;
          case 'zset': values = await client.zrange(key, 0, -1, 'WITHSCORES'); break;
          case 'stream': values = (await client.xrange(key, '-', '+')).flatMap(([id, fields]) => [id, ...fields]); break;
          case 'none': values = []; break; // expired meanwhile
          default: throw new Error(`key ${key} has type ${type}, which this scan does not read`);
        }
        keys += 1;
        const text = [key, ...values].join('\n');
        bytes += Buffer.byteLength(text);
        const found = personal.find(text);
        if (found.length > 0) leaks.push({ key, found: found.slice(0, 5) });
      }
    } while (cursor !== '0');
    await client.del(...Object.keys(canaries));
    console.log(`privacy: scanned ${keys} Redis keys (${JSON.stringify(types)}), ${bytes} bytes, for ${personal.size} personal values`);
    expect(keys).toBeGreaterThan(COUNT);
    expect(leaks.filter((leak) => leak.key.startsWith(canary)).map((leak) => leak.key).sort()).toEqual(Object.keys(canaries).sort());
    expect(leaks.filter((leak) => !leak.key.startsWith(canary))).toEqual([]);
  });
});

describe('logs', () => {
  it('hold no personal data and no secret, at debug level, in every service of the engine', () => {
    const text = lines.join('');
    const leaking = lines.map((line) => ({ line, found: personal.find(line) })).filter((l) => l.found.length > 0);
    const secretsFound = Object.entries(secrets()).filter(([, value]) => text.includes(value)).map(([name]) => name);
    const redacted = lines.filter((line) => line.includes('[redacted]'));
    const messages = new Map<string, number>();
    for (const line of lines) {
      const { msg } = JSON.parse(line) as { msg?: string };
      messages.set(msg ?? '', (messages.get(msg ?? '') ?? 0) + 1);
    }
    console.log(`privacy: ${lines.length} log lines (${text.length} bytes, ${messages.size} kinds, ${redacted.length} with [redacted]); most: ${JSON.stringify([...messages].sort((a, b) => b[1] - a[1]).slice(0, 8))}`);
    expect(lines.length).toBeGreaterThan(COUNT);
    expect(lines.some((line) => line.includes('"level":"debug"'))).toBe(true);
    expect(leaking.slice(0, 5)).toEqual([]);
    expect(secretsFound).toEqual([]);
    // Redaction is the safety net: a line it had to mask logged an object holding personal data or a secret.
    expect(redacted.slice(0, 5)).toEqual([]);
  });
});

describe('PostgreSQL', () => {
  /** Every table of the schema, each row as text. */
  const tables = async (): Promise<string[]> =>
    (await sql<{ table_name: string }>`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`.execute(engine.t.db)).rows.map((r) => r.table_name);

  it('a raw SELECT of every table shows no address, number, reply, rendered text or secret; the markers only in the request variables', async () => {
    const names = await tables();
    expect(names).toEqual(expect.arrayContaining(['crm_client_preferences', 'crm_communications', 'crm_delivery_logs', 'crm_inbound_messages']));
    const leaks: { table: string; found: string[] }[] = [];
    const secretsFound: string[] = [];
    let rows = 0;
    for (const table of names) {
      // The request's variables are its input (erasure clears them): left out here, checked below.
      const dump = table === 'crm_communications'
        ? await sql<{ row: string }>`SELECT (to_jsonb(t) - 'variables')::text AS row FROM crm_communications t`.execute(engine.t.db)
        : await sql<{ row: string }>`SELECT t::text AS row FROM ${sql.table(table)} t`.execute(engine.t.db);
      rows += dump.rows.length;
      const text = dump.rows.map((r) => r.row).join('\n');
      const found = personal.find(text);
      if (found.length > 0) leaks.push({ table, found: found.slice(0, 5) });
      for (const [name, value] of Object.entries(secrets())) if (text.includes(value)) secretsFound.push(`${table}: ${name}`);
    }
    console.log(`privacy: ${rows} rows in ${names.length} tables checked`);
    expect(rows).toBeGreaterThan(COUNT * 3);
    expect(leaks).toEqual([]);
    expect(secretsFound).toEqual([]);

    // Where the markers are: the request variables of their own communication, nowhere else.
    const variables = await sql<{ id: string; variables: string }>`SELECT id, variables::text AS variables FROM crm_communications`.execute(engine.t.db);
    const withMarker = variables.rows.filter((r) => markers.find(r.variables).length > 0);
    console.log(`privacy: the request variables of ${withMarker.length} of ${variables.rows.length} communications hold their marker (expected: the request's input)`);
    const byId = new Map(contacts.map((c) => [c.id, c]));
    for (const row of withMarker) expect(markers.find(row.variables)).toEqual([byId.get(row.id)!.marker.toLowerCase()]);
  });

  it('stores contact details and replies encrypted, decryptable with the key only', async () => {
    const contact = inbound[0]!.contact;
    const stored = await engine.t.db.selectFrom('crm_client_preferences').select(['email_encrypted', 'phone_encrypted']).where('client_id', '=', contact.clientId).executeTakeFirstOrThrow();
    expect(stored.email_encrypted!.toString('latin1')).not.toContain(contact.email);
    const { rows: [plain] } = await sql<{ email: string; phone: string }>`
      SELECT pgp_sym_decrypt(email_encrypted, ${testPiiKeys.encryptionKey}) AS email, pgp_sym_decrypt(phone_encrypted, ${testPiiKeys.encryptionKey}) AS phone
      FROM crm_client_preferences WHERE client_id = ${contact.clientId}`.execute(engine.t.db);
    expect(plain).toEqual({ email: contact.email, phone: contact.phone });
    await expect(sql`SELECT pgp_sym_decrypt(email_encrypted, 'not-the-key') FROM crm_client_preferences WHERE client_id = ${contact.clientId}`.execute(engine.t.db)).rejects.toThrow(/Wrong key/);
    const { rows: [reply] } = await sql<{ body: string }>`
      SELECT pgp_sym_decrypt(body_encrypted, ${testPiiKeys.encryptionKey}) AS body FROM crm_inbound_messages WHERE client_id = ${contact.clientId} AND kind = 'reply'`.execute(engine.t.db);
    expect(reply!.body).toBe(inbound[0]!.text);
  });

  it('finds a client by phone through the blind index (phone_hash, its index), without decrypting, and matched the SMS reply from that phone to it', async () => {
    await sql`ANALYZE crm_client_preferences`.execute(engine.t.db);
    const { contact, text } = inbound[1]!;
    const hash = sql`hmac(${contact.phone}::text, ${testPiiKeys.blindIndexKey}::text, 'sha256')`;
    const plan = await sql<{ 'QUERY PLAN': string }>`EXPLAIN SELECT client_id FROM crm_client_preferences WHERE phone_hash = ${hash}`.execute(engine.t.db);
    const planText = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(planText).toContain('crm_client_preferences_phone_hash_idx');
    expect(planText).not.toMatch(/pgp_sym_decrypt|crm_pii_decrypt/);
    const found = await sql<{ client_id: string }>`SELECT client_id FROM crm_client_preferences WHERE phone_hash = ${hash}`.execute(engine.t.db);
    expect(found.rows).toEqual([{ client_id: contact.clientId }]);

    const replies = await sql<{ client_id: string | null; kind: string; body: string }>`
      SELECT client_id, kind, pgp_sym_decrypt(body_encrypted, ${testPiiKeys.encryptionKey}) AS body FROM crm_inbound_messages WHERE from_hash = ${hash}`.execute(engine.t.db);
    expect(replies.rows).toEqual([{ client_id: contact.clientId, kind: 'reply', body: text }]);
    // Every reply found its client this way.
    const matched = await engine.t.db.selectFrom('crm_inbound_messages').select(['client_id']).where('channel', '=', 'sms').where('kind', '=', 'reply').execute();
    expect(matched.map((r) => r.client_id).sort()).toEqual(inbound.map((i) => i.contact.clientId).sort());
  });
});
