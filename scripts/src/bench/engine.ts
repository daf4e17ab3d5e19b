import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { Pool } from 'undici';
import { ApiKeyRepository, type Database } from '@crm/db';
import { ChildGroup, freePort, waitUntil } from './children';
import type { BenchOptions } from './options';

export const serviceNames = ['sandbox', 'email-worker', 'strategy-worker', 'ingest'] as const;
export type ServiceName = (typeof serviceNames)[number];

/** The queue whose worker count tells that a worker service is up. */
const workerQueue: Partial<Record<ServiceName, string>> = { 'strategy-worker': 'crm.requests', 'email-worker': 'crm.email' };

export interface EngineOptions {
  /** Repository root (services/<name>/dist/main.js live under it). */
  readonly root: string;
  /** Variables every child gets besides the engine's (PATH). */
  readonly baseEnv: Record<string, string>;
  readonly databaseUrl: string;
  /** Per-service DATABASE_URL, e.g. through the statement-counting proxy. */
  readonly databaseUrlFor?: Partial<Record<ServiceName, string>>;
  readonly redisUrl: string;
  /** The bench's own Redis connection (for readiness checks). */
  readonly redis: Redis;
  readonly prefix: string;
  readonly options: BenchOptions;
}

/**
 * The engine as production runs it: each service its own process, `node services/<name>/dist/main.js`,
 * configured by environment only, on ports chosen here, with a fresh database and queue prefix.
 */
export class Engine {
  readonly children = new ChildGroup();
  readonly #props: EngineOptions;
  readonly #ports: { ingest: number; smtp: number; http: number };
  readonly #keys = { encryption: randomBytes(32).toString('hex'), blindIndex: randomBytes(32).toString('hex') };

  private constructor(props: EngineOptions, ports: { ingest: number; smtp: number; http: number }) {
    this.#props = props;
    this.#ports = ports;
  }

  static async create(props: EngineOptions): Promise<Engine> {
    const ports = { ingest: await freePort(), smtp: await freePort(), http: await freePort() };
    if (new Set(Object.values(ports)).size !== 3) return Engine.create(props);
    return new Engine(props, ports);
  }

  get ingestUrl(): string {
    return `http://127.0.0.1:${this.#ports.ingest}`;
  }

  get sandboxUrl(): string {
    return `http://127.0.0.1:${this.#ports.http}`;
  }

  /** The whole environment of one service's process. */
  env(service: ServiceName): Record<string, string> {
    const { options } = this.#props;
    const sandbox = this.sandboxUrl;
    const env: Record<string, string> = {
      ...this.#props.baseEnv,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DATABASE_URL: this.#props.databaseUrlFor?.[service] ?? this.#props.databaseUrl,
      REDIS_URL: this.#props.redisUrl,
      QUEUE_PREFIX: this.#props.prefix,
      HOST: '127.0.0.1',
      PORT: String(this.#ports.ingest),
      PUBLIC_BASE_URL: this.ingestUrl,
      DB_ENCRYPTION_KEY: this.#keys.encryption,
      BLIND_INDEX_KEY: this.#keys.blindIndex,
      PROVIDER_MODE: 'sandbox',
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(this.#ports.smtp),
      TWILIO_BASE_URL: `${sandbox}/twilio`,
      WHATSAPP_BASE_URL: `${sandbox}/whatsapp`,
      SANDBOX_HOST: '127.0.0.1',
      SANDBOX_SMTP_PORT: String(this.#ports.smtp),
      SANDBOX_HTTP_PORT: String(this.#ports.http),
      WORKER_CONCURRENCY: String(options.workerConcurrency),
      // The bench measures the pipeline, not the clock: at night (UTC, the bench clients' zone)
      // quiet hours would postpone every message until the morning.
      DEFAULT_QUIET_HOURS: 'off',
      EMAIL_SEND_WINDOW: 'off',
    };
    if (options.smtpPool !== undefined) env.SMTP_POOL_MAX_CONNECTIONS = String(options.smtpPool);
    if (options.dbPool !== undefined) env.DATABASE_POOL_MAX = String(options.dbPool);
    return env;
  }

  /** Starts `services` and waits until each answers (HTTP) or has its worker registered (BullMQ). */
  async start(services: readonly ServiceName[]): Promise<void> {
    for (const service of services) this.children.start(service, join(this.#props.root, 'services', service, 'dist', 'main.js'), { env: this.env(service) });
    const check = () => this.children.check();
    await Promise.all(
      services.map(async (service) => {
        const what = `${service} to be ready`;
        if (service === 'ingest') return waitUntil(async () => (await fetch(`${this.ingestUrl}/ready`)).status === 200, { what, check });
        if (service === 'sandbox') return waitUntil(async () => (await fetch(`${this.sandboxUrl}/health`)).status === 200, { what, check });
        const queue = new Queue(workerQueue[service] ?? '', { connection: this.#props.redis, prefix: this.#props.prefix });
        try {
          await waitUntil(async () => (await queue.getWorkersCount()) > 0, { what, check });
        } finally {
          await queue.close();
        }
      }),
    );
  }

  /** Stops the given services (all by default) with SIGTERM, as an orchestrator would. */
  stop(services?: readonly ServiceName[]): Promise<void> {
    return this.children.stop(services);
  }

  check(): void {
    this.children.check();
  }
}

/** A new API key for ingest (`Authorization: Bearer <key>`), stored hashed in the bench's database. */
export async function createApiKey(db: Kysely<Database>): Promise<string> {
  return (await ApiKeyRepository.create(db, { name: 'bench' })).key;
}

/** One communication request of the bench: a new client each, its address given inline. */
export function benchRequest(planId: string, i: number): Record<string, unknown> {
  return {
    clientId: `bench-${planId}-${i}`,
    planId,
    messageType: 'reminder',
    // What the reminder template needs: the bench renders the real MJML template.
    variables: { n: i, clientName: 'Ada', eventName: 'Summer gala', reminderText: 'Please confirm the guest list.', dueDate: '2026-12-01' },
    recipient: { email: `bench-${i}@example.com` },
  };
}

export interface Posted {
  readonly status: number;
  readonly ms: number;
  readonly body: string;
}

/** HTTP/1.1 keep-alive client of ingest (undici), `connections` sockets at most. */
export class IngestClient {
  readonly #pool: Pool;
  readonly #headers: Record<string, string>;

  constructor(url: string, connections: number, apiKey: string) {
    this.#pool = new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
    this.#headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` };
  }

  async post(path: string, payload: unknown): Promise<Posted> {
    const started = performance.now();
    const response = await this.#pool.request({ method: 'POST', path, headers: this.#headers, body: JSON.stringify(payload) });
    const body = await response.body.text();
    return { status: response.statusCode, ms: performance.now() - started, body };
  }

  /** Posts one request; throws unless ingest accepted it. */
  async send(payload: unknown): Promise<number> {
    const answer = await this.post('/api/crm/communications', payload);
    if (answer.status !== 202 && answer.status !== 200) throw new Error(`ingest answered ${answer.status}: ${answer.body.slice(0, 300)}`);
    return answer.ms;
  }

  /** Aborts whatever is in flight and closes the connections. */
  destroy(): Promise<void> {
    return this.#pool.destroy().catch(() => undefined);
  }
}

/**
 * Posts `count` requests over `concurrency` connections, each as soon as the previous on its
 * connection was answered (closed loop). Returns each request's latency and the wall time.
 */
export async function postClosedLoop(
  client: IngestClient,
  options: { count: number; concurrency: number; body: (i: number) => unknown; onAccepted?: (accepted: number) => void; check?: () => void },
): Promise<{ ms: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < options.count) {
      const i = next++;
      latencies.push(await client.send(options.body(i)));
      options.onAccepted?.(latencies.length);
      if (latencies.length % 200 === 0) options.check?.();
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.count) }, lane));
  return { ms: performance.now() - started, latencies };
}
