import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { variables, type RawValues, type VariableSpec } from './variables';

export type Environment = Readonly<Record<string, string | undefined>>;

export interface DatabaseConfig {
  readonly url: string;
  readonly poolMax: number;
  readonly statementTimeoutMs: number;
}
export interface RedisConfig {
  readonly url: string;
  /** Prefix of every BullMQ key. */
  readonly queuePrefix: string;
}
export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  readonly publicBaseUrl: string;
  readonly bodyLimitBytes: number;
}
/** The ops HTTP server of a worker process (`/health`, `/ready`, `/metrics`). */
export interface OpsConfig {
  /** `OPS_PORT`; 0: any free port. It listens on `HOST`. */
  readonly port: number;
}
export interface SecurityConfig {
  readonly dbEncryptionKey: string;
  /** Earlier encryption keys that still decrypt rows not yet rotated. */
  readonly previousEncryptionKeys: readonly string[];
  readonly blindIndexKey: string;
}
/** The HTTP API's own limits. */
export interface ApiConfig {
  /** Requests per API key; `null`: no limit. */
  readonly rateLimit: { readonly max: number; readonly windowMs: number } | null;
}
/** The Redis cache of clients' routing preferences (non-personal fields only). */
export interface PreferencesConfig {
  /** 0: no cache. */
  readonly cacheTtlSeconds: number;
}
export interface SMTPConfig {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  readonly requireTls: boolean;
  readonly user: string | null;
  readonly password: string | null;
  readonly from: string;
  readonly pool: { readonly maxConnections: number; readonly maxMessages: number };
  /** Messages per second each worker hands to the server; `null`: no limit. */
  readonly ratePerSecond: number | null;
}
/** What every email carries besides its template, and how engagement is tracked. */
export interface EmailConfig {
  readonly postalAddress: string;
  readonly unsubscribeMailto: string;
  readonly tracking: boolean;
  /** HMAC key of tracking and unsubscribe tokens (TRACKING_SECRET, or derived from BLIND_INDEX_KEY). */
  readonly trackingSecret: string;
  readonly machineOpenWindowMs: number;
  readonly attachmentMaxTotalBytes: number;
}
export interface TwilioConfig {
  readonly accountSid: string;
  readonly authToken: string;
  readonly fromNumber: string;
  readonly baseUrl: string;
}
export interface WhatsAppConfig {
  readonly phoneNumberId: string;
  readonly accessToken: string;
  readonly appSecret: string;
  readonly verifyToken: string;
  readonly apiVersion: string;
  readonly baseUrl: string;
}
/** Exponential backoff with full jitter: delay n = random(0, min(maxDelayMs, baseDelayMs × factor^(n-1))). */
export interface RetryConfig {
  readonly baseDelayMs: number;
  readonly factor: number;
  readonly maxDelayMs: number;
  readonly maxAttempts: number;
}
/** One opossum breaker per provider. */
export interface BreakerConfig {
  readonly errorThresholdPercentage: number;
  readonly volumeThreshold: number;
  readonly rollingCountTimeoutMs: number;
  readonly resetTimeoutMs: number;
}
export interface QueueConfig {
  readonly lockDurationMs: number;
  readonly concurrency: number;
  /** 0: one statement per job. */
  readonly batchWindowMs: number;
  readonly reconcilerIntervalMs: number;
}
export interface OperatorConfig {
  readonly username: string;
  /** `null`: operator pages are switched off. */
  readonly password: string | null;
  /**
   * HMAC key of operator session cookies, derived from BLIND_INDEX_KEY (the same in every
   * replica); the cookie's signature also covers the password, so changing it ends every session.
   */
  readonly sessionSecret: string;
  /** Session cookies carry `Secure` (PUBLIC_BASE_URL is https). */
  readonly secureCookie: boolean;
}
export interface BatchConfig {
  readonly enabled: boolean;
  readonly windowMs: number;
  readonly maxItems: number;
}
/** A daily span of local time, `HH:MM` to `HH:MM` (crosses midnight when start > end). */
export interface DailySpanConfig {
  readonly start: string;
  readonly end: string;
}
/** The strategy's defaults and timing rules (the shapes of @crm/core's `TimingPolicy`). */
export interface StrategyConfig {
  /** What a client who stated no preferences gets. */
  readonly defaults: {
    readonly channels: readonly ('email' | 'sms' | 'whatsapp')[];
    readonly timezone: string;
  };
  readonly timing: {
    readonly defaultQuietHours: DailySpanConfig | null;
    readonly channelWindows: Readonly<Partial<Record<'email' | 'sms' | 'whatsapp', DailySpanConfig>>>;
    readonly criticalBypassesQuietHours: boolean;
    readonly frequencyCaps: Readonly<Partial<Record<'email' | 'sms' | 'whatsapp', { readonly max: number; readonly windowMs: number }>>>;
  };
}
export interface SandboxConfig {
  readonly host: string;
  readonly smtpPort: number;
  readonly httpPort: number;
  /** Post signed status callbacks to ingest, as the real providers do. */
  readonly callbacks: boolean;
  readonly callbackDelayMs: number;
}
/** A rate `max` per `windowMs`. */
export interface RateConfig {
  readonly max: number;
  readonly windowMs: number;
}
/** Rate limits taken before each provider call; `null`: no limit. */
export interface RateLimitConfig {
  readonly twilio: RateConfig | null;
  readonly smsRecipient: RateConfig | null;
  readonly whatsapp: RateConfig | null;
  readonly whatsappRecipient: RateConfig | null;
  /** A slot at most this far off is waited for in the worker; a later one delays the job. */
  readonly maxWaitMs: number;
}
/** Signed event callbacks to subscribers (the callback worker). */
export interface CallbackConfig {
  /** A subscriber has this long to answer, in ms. */
  readonly timeoutMs: number;
  /** Attempts per event before it is marked failed. */
  readonly maxAttempts: number;
  /** How often new events are looked for in PostgreSQL, in ms. */
  readonly dispatchIntervalMs: number;
  /** Recent events scanned again (rows of concurrent transactions commit out of order), in ms. */
  readonly dispatchOverlapMs: number;
  /** Subscription URLs must be https, except on loopback hosts (NODE_ENV=production). */
  readonly requireHttps: boolean;
}
/** Client replies (SMS, WhatsApp). */
export interface InboundConfig {
  /** A reply is matched to a message that asked for an answer if that was sent at most this long ago. */
  readonly replyWindowMs: number;
}
export interface AppConfig {
  readonly env: RawValues['NODE_ENV'];
  readonly log: { readonly level: RawValues['LOG_LEVEL']; readonly pretty: boolean };
  readonly providerMode: RawValues['PROVIDER_MODE'];
  readonly database: DatabaseConfig;
  readonly redis: RedisConfig;
  readonly server: ServerConfig;
  readonly ops: OpsConfig;
  readonly security: SecurityConfig;
  readonly smtp: SMTPConfig;
  readonly email: EmailConfig;
  readonly twilio: TwilioConfig;
  readonly whatsapp: WhatsAppConfig;
  readonly retry: RetryConfig;
  readonly breaker: BreakerConfig;
  readonly queue: QueueConfig;
  readonly operator: OperatorConfig;
  readonly batch: BatchConfig;
  readonly strategy: StrategyConfig;
  readonly sandbox: SandboxConfig;
  readonly rateLimits: RateLimitConfig;
  readonly inbound: InboundConfig;
  readonly callbacks: CallbackConfig;
  readonly api: ApiConfig;
  readonly preferences: PreferencesConfig;
}

/** One thing wrong with the environment. Never carries the variable's value. */
export interface ConfigIssue {
  readonly variable: string;
  readonly problem: string;
}

/** The environment is unusable; `issues` lists every problem found, not just the first. */
export class ConfigError extends Error {
  readonly code = 'CRM_CONFIG_INVALID';
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(formatIssues(issues));
    this.name = 'ConfigError';
    this.issues = Object.freeze([...issues]);
  }
}

function formatIssues(issues: readonly ConfigIssue[]): string {
  const lines = issues.map((issue) => `  - ${issue.variable}: ${issue.problem}`);
  return `Invalid environment (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`;
}

/** The variable that names a file holding a secret's value (Docker and Kubernetes secrets). */
export const fileVariableOf = (name: string): string => `${name}_FILE`;

/**
 * The text a variable is given: for a secret, either `NAME` or the content of the file that
 * `NAME_FILE` names (trailing newlines trimmed). `undefined`: unset (empty counts as unset).
 * Records a problem (`null`) when both are set or the file cannot be read; the problem names the
 * variable and the path, never the file's content.
 */
function givenText(spec: VariableSpec, env: Environment, issues: ConfigIssue[]): string | undefined | null {
  const direct = env[spec.name];
  const directSet = direct !== undefined && direct !== '';
  if (!spec.secret) return directSet ? direct : undefined;
  const fileVariable = fileVariableOf(spec.name);
  const path = env[fileVariable];
  if (path === undefined || path === '') return directSet ? direct : undefined;
  if (directSet) {
    issues.push({ variable: spec.name, problem: `set ${spec.name} or ${fileVariable}, not both` });
    return null;
  }
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    issues.push({ variable: spec.name, problem: `${fileVariable}: cannot read the file ${path}${code ? ` (${code})` : ''}` });
    return null;
  }
  const value = content.replace(/(\r?\n)+$/, '');
  if (value === '') {
    issues.push({ variable: spec.name, problem: `${fileVariable}: the file ${path} is empty` });
    return null;
  }
  return value;
}

/**
 * One variable's value: the environment's if set (empty counts as unset; a secret may come from
 * the file `NAME_FILE` names), else its default (the live one in live mode). Records a problem
 * and answers `undefined` when there is none.
 */
function readVariable<T>(spec: VariableSpec<T>, env: Environment, live: boolean, issues: ConfigIssue[]): T | undefined {
  const given = givenText(spec, env, issues);
  if (given === null) return undefined;
  const set = given !== undefined;
  if (!set && live && spec.requiredWhenLive) {
    issues.push({ variable: spec.name, problem: 'is required when PROVIDER_MODE=live' });
    return undefined;
  }
  const text = set ? given : live && spec.liveDefault !== undefined ? spec.liveDefault : spec.default;
  if (text === undefined) {
    issues.push({ variable: spec.name, problem: 'is required' });
    return undefined;
  }
  const parsed = spec.parse(text);
  if (parsed.ok) return parsed.value;
  issues.push({ variable: spec.name, problem: parsed.problem });
  return undefined;
}

const deepFreeze = <T>(value: T): T => {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
};

/**
 * Reads and validates the whole environment. Throws one {@link ConfigError} listing every
 * missing or invalid variable; values (secret or not) never appear in the message.
 *
 * @example
 * const config = loadConfig({ DB_ENCRYPTION_KEY: '…32+ chars…', BLIND_INDEX_KEY: '…' });
 * config.smtp.port // 2525
 */
export function loadConfig(env: Environment = readEnvironment()): AppConfig {
  const issues: ConfigIssue[] = [];
  const live = env.PROVIDER_MODE === 'live';
  const raw: Record<string, unknown> = {};

  for (const spec of Object.values(variables) as VariableSpec[]) {
    const value = readVariable(spec, env, live, issues);
    if (value !== undefined) raw[spec.name] = value;
  }

  const values = raw as RawValues;
  if (live) {
    for (const name of ['TWILIO_BASE_URL', 'WHATSAPP_BASE_URL'] as const) {
      if (typeof values[name] === 'string' && !values[name].startsWith('https://')) {
        issues.push({ variable: name, problem: 'must be an https URL when PROVIDER_MODE=live' });
      }
    }
    if (env.SMTP_REQUIRE_TLS !== undefined && values.SMTP_REQUIRE_TLS === false) {
      issues.push({ variable: 'SMTP_REQUIRE_TLS', problem: 'cannot be false when PROVIDER_MODE=live' });
    }
  }
  if (values.NODE_ENV === 'production' && values.LOG_PRETTY === true) {
    issues.push({ variable: 'LOG_PRETTY', problem: 'must be false when NODE_ENV=production (logs are JSON lines)' });
  }
  if (
    typeof values.DB_ENCRYPTION_KEY === 'string' &&
    values.DB_ENCRYPTION_KEY === values.BLIND_INDEX_KEY
  ) {
    issues.push({ variable: 'BLIND_INDEX_KEY', problem: 'must differ from DB_ENCRYPTION_KEY' });
  }
  if (issues.length > 0) throw new ConfigError(issues);

  return deepFreeze({
    env: values.NODE_ENV,
    log: { level: values.LOG_LEVEL, pretty: values.LOG_PRETTY },
    providerMode: values.PROVIDER_MODE,
    database: {
      url: values.DATABASE_URL,
      poolMax: values.DATABASE_POOL_MAX,
      statementTimeoutMs: values.DATABASE_STATEMENT_TIMEOUT_MS,
    },
    redis: { url: values.REDIS_URL, queuePrefix: values.QUEUE_PREFIX },
    server: {
      host: values.HOST,
      port: values.PORT,
      publicBaseUrl: values.PUBLIC_BASE_URL,
      bodyLimitBytes: values.BODY_LIMIT_BYTES,
    },
    ops: { port: values.OPS_PORT },
    security: { dbEncryptionKey: values.DB_ENCRYPTION_KEY, previousEncryptionKeys: values.DB_ENCRYPTION_PREVIOUS_KEYS, blindIndexKey: values.BLIND_INDEX_KEY },
    smtp: {
      host: values.SMTP_HOST,
      port: values.SMTP_PORT,
      secure: values.SMTP_SECURE,
      requireTls: live || values.SMTP_REQUIRE_TLS,
      user: values.SMTP_USER === '' ? null : values.SMTP_USER,
      password: values.SMTP_PASSWORD === '' ? null : values.SMTP_PASSWORD,
      from: values.SMTP_FROM,
      pool: { maxConnections: values.SMTP_POOL_MAX_CONNECTIONS, maxMessages: values.SMTP_POOL_MAX_MESSAGES },
      ratePerSecond: values.SMTP_RATE_PER_SECOND === 0 ? null : values.SMTP_RATE_PER_SECOND,
    },
    email: {
      postalAddress: values.SENDER_POSTAL_ADDRESS,
      unsubscribeMailto: values.UNSUBSCRIBE_MAILTO,
      tracking: values.EMAIL_TRACKING,
      trackingSecret: values.TRACKING_SECRET || createHmac('sha256', values.BLIND_INDEX_KEY).update('crm-engine tracking links').digest('base64url'),
      machineOpenWindowMs: values.MACHINE_OPEN_WINDOW_MS,
      attachmentMaxTotalBytes: values.ATTACHMENT_MAX_TOTAL_BYTES,
    },
    twilio: {
      accountSid: values.TWILIO_ACCOUNT_SID,
      authToken: values.TWILIO_AUTH_TOKEN,
      fromNumber: values.TWILIO_FROM_NUMBER,
      baseUrl: values.TWILIO_BASE_URL,
    },
    whatsapp: {
      phoneNumberId: values.WHATSAPP_PHONE_NUMBER_ID,
      accessToken: values.WHATSAPP_ACCESS_TOKEN,
      appSecret: values.WHATSAPP_APP_SECRET,
      verifyToken: values.WHATSAPP_VERIFY_TOKEN,
      apiVersion: values.WHATSAPP_API_VERSION,
      baseUrl: values.WHATSAPP_BASE_URL,
    },
    retry: {
      baseDelayMs: values.RETRY_BASE_DELAY_MS,
      factor: values.RETRY_FACTOR,
      maxDelayMs: values.RETRY_MAX_DELAY_MS,
      maxAttempts: values.RETRY_MAX_ATTEMPTS,
    },
    breaker: {
      errorThresholdPercentage: values.BREAKER_ERROR_THRESHOLD_PERCENT,
      volumeThreshold: values.BREAKER_VOLUME_THRESHOLD,
      rollingCountTimeoutMs: values.BREAKER_ROLLING_WINDOW_MS,
      resetTimeoutMs: values.BREAKER_RESET_TIMEOUT_MS,
    },
    queue: {
      lockDurationMs: values.QUEUE_LOCK_DURATION_MS,
      concurrency: values.WORKER_CONCURRENCY,
      batchWindowMs: values.WORKER_BATCH_WINDOW_MS,
      reconcilerIntervalMs: values.RECONCILER_INTERVAL_MS,
    },
    operator: {
      username: values.OPERATOR_USERNAME,
      password: values.OPERATOR_PASSWORD === '' ? null : values.OPERATOR_PASSWORD,
      sessionSecret: createHmac('sha256', values.BLIND_INDEX_KEY).update('crm-engine operator sessions').digest('base64url'),
      secureCookie: values.PUBLIC_BASE_URL.startsWith('https://'),
    },
    batch: { enabled: values.BATCH_ENABLED, windowMs: values.BATCH_WINDOW_MS, maxItems: values.BATCH_MAX_ITEMS },
    strategy: {
      defaults: { channels: values.DEFAULT_CHANNELS, timezone: values.DEFAULT_TIMEZONE },
      timing: {
        defaultQuietHours: values.DEFAULT_QUIET_HOURS,
        channelWindows: withoutNulls({ email: values.EMAIL_SEND_WINDOW, sms: values.SMS_SEND_WINDOW, whatsapp: values.WHATSAPP_SEND_WINDOW }),
        criticalBypassesQuietHours: values.CRITICAL_BYPASSES_QUIET_HOURS,
        frequencyCaps: withoutNulls({ email: values.FREQUENCY_CAP_EMAIL, sms: values.FREQUENCY_CAP_SMS, whatsapp: values.FREQUENCY_CAP_WHATSAPP }),
      },
    },
    sandbox: {
      host: values.SANDBOX_HOST,
      smtpPort: values.SANDBOX_SMTP_PORT,
      httpPort: values.SANDBOX_HTTP_PORT,
      callbacks: values.SANDBOX_CALLBACKS,
      callbackDelayMs: values.SANDBOX_CALLBACK_DELAY_MS,
    },
    rateLimits: {
      twilio: values.TWILIO_RATE_LIMIT,
      smsRecipient: values.SMS_RECIPIENT_RATE_LIMIT,
      whatsapp: values.WHATSAPP_RATE_LIMIT,
      whatsappRecipient: values.WHATSAPP_RECIPIENT_RATE_LIMIT,
      maxWaitMs: values.RATE_LIMIT_MAX_WAIT_MS,
    },
    inbound: { replyWindowMs: values.REPLY_WINDOW_HOURS * 3_600_000 },
    callbacks: {
      timeoutMs: values.CALLBACK_TIMEOUT_MS,
      maxAttempts: values.CALLBACK_MAX_ATTEMPTS,
      dispatchIntervalMs: values.CALLBACK_DISPATCH_INTERVAL_MS,
      dispatchOverlapMs: values.CALLBACK_DISPATCH_OVERLAP_MS,
      requireHttps: values.NODE_ENV === 'production',
    },
    api: { rateLimit: values.API_RATE_LIMIT },
    preferences: { cacheTtlSeconds: values.PREFERENCES_CACHE_TTL_SECONDS },
  } satisfies AppConfig);
}

/** `record` without its null entries. */
function withoutNulls<K extends string, V>(record: Record<K, V | null>): Partial<Record<K, V>> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== null)) as Partial<Record<K, V>>;
}

/**
 * A copy of the process environment. The only place in the code base that reads
 * `process.env` (a lint rule enforces it); everything else is handed a config or an
 * environment object.
 */
export function readEnvironment(): Environment {
  return { ...process.env };
}

export interface ExitOptions {
  readonly write?: (text: string) => void;
  readonly exit?: (code: number) => never;
}

/**
 * {@link loadConfig} for a process's `main`: on a bad environment it prints the full list of
 * problems to stderr and exits with status 78 (EX_CONFIG).
 */
export function loadConfigOrExit(env: Environment = readEnvironment(), options: ExitOptions = {}): AppConfig {
  try {
    return loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const write = options.write ?? ((text: string) => process.stderr.write(text));
    const exit = options.exit ?? ((code: number) => process.exit(code));
    write(`${error.message}\nSee .env.template for every variable and its meaning.\n`);
    return exit(78);
  }
}

/**
 * Only the PostgreSQL settings, for tools that need nothing else (`npm run migrate`); same
 * validation and error as {@link loadConfig}.
 */
export function loadDatabaseConfig(env: Environment = readEnvironment()): DatabaseConfig {
  const issues: ConfigIssue[] = [];
  const url = readVariable(variables.DATABASE_URL, env, false, issues);
  const poolMax = readVariable(variables.DATABASE_POOL_MAX, env, false, issues);
  const statementTimeoutMs = readVariable(variables.DATABASE_STATEMENT_TIMEOUT_MS, env, false, issues);
  if (url === undefined || poolMax === undefined || statementTimeoutMs === undefined) throw new ConfigError(issues);
  return Object.freeze({ url, poolMax, statementTimeoutMs });
}
