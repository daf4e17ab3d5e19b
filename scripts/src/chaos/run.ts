import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { sql, type Kysely } from 'kysely';
import { Pool } from 'undici';
import type { Database } from '@crm/db';
import { Child, freePort, sleep, waitUntil } from '../bench/children';
import { createApiKey } from '../bench/engine';
import { type Cleanup, createBenchDatabase, machine, type Machine } from '../bench/infra';
import { PrivateRedis, startOwnPostgres, type OwnPostgres } from './infra';
import type { ChaosOptions } from './options';

/** The engine's processes in a chaos run; the three workers are the ones killed. */
export const chaosServices = ['sandbox', 'ingest', 'strategy-worker', 'email-worker', 'messaging-worker'] as const;
export type ChaosService = (typeof chaosServices)[number];
const killable = ['strategy-worker', 'email-worker', 'messaging-worker'] as const;
type Killable = (typeof killable)[number];

/** The queue whose registered worker tells that a worker service is up. */
const workerQueue: Record<Killable, string> = { 'strategy-worker': 'crm.requests', 'email-worker': 'crm.email', 'messaging-worker': 'crm.messaging' };
/** The channels whose provider calls a worker makes (a row `sending` on one of them at kill time = a kill during a provider call). */
const providerChannels: Record<Killable, readonly string[]> = { 'strategy-worker': [], 'email-worker': ['email'], 'messaging-worker': ['sms', 'whatsapp'] };
const channels = ['email', 'sms', 'whatsapp'] as const;
type Channel = (typeof channels)[number];
const notFinal = ['pending', 'scheduled', 'queued', 'sending'] as const;

export interface ChaosContext {
  /** Repository root (services/<name>/dist/main.js live under it). */
  readonly root: string;
  /** The machine's PostgreSQL (admin URL) when the run does not start its own. */
  readonly baseUrl: string;
  /** Variables every child gets besides its configuration (PATH). */
  readonly baseEnv: Record<string, string>;
  readonly cleanup: Cleanup;
  /** Progress notes (stderr). */
  readonly note: (line: string) => void;
}

/** One kill of a worker. */
export interface Kill {
  readonly service: Killable;
  readonly atMs: number;
  /** Rows `sending` on the worker's channels when it was killed (0: no provider call in flight). */
  readonly sending: number;
}

/** What a chaos run found. */
export interface ChaosReport {
  readonly version: 1;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly options: ChaosOptions;
  readonly machine: Machine;
  readonly postgres: { readonly own: boolean; readonly version: string; readonly restarts: number; readonly note: string };
  readonly redis: { readonly version: string; readonly restarts: number; readonly keysAfterLastRestart: number | null };
  readonly faults: { readonly outage: string; readonly errorRate: string };
  readonly sent: { readonly requested: number; readonly accepted: number; readonly postRetries: number };
  readonly communications: {
    /** Accepted communications in a final status at the end. */
    readonly final: number;
    readonly byStatus: Record<string, number>;
    /** Failed or bounced, by the channel tried last (with a forced channel, retries spent or its breaker open). */
    readonly failedByChannel: Record<string, number>;
    /** No row for an accepted id, or a row still `pending` (never enqueued) at the end. */
    readonly lost: number;
    /** Rows not final at the end (scheduled, queued, sending). */
    readonly stuck: number;
    /** Rows that reached the provider (sent or later) of which the sandbox holds no message. */
    readonly sentUnseen: number;
  };
  /** Messages the sandbox received beyond the first, per channel and in total. */
  readonly duplicates: {
    readonly total: number;
    readonly communications: number;
    readonly byChannel: Record<Channel, number>;
    /** Duplicates of communications that were not `sending` on a killed worker's channels at any kill. */
    readonly unexplained: number;
    /** The brief's literal bound: duplicates ≤ kills during a provider call. */
    readonly atMostOnePerKillDuringProviderCall: boolean;
  };
  readonly kills: {
    readonly total: number;
    readonly duringProviderCall: number;
    /** Distinct communications `sending` on a killed worker's channels at some kill (a row orphaned by one kill may still be `sending` at the next). */
    readonly rowsSendingAtKills: number; readonly byService: Record<string, number>; readonly list: readonly Kill[] };
  /** Faults cleared → every communication final, in ms (null: never all final). */
  readonly drainMs: number | null;
  readonly chaosPhaseMs: number;
  readonly totalMs: number;
  readonly target: { readonly met: boolean; readonly misses: readonly string[] };
  readonly resources: { readonly database: string; readonly queuePrefix: string };
}

/** One communication request of the run: a third each by email, SMS and WhatsApp, each to a new client with contact details. */
export function chaosRequest(runId: string, i: number): Record<string, unknown> {
  const channel = channels[i % 3] ?? 'email';
  const base = {
    clientId: `chaos-${runId}-${i}`,
    planId: `chaos-${runId}`,
    messageType: 'reminder',
    idempotencyKey: `chaos-${runId}-${i}`,
    variables: { n: i, clientName: 'Ada', eventName: 'Summer gala', reminderText: 'Please confirm the guest list.', dueDate: '2026-12-01' },
  };
  if (channel === 'email') return { ...base, recipient: { email: `chaos-${i}@example.com` } };
  return { ...base, channel, recipient: { phone: `+3519${String(i % 100_000_000).padStart(8, '0')}` } };
}

/** A service process and its replacements after kills. */
class Processes {
  readonly #current = new Map<ChaosService, Child>();
  readonly #env: (service: ChaosService) => Record<string, string>;
  readonly #root: string;

  constructor(root: string, env: (service: ChaosService) => Record<string, string>) {
    this.#root = root;
    this.#env = env;
  }

  start(service: ChaosService): Child {
    const child = new Child(service, join(this.#root, 'services', service, 'dist', 'main.js'), { env: this.#env(service) });
    this.#current.set(service, child);
    return child;
  }

  /** SIGKILLs the service's process and starts a new one at once. */
  killAndRestart(service: Killable): number {
    const old = this.#current.get(service);
    // Replaced first, so that the old one's exit is never taken for a crash.
    const replacement = this.start(service);
    old?.process.kill('SIGKILL');
    return replacement.process.pid ?? -1;
  }

  /** Throws if a current process died on its own. */
  check(): void {
    for (const child of this.#current.values()) child.check();
  }

  pids(): string {
    return [...this.#current.entries()].map(([name, child]) => `${name} ${child.process.pid ?? '?'}`).join(', ');
  }

  /** SIGTERM to every process (SIGKILL after 15 s): the sandbox first (no more callbacks to ingest), then ingest, then the workers. */
  async stopAll(): Promise<void> {
    const order: readonly ChaosService[] = ['sandbox', 'ingest', 'strategy-worker', 'email-worker', 'messaging-worker'];
    for (const group of [order.slice(0, 1), order.slice(1, 2), order.slice(2)]) {
      const children = group.flatMap((service) => this.#current.get(service) ?? []);
      for (const service of group) this.#current.delete(service);
      await Promise.all(children.map((child) => child.stop(15_000)));
    }
  }
}

const count = (rows: readonly { n: string | number }[]) => Number(rows[0]?.n ?? 0);

/**
 * The chaos run: the engine as separate processes on a database, queue prefix and Redis of its
 * own; N communications over the HTTP API while workers are SIGKILLed, Redis restarts empty,
 * PostgreSQL restarts (own embedded one only), one provider is down and another fails a share;
 * then faults cleared, quiescence, and the count of lost, stuck and doubled sends.
 */
export async function runChaos(options: ChaosOptions, context: ChaosContext): Promise<ChaosReport> {
  const { cleanup, note } = context;
  const startedAt = new Date();
  const t0 = performance.now();
  const since = () => Math.round(performance.now() - t0);
  const runId = randomBytes(4).toString('hex');

  const redis = await PrivateRedis.start();
  cleanup.add('stopping the private redis-server', () => redis.stop());
  let ownPg: OwnPostgres | undefined;
  if (options.pgRestart) {
    note('chaos: starting an embedded PostgreSQL of its own (--pg-restart)…');
    ownPg = await cleanup.track(startOwnPostgres());
    const started = ownPg;
    cleanup.add('stopping the embedded PostgreSQL', () => started.stop());
  }
  const baseUrl = ownPg?.url ?? context.baseUrl;
  const database = await createBenchDatabase(baseUrl, 'chaos', cleanup);
  const db: Kysely<Database> = database.db;
  const prefix = `crm-chaos-${runId}`;
  const apiKey = await createApiKey(db);
  const ports = { ingest: await freePort(), smtp: await freePort(), http: await freePort() };
  const ingestUrl = `http://127.0.0.1:${ports.ingest}`;
  const sandboxUrl = `http://127.0.0.1:${ports.http}`;
  const keys = { encryption: randomBytes(32).toString('hex'), blindIndex: randomBytes(32).toString('hex') };
  const env = (): Record<string, string> => ({
    ...context.baseEnv,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: prefix,
    HOST: '127.0.0.1',
    PORT: String(ports.ingest),
    PUBLIC_BASE_URL: ingestUrl,
    DB_ENCRYPTION_KEY: keys.encryption,
    BLIND_INDEX_KEY: keys.blindIndex,
    PROVIDER_MODE: 'sandbox',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(ports.smtp),
    TWILIO_BASE_URL: `${sandboxUrl}/twilio`,
    WHATSAPP_BASE_URL: `${sandboxUrl}/whatsapp`,
    SANDBOX_HOST: '127.0.0.1',
    SANDBOX_SMTP_PORT: String(ports.smtp),
    SANDBOX_HTTP_PORT: String(ports.http),
    // The run tests recovery, not the calendar or the providers' throughput caps: no quiet hours,
    // send windows, frequency caps or rate limits (they postpone, which would read as "stuck").
    DEFAULT_QUIET_HOURS: 'off',
    EMAIL_SEND_WINDOW: 'off',
    SMS_SEND_WINDOW: 'off',
    WHATSAPP_SEND_WINDOW: 'off',
    FREQUENCY_CAP_SMS: 'off',
    TWILIO_RATE_LIMIT: 'off',
    SMS_RECIPIENT_RATE_LIMIT: 'off',
    WHATSAPP_RATE_LIMIT: 'off',
    WHATSAPP_RECIPIENT_RATE_LIMIT: 'off',
    API_RATE_LIMIT: 'off',
    // Recovery at a test's pace: a killed worker's jobs are taken over after 5 s, the reconciler
    // looks every 2 s, retries wait at most 5 s.
    QUEUE_LOCK_DURATION_MS: '5000',
    RECONCILER_INTERVAL_MS: '2000',
    RETRY_BASE_DELAY_MS: '500',
    RETRY_MAX_DELAY_MS: '5000',
    RETRY_MAX_ATTEMPTS: '8',
    BREAKER_RESET_TIMEOUT_MS: '5000',
  });
  const processes = new Processes(context.root, env);
  cleanup.add('stopping the engine processes', () => processes.stopAll());
  note(`chaos: database ${database.name}, queue prefix ${prefix}, private Redis ${redis.url}`);

  const check = () => processes.check();
  const workerReady = async (service: Killable) => {
    const queue = new Queue(workerQueue[service], { connection: redis.client, prefix });
    try {
      await waitUntil(async () => (await queue.getWorkersCount()) > 0, { what: `${service} to be ready`, check, timeoutMs: 60_000 });
    } finally {
      await queue.close();
    }
  };
  for (const service of chaosServices) processes.start(service);
  await Promise.all([
    waitUntil(async () => (await fetch(`${sandboxUrl}/health`)).status === 200, { what: 'sandbox to be ready', check, timeoutMs: 60_000 }),
    waitUntil(async () => (await fetch(`${ingestUrl}/ready`)).status === 200, { what: 'ingest to be ready', check, timeoutMs: 60_000 }),
    ...killable.map(workerReady),
  ]);
  note(`chaos: started ${processes.pids()}`);

  const http = new Pool(ingestUrl, { connections: 4, keepAliveTimeout: 10_000 });
  const sandboxHttp = new Pool(sandboxUrl, { connections: 16, keepAliveTimeout: 10_000 });
  cleanup.add('closing HTTP clients', async () => {
    await Promise.all([http.destroy().catch(() => undefined), sandboxHttp.destroy().catch(() => undefined)]);
  });
  const fault = async (channel: Channel, setting: Record<string, unknown> | null) => {
    const response = await sandboxHttp.request({
      method: setting ? 'PUT' : 'DELETE',
      path: `/admin/faults/${channel}`,
      ...(setting && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(setting) }),
    });
    await response.body.text();
    if (response.statusCode >= 300) throw new Error(`sandbox answered ${response.statusCode} to the ${channel} fault`);
  };

  // ---- chaos phase ----
  const chaosStarted = performance.now();
  const accepted = new Map<number, string>();
  let postRetries = 0;
  let postingDone = false;
  let chaosOver = false;
  const kills: Kill[] = [];
  /** Communication id → kills that found it `sending` on the killed worker's channels. */
  const sendingAtKills = new Map<string, number>();
  let redisRestarts = 0;
  let pgRestarts = 0;
  let keysAfterLastRestart: number | null = null;

  await fault('email', options.errorRate > 0 ? { errorCode: 451, errorRate: options.errorRate } : null);
  const outage = (async () => {
    if (options.outageSeconds === 0) return;
    await sleep(1_000);
    await fault('whatsapp', { outage: true });
    note(`chaos: WhatsApp stand-in down for ${options.outageSeconds} s`);
    await sleep(options.outageSeconds * 1_000);
    await fault('whatsapp', null);
    note('chaos: WhatsApp stand-in back');
  })();

  const posting = (async () => {
    const batches: number[][] = [];
    for (let i = 0; i < options.n; i += options.batchSize) batches.push(Array.from({ length: Math.min(options.batchSize, options.n - i) }, (_, k) => i + k));
    let next = 0;
    const lane = async () => {
      while (next < batches.length && !cleanup.closed) {
        const batch = batches[next++] ?? [];
        for (;;) {
          check();
          try {
            const response = await http.request({
              method: 'POST',
              path: '/api/crm/communications/batch',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
              body: JSON.stringify({ items: batch.map((i) => chaosRequest(runId, i)) }),
              headersTimeout: 30_000,
              bodyTimeout: 30_000,
            });
            const text = await response.body.text();
            if (response.statusCode === 200 || response.statusCode === 202) {
              const { items } = JSON.parse(text) as { items: { index: number; id: string }[] };
              for (const item of items) accepted.set(batch[item.index] ?? -1, item.id);
              break;
            }
            if (response.statusCode < 500 && response.statusCode !== 429) throw new Error(`ingest refused a batch: ${response.statusCode} ${text.slice(0, 300)}`);
          } catch (error) {
            if (error instanceof Error && error.message.startsWith('ingest refused')) throw error;
          }
          // Ingest could not take it (Redis or PostgreSQL down): the same keys again, after a pause.
          postRetries++;
          await sleep(500);
        }
      }
    };
    await Promise.all([lane(), lane()]);
    postingDone = true;
    note(`chaos: ${accepted.size} communications accepted (${postRetries} batch retries)`);
  })();

  const restarts = (async () => {
    for (let r = 1; r <= options.redisRestarts; r++) {
      const at = Math.floor((options.n * r) / (options.redisRestarts + 1));
      await waitUntil(async () => accepted.size >= at || postingDone, { what: 'posting to reach the Redis restart', timeoutMs: 600_000, intervalMs: 50 });
      await redis.restartEmpty(1_000);
      redisRestarts++;
      note(`chaos: Redis restarted empty (${r}/${options.redisRestarts}) at ${accepted.size} accepted`);
      await sleep(300);
      keysAfterLastRestart = await redis.dbsize();
    }
    if (ownPg) {
      await waitUntil(async () => accepted.size >= Math.floor(options.n * 0.8) || postingDone, { what: 'posting to reach the PostgreSQL restart', timeoutMs: 600_000, intervalMs: 50 });
      // A send in flight when PostgreSQL goes away can be accepted by the provider and not
      // recorded; its retry sends it again: the same window as a kill, for every channel at once.
      // Those `sending` just before the stop, and those still `sending` once it is back (claimed in between).
      const sendingNow = async () => (await sql<{ id: string }>`SELECT id FROM crm_communications WHERE status = 'sending'`
        .execute(db)
        .catch(() => ({ rows: [] as { id: string }[] }))).rows.map((row) => row.id);
      const before = await sendingNow();
      await ownPg.restart(1_000);
      pgRestarts++;
      for (const id of new Set([...before, ...(await sendingNow())])) sendingAtKills.set(id, (sendingAtKills.get(id) ?? 0) + 1);
      note(`chaos: PostgreSQL restarted at ${accepted.size} accepted`);
    }
  })();

  const killing = (async () => {
    while (!chaosOver && (options.kills === undefined || kills.length < options.kills)) {
      await sleep(options.killEveryMs);
      if (chaosOver || cleanup.closed) break;
      const service = killable[Math.floor(Math.random() * killable.length)] ?? 'email-worker';
      const watched = providerChannels[service];
      let sending = 0;
      if (watched.length > 0) {
        const { rows } = await sql<{ id: string }>`SELECT id FROM crm_communications WHERE status = 'sending' AND channel = ANY(${sql.val([...watched])}::crm_channel[])`
          .execute(db)
          .catch(() => ({ rows: [] as { id: string }[] }));
        sending = rows.length;
        for (const { id } of rows) sendingAtKills.set(id, (sendingAtKills.get(id) ?? 0) + 1);
      }
      const pid = processes.killAndRestart(service);
      kills.push({ service, atMs: since(), sending });
      note(`chaos: SIGKILL ${service} (${sending} rows sending on its channels); restarted as pid ${pid}`);
    }
  })();

  // Every part of the chaos has happened (and, with --kills, that many kills).
  await Promise.all([posting, outage, restarts]);
  await waitUntil(async () => options.kills === undefined || kills.length >= options.kills, { what: 'the kills', check, timeoutMs: 600_000, intervalMs: 100 });
  chaosOver = true;
  await killing;
  await sql`SELECT 1`.execute(db).catch(() => undefined);
  const faultsCleared = performance.now();
  const clear = await sandboxHttp.request({ method: 'DELETE', path: '/admin/faults' });
  await clear.body.text();
  const chaosPhaseMs = Math.round(faultsCleared - chaosStarted);
  note(`chaos: faults cleared after ${Math.round(chaosPhaseMs / 1000)} s; waiting for quiescence`);

  // ---- quiescence ----
  let drainMs: number | null = null;
  let lastSignature = '';
  let lastChange = performance.now();
  for (;;) {
    check();
    const { rows } = await sql<{ open: string; logs: string }>`
      SELECT (SELECT count(*) FROM crm_communications WHERE status = ANY(${sql.val([...notFinal])}::crm_status[])) AS open,
             (SELECT count(*) FROM crm_delivery_logs) AS logs`
      .execute(db)
      .catch(() => ({ rows: [] as { open: string; logs: string }[] }));
    const row = rows[0];
    if (row) {
      const rowCount = count(await sql<{ n: string }>`SELECT count(*) AS n FROM crm_communications`.execute(db).then((r) => r.rows));
      if (Number(row.open) === 0 && rowCount >= accepted.size) {
        drainMs = Math.round(performance.now() - faultsCleared);
        break;
      }
      const signature = `${row.open}/${row.logs}`;
      if (signature !== lastSignature) {
        lastSignature = signature;
        lastChange = performance.now();
      }
    }
    if (performance.now() - lastChange > options.quietSeconds * 1_000) break;
    await sleep(1_000);
  }
  note(drainMs === null ? `chaos: no change for ${options.quietSeconds} s; counting` : `chaos: every communication final ${Math.round(drainMs / 100) / 10} s after the faults were cleared`);

  // ---- counting ----
  const ids = [...accepted.values()];
  const rows: { id: string; status: string; channel: string | null; channels_tried: string[] | string }[] = [];
  for (let i = 0; i < ids.length; i += 2_000) {
    const chunk = ids.slice(i, i + 2_000);
    const { rows: part } = await sql<{ id: string; status: string; channel: string | null; channels_tried: string[] | string }>`SELECT id, status, channel, channels_tried FROM crm_communications WHERE id = ANY(${sql.val(chunk)}::uuid[])`.execute(db);
    rows.push(...part);
  }
  const tried = (value: string[] | string): Channel[] => (Array.isArray(value) ? value : value.replace(/[{}]/g, '').split(',')).filter((c): c is Channel => (channels as readonly string[]).includes(c));
  const byStatus: Record<string, number> = {};
  const failedByChannel: Record<string, number> = {};
  for (const row of rows) {
    byStatus[row.status] = (byStatus[row.status] ?? 0) + 1;
    if (row.status === 'failed' || row.status === 'bounced') failedByChannel[row.channel ?? 'none'] = (failedByChannel[row.channel ?? 'none'] ?? 0) + 1;
  }
  const missing = ids.length - rows.length;
  const lost = missing + (byStatus.pending ?? 0);
  const stuck = rows.filter((row) => row.status !== 'pending' && (notFinal as readonly string[]).includes(row.status)).length;
  const final = rows.filter((row) => !(notFinal as readonly string[]).includes(row.status)).length;

  const outboxPath: Record<Channel, string> = { email: '/smtp/messages', sms: '/sms/messages', whatsapp: '/whatsapp/messages' };
  const seen = async (channel: Channel, id: string): Promise<number> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await sandboxHttp.request({ method: 'GET', path: `${outboxPath[channel]}?communicationId=${id}&limit=100` });
        const body = (await response.body.json()) as { messages: { direction?: string }[] };
        return body.messages.filter((message) => message.direction !== 'outbound-reply').length;
      } catch (error) {
        if (attempt >= 3) throw error;
        await sleep(200);
      }
    }
  };
  const duplicatesBy: Record<Channel, number> = { email: 0, sms: 0, whatsapp: 0 };
  let doubled = 0;
  let sentUnseen = 0;
  let unexplained = 0;
  const reached = new Set(['sent', 'delivered', 'opened', 'clicked', 'responded']);
  let cursor = 0;
  const lane = async () => {
    while (cursor < rows.length) {
      const row = rows[cursor++];
      if (!row) break;
      let total = 0;
      let extra = 0;
      for (const channel of tried(row.channels_tried)) {
        const n = await seen(channel, row.id);
        total += n;
        if (n > 1) {
          duplicatesBy[channel] += n - 1;
          extra += n - 1;
        }
      }
      if (extra > 0) doubled++;
      unexplained += Math.max(0, extra - (sendingAtKills.get(row.id) ?? 0));
      if (reached.has(row.status) && total === 0) sentUnseen++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, lane));
  const duplicates = duplicatesBy.email + duplicatesBy.sms + duplicatesBy.whatsapp;

  const duringProviderCall = kills.filter((kill) => kill.sending > 0).length;
  const byService: Record<string, number> = {};
  for (const kill of kills) byService[kill.service] = (byService[kill.service] ?? 0) + 1;
  const misses: string[] = [];
  if (accepted.size < options.n) misses.push(`${options.n - accepted.size} requests never accepted`);
  if (lost > 0) misses.push(`${lost} lost`);
  if (stuck > 0) misses.push(`${stuck} stuck`);
  // A kill can double every send it interrupts after the provider accepted it (docs/delivery.md),
  // and a worker runs many at once: a duplicate is explained when its communication was `sending`
  // on the killed worker's channels at a kill. Any other duplicate is a defect.
  if (unexplained > 0) misses.push(`${unexplained} duplicate sends of communications that no kill or PostgreSQL restart interrupted`);
  const perKill = duplicates <= duringProviderCall;

  const version = async (query: string) => String(((await sql.raw<Record<string, string>>(query).execute(db)).rows[0] ?? {})['v'] ?? '?');
  const pgVersion = await version('SELECT current_setting(\'server_version\') AS v');
  const redisInfo = await redis.client.info('server');
  return {
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options,
    machine: machine(),
    postgres: {
      own: Boolean(ownPg),
      version: pgVersion.split(' ')[0] ?? pgVersion,
      restarts: pgRestarts,
      note: ownPg ? 'an embedded PostgreSQL started by the run, restarted once' : "the machine's PostgreSQL: not restarted (only with --pg-restart, on an embedded PostgreSQL of the run's own)",
    },
    redis: { version: /^redis_version:(\S+)/m.exec(redisInfo)?.[1] ?? '?', restarts: redisRestarts, keysAfterLastRestart },
    faults: {
      outage: options.outageSeconds > 0 ? `WhatsApp stand-in down (HTTP 503) for ${options.outageSeconds} s` : 'none',
      errorRate: options.errorRate > 0 ? `SMTP refuses ${Math.round(options.errorRate * 100)} % of emails with 451 (transient) during the chaos phase` : 'none',
    },
    sent: { requested: options.n, accepted: accepted.size, postRetries },
    communications: { final, byStatus, failedByChannel, lost, stuck, sentUnseen },
    duplicates: { total: duplicates, communications: doubled, byChannel: duplicatesBy, unexplained, atMostOnePerKillDuringProviderCall: perKill },
    kills: { total: kills.length, duringProviderCall, rowsSendingAtKills: sendingAtKills.size, byService, list: kills },
    drainMs,
    chaosPhaseMs,
    totalMs: since(),
    target: { met: misses.length === 0, misses },
    resources: { database: database.name, queuePrefix: prefix },
  };
}
