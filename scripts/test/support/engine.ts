import type { Redis } from 'ioredis';
import type { BackoffPolicy, JsonObject, MessageChannel, MessageType, StrategySettings, UrgencyLevel } from '@crm/core';
import { CommunicationRepository, upsertClientContact, type CommunicationRow } from '@crm/db';
import { batchedWrites, PreferencesCache, ProviderBreakers, TemplateStore, type BreakerSettings } from '@crm/delivery';
import { startEmailWorker, type EmailContentSettings } from '@crm/email-worker';
import { createLogger, type LoggerOptions, type LogLevel } from '@crm/observability';
import { loadConfig } from '@crm/config';
import { strategySettingsOf } from '@crm/runtime';
import { startMessagingWorker, smsSender, whatsAppSender } from '@crm/messaging-worker';
import { createSmtpTransport, createTwilioClient, createWhatsAppClient, type EmailTransport } from '@crm/providers';
import { createRedisConnection, QueueProducer, waitForRedis } from '@crm/queue';
import { buildApp, type OperatorAccess, type WebhookSettings } from '@crm/ingest';
import { startCallbackWorker, type CallbackWorker } from '@crm/callback-worker';
import { startSandbox, type Sandbox, type StartSandboxOptions } from '@crm/sandbox';
import { startStrategyWorker, type StrategyWorker } from '@crm/strategy-worker';
import { createTestDatabase, createTestRedis, testEnvironment, testPiiKeys, waitFor, type TestDatabase, type TestRedis } from '@crm/testing';

/**
 * The engine's workers in this process, on a database of the test's own, a queue prefix of its
 * own (on the shared Redis, or on `redisUrl`), and a sandbox of its own. Requests are stored
 * and enqueued exactly as ingest does (row first, then the job), without HTTP.
 */
export interface TestEngine {
  readonly t: TestDatabase;
  readonly prefix: string;
  readonly producer: QueueProducer;
  readonly sandbox: Sandbox;
  readonly breakers: ProviderBreakers;
  /**
   * The routing preferences cache the strategy worker reads through (PREFERENCES_CACHE_TTL_SECONDS
   * of the test config); ingest, `send` and the channel workers invalidate it as production does.
   * A test that changes preferences in PostgreSQL directly must invalidate too.
   */
  readonly preferencesCache: PreferencesCache;
  /** The email templates, when the engine renders them (`templates: true`). */
  readonly templates: TemplateStore | null;
  /** Ingest's base URL, when the engine runs it (`webhooks: true`). */
  readonly ingestUrl: string | null;
  /** What the email worker puts in every email, when it renders templates. */
  readonly emailContent: EmailContentSettings | null;
  strategy: StrategyWorker | null;
  email: { close(): Promise<void> } | null;
  messaging: { close(): Promise<void> } | null;
  /** The callback worker, when the engine runs it (`callbacks: true`). */
  callbackWorker: CallbackWorker | null;
  /** Stores a communication for a client with the given contact details and enqueues it. */
  send(input: SendInput): Promise<string>;
  /** Waits until the communication is final (or `sent`). */
  finished(id: string, timeoutMs?: number): Promise<CommunicationRow>;
  /** Sets a sandbox fault on `channel` through its admin API. */
  fault(channel: MessageChannel, setting: Record<string, unknown>): Promise<void>;
  startWorkers(): Promise<void>;
  stopWorkers(): Promise<void>;
  close(): Promise<void>;
}

export interface SendInput {
  readonly clientId?: string;
  readonly email?: string;
  readonly phone?: string;
  readonly messageType?: MessageType;
  readonly urgency?: UrgencyLevel;
  readonly channel?: MessageChannel;
  readonly planId?: string;
  readonly variables?: JsonObject;
  /** Ids of stored attachments (`saveAttachment`). */
  readonly attachmentIds?: readonly string[];
  /** The client's time zone and quiet hours (`HH:MM`), stored with the contact details. */
  readonly timezone?: string;
  /** Store the row only (a crash between commit and enqueue). */
  readonly skipEnqueue?: boolean;
}

export interface TestEngineOptions {
  readonly redisUrl?: string;
  readonly retry?: BackoffPolicy;
  readonly breaker?: BreakerSettings;
  readonly reconcilerIntervalMs?: number | null;
  readonly reconcilerGraceMs?: number;
  readonly deliverableChannels?: readonly MessageChannel[];
  /** Start the workers now. @defaultValue true */
  readonly startWorkers?: boolean;
  /** Run the email worker in this process (false: a test runs it as a child process). @defaultValue true */
  readonly inProcessEmail?: boolean;
  /** Also run the messaging worker (SMS and WhatsApp through the sandbox's Twilio and Graph stand-ins). @defaultValue false */
  readonly messaging?: boolean;
  /** WORKER_BATCH_WINDOW_MS of the workers (0: one statement per job). @defaultValue 2, as in production */
  readonly batchWindowMs?: number;
  /** The strategy's settings. @defaultValue the test environment's: no quiet hours, windows or caps; 15-minute digests */
  readonly strategy?: StrategySettings;
  /** The strategy's clock. @defaultValue the real one */
  readonly clock?: () => Date;
  /**
   * Render emails from the MJML templates (seeded into the test's database) with tracking and
   * unsubscribe links, as production does. @defaultValue false: the plain skeleton text
   */
  readonly templates?: boolean;
  /**
   * Run ingest (on a free port) with its provider webhooks, and let the sandbox post signed
   * status callbacks (`callbackDelayMs` apart) and inbound messages to it, as the providers do.
   * @defaultValue false
   */
  readonly webhooks?: boolean | { readonly callbackDelayMs?: number };
  /** Who may open ingest's operator pages (the dashboard, Bull Board), when it runs. @defaultValue none: they answer 503 */
  readonly operator?: OperatorAccess;
  /** More options of the sandbox (e.g. `whatsappWindow`). */
  readonly sandbox?: Partial<StartSandboxOptions>;
  /**
   * Also run the callback worker: it POSTs the signed events (`communication.*`,
   * `client.replied`) to the subscriptions made with `POST /api/crm/callbacks`, looking for new
   * events every `dispatchIntervalMs` (default 50) and retrying a refused POST after 100 ms,
   * 200 ms, … (at most 1 s). @defaultValue false
   */
  readonly callbacks?: boolean | { readonly dispatchIntervalMs?: number };
  /** Where the logger shared by every service of the engine writes its JSON lines (a test capturing them). @defaultValue none: silent */
  readonly logDestination?: NonNullable<LoggerOptions['destination']>;
  /** That logger's level. @defaultValue 'debug' with a `logDestination`, else 'silent' */
  readonly logLevel?: LogLevel;
}

/** The tracking key and public URL of test engines that render templates. */
export const testEmailContent = Object.freeze({
  publicBaseUrl: 'https://crm.test',
  trackingSecret: 't'.repeat(32),
  tracking: true,
  postalAddress: 'Event Planner, 1 Example Street, Springfield, USA',
  unsubscribeMailto: 'unsubscribe@example.com',
});

/** What the default message type (reminder) needs, so that an email worker rendering templates can send it. */
const defaultVariables = Object.freeze({ clientName: 'Ada', eventName: 'Summer gala', reminderText: 'Please confirm the guest list.', dueDate: '2026-12-01' });

export const testKeys = testPiiKeys;
export const fastRetry: BackoffPolicy = Object.freeze({ baseDelayMs: 20, factor: 2, maxDelayMs: 200, maxAttempts: 3 });
/** Where `finished` stops waiting: the message was handed to its provider (sent, or what receipts moved it to since) or it ended. */
const finalStatuses = ['sent', 'delivered', 'opened', 'clicked', 'responded', 'failed', 'bounced', 'cancelled', 'batched'];

export async function startTestEngine(options: TestEngineOptions = {}): Promise<TestEngine> {
  const config = loadConfig(testEnvironment());
  const logger = createLogger({
    service: 'engine-test', level: options.logLevel ?? (options.logDestination ? 'debug' : 'silent'),
    ...(options.logDestination && { destination: options.logDestination }),
  });
  const t = await createTestDatabase();
  let r: TestRedis | undefined;
  let redisUrl = options.redisUrl;
  let prefix = `crm-test-${Math.random().toString(16).slice(2, 10)}`;
  if (!redisUrl) {
    r = await createTestRedis();
    redisUrl = r.url;
    prefix = r.prefix;
  }
  const producerConnection = createRedisConnection({ url: redisUrl, role: 'producer' });
  await waitForRedis(producerConnection);
  const producer = new QueueProducer({ connection: producerConnection, prefix });
  // On the fail-fast producer connection, as the services use one of their own.
  const preferencesCache = new PreferencesCache({ db: t.db, redis: producerConnection, prefix, ttlSeconds: config.preferences.cacheTtlSeconds, logger });
  // Ingest first, when the sandbox is to call its webhooks: the URLs (and Twilio's signature) name its port.
  // Its public URL is known once it listens; the routes read the settings on every call.
  const webhookSettings: { -readonly [K in keyof WebhookSettings]: WebhookSettings[K] } = { twilioAuthToken: config.twilio.authToken, whatsappAppSecret: config.whatsapp.appSecret, whatsappVerifyToken: config.whatsapp.verifyToken, publicBaseUrl: '' };
  const ingest = options.webhooks
    ? await buildApp({ db: t.db, producer, keys: testKeys, logger, redisPing: () => producerConnection.ping(), bodyLimitBytes: 65_536, webhooks: webhookSettings, redis: producerConnection, preferencesCache,
        // The tracking key the email worker signs with, when it renders templates (opens and clicks then verify).
        ...(options.templates && { email: { trackingSecret: testEmailContent.trackingSecret, machineOpenWindowMs: config.email.machineOpenWindowMs, attachmentMaxTotalBytes: config.email.attachmentMaxTotalBytes } }),
        ...(options.operator && { operator: options.operator }) })
    : null;
  const ingestUrl = ingest ? await ingest.listen({ host: '127.0.0.1', port: 0 }) : null;
  webhookSettings.publicBaseUrl = ingestUrl ?? '';
  const sandbox = await startSandbox({
    logger, smtpPort: 0, httpPort: 0,
    ...(ingestUrl && {
      callbacks: { enabled: true, delayMs: (typeof options.webhooks === 'object' ? options.webhooks.callbackDelayMs : undefined) ?? 20 },
      webhooks: { twilioInboundUrl: `${ingestUrl}/webhooks/twilio/inbound`, whatsappUrl: `${ingestUrl}/webhooks/whatsapp`, whatsappAppSecret: config.whatsapp.appSecret },
    }),
    ...options.sandbox,
  });
  // Ingest answers STOP, START and HELP on WhatsApp through the sandbox's Cloud API.
  if (ingest) webhookSettings.whatsappReplies = createWhatsAppClient({ ...config.whatsapp, baseUrl: `${sandbox.httpUrl}/whatsapp` });
  const breakers = new ProviderBreakers(options.breaker ?? { errorThresholdPercentage: 50, volumeThreshold: 1_000, rollingCountTimeoutMs: 10_000, resetTimeoutMs: 1_000 }, logger);
  const transport: EmailTransport = createSmtpTransport({
    host: sandbox.host, port: sandbox.smtpPort, secure: false, requireTls: false, user: null, password: null,
    from: 'Planner <planner@example.com>', pool: { maxConnections: 3, maxMessages: 100 },
  });
  let workerConnection: Redis | undefined;
  let clients = 0;
  const templateRedis = options.templates ? createRedisConnection({ url: redisUrl, role: 'worker' }) : null;
  const templates = templateRedis ? new TemplateStore({ db: t.db, logger, redis: templateRedis, prefix }) : null;
  if (templates) await templates.seed();
  const emailContent: EmailContentSettings | null = templates ? { ...testEmailContent, templates } : null;

  const engine: TestEngine = {
    t,
    prefix,
    producer,
    sandbox,
    breakers,
    preferencesCache,
    templates,
    ingestUrl,
    emailContent,
    strategy: null,
    email: null,
    messaging: null,
    callbackWorker: null,
    async send(input) {
      const clientId = input.clientId ?? `client-${++clients}`;
      await upsertClientContact(t.db, testKeys, {
        clientId,
        ...(input.email !== undefined && { email: input.email }),
        ...(input.phone !== undefined && { phone: input.phone }),
        ...(input.timezone !== undefined && { timezone: input.timezone }),
      });
      // As ingest does after storing a recipient: the strategy must not read cached preferences from before.
      await preferencesCache.invalidate([clientId]);
      const { communication } = await CommunicationRepository.save(t.db, {
        clientId, planId: input.planId ?? 'plan-7', messageType: input.messageType ?? 'reminder', urgency: input.urgency ?? 'normal',
        requestedChannel: input.channel ?? null, sendAt: null, variables: input.variables ?? defaultVariables, metadata: {},
        idempotencyKey: null, requestHash: null,
        ...(input.attachmentIds && { attachmentIds: input.attachmentIds }),
      });
      if (!input.skipEnqueue) await producer.enqueue('crm.requests', { communicationId: communication.id });
      return communication.id;
    },
    finished: (id, timeoutMs = 15_000) =>
      waitFor(async () => {
        const row = await CommunicationRepository.findById(t.db, id);
        return row && finalStatuses.includes(row.status) ? row : undefined;
      }, { timeoutMs, message: `communication ${id} to finish` }),
    async fault(channel, setting) {
      const response = await fetch(`${sandbox.httpUrl}/admin/faults/${channel}`, {
        method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(setting),
      });
      if (!response.ok) throw new Error(`sandbox fault: ${response.status} ${await response.text()}`);
    },
    async startWorkers() {
      workerConnection ??= createRedisConnection({ url: redisUrl, role: 'worker' });
      engine.strategy = startStrategyWorker({
        db: t.db, producer, logger, connection: workerConnection, prefix,
        deliverableChannels: options.deliverableChannels ?? (options.messaging ? ['email', 'sms', 'whatsapp'] : ['email']),
        batchWindowMs: options.batchWindowMs ?? 2,
        reconcilerIntervalMs: options.reconcilerIntervalMs === undefined ? null : options.reconcilerIntervalMs,
        settings: options.strategy ?? strategySettingsOf(config),
        preferences: (clientIds) => preferencesCache.getMany(clientIds),
        ...(options.clock !== undefined && { clock: options.clock }),
        ...(options.reconcilerGraceMs !== undefined && { reconcilerGraceMs: options.reconcilerGraceMs }),
      });
      const email = options.inProcessEmail === false
        ? null
        : startEmailWorker({
          db: t.db, producer, transport, keys: testKeys, logger, breakers, connection: workerConnection, prefix,
          retry: options.retry ?? fastRetry, concurrency: 5, preferencesCache,
          ...(emailContent && { content: emailContent }),
          ...((options.batchWindowMs ?? 2) > 0 && { writes: batchedWrites(t.db, testKeys, { windowMs: options.batchWindowMs ?? 2 }) }),
        });
      engine.email = email;
      const messaging = options.messaging
        ? startMessagingWorker({
          db: t.db, producer, keys: testKeys, logger, breakers, connection: workerConnection, prefix, retry: options.retry ?? fastRetry, concurrency: 5,
          senders: {
            sms: smsSender(createTwilioClient({ ...config.twilio, baseUrl: `${sandbox.httpUrl}/twilio` }), { db: t.db, logger, preferencesCache, ...(ingestUrl && { publicBaseUrl: ingestUrl }) }),
            whatsapp: whatsAppSender(createWhatsAppClient({ ...config.whatsapp, baseUrl: `${sandbox.httpUrl}/whatsapp` }), { db: t.db, keys: testKeys, logger }),
          },
        })
        : null;
      engine.messaging = messaging;
      engine.callbackWorker = options.callbacks
        ? startCallbackWorker({
          db: t.db, keys: testKeys, logger, connection: workerConnection, prefix, producer,
          dispatchIntervalMs: (typeof options.callbacks === 'object' ? options.callbacks.dispatchIntervalMs : undefined) ?? 50,
          backoffBaseMs: 100, backoffMaxMs: 1_000, timeoutMs: 5_000, reconcileIntervalMs: null,
        })
        : null;
      await Promise.all([engine.strategy.ready(), email?.ready(), messaging?.ready(), engine.callbackWorker?.ready()]);
    },
    async stopWorkers() {
      await Promise.all([engine.strategy?.close(), engine.email?.close(), engine.messaging?.close(), engine.callbackWorker?.close()]);
      engine.callbackWorker = null;
      engine.strategy = null;
      engine.email = null;
      engine.messaging = null;
    },
    async close() {
      await engine.stopWorkers();
      await transport.close();
      breakers.shutdown();
      await producer.close();
      await producerConnection.quit().catch(() => undefined);
      await workerConnection?.quit().catch(() => undefined);
      await templateRedis?.quit().catch(() => undefined);
      await sandbox.stop();
      await ingest?.close();
      await t.destroy();
      await r?.destroy();
    },
  };
  if (options.startWorkers !== false) await engine.startWorkers();
  return engine;
}

/** A communication's delivery log as `[event, attempt, detail.action]` triples. */
export async function attemptTrail(engine: TestEngine, id: string): Promise<[string, number | null, string | null, string | null][]> {
  const logs = await CommunicationRepository.listLogs(engine.t.db, id);
  return logs.map((l) => [l.event, l.attempt, l.channel, ((l.detail as { action?: string }).action ?? null)]);
}
