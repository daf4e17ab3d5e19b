/**
 * Every environment variable the engine reads, in one table. `.env.template` and the README's
 * configuration table are generated from it (`npm run env:template`) and a test keeps them equal.
 */

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** How one variable is read. */
export interface VariableSpec<T = unknown> {
  readonly name: string;
  /** One line, shown in `.env.template` and the README. */
  readonly description: string;
  /** The value used when the variable is unset or empty; absent means "required". */
  readonly default?: string;
  /** A secret is never printed, not even in an error. */
  readonly secret?: boolean;
  /** In live provider mode the sandbox default is not used: the variable must be set. */
  readonly requiredWhenLive?: boolean;
  /** The default in live provider mode, where it differs from the sandbox default. */
  readonly liveDefault?: string;
  readonly parse: (raw: string) => Parsed<T>;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (problem: string): Parsed<never> => ({ ok: false, problem });

export const parsers = {
  string:
    (minLength = 1) =>
    (raw: string): Parsed<string> =>
      raw.length >= minLength ? ok(raw) : bad(`must be at least ${minLength} characters long`),
  int:
    (min: number, max: number) =>
    (raw: string): Parsed<number> => {
      if (!/^-?\d+$/.test(raw.trim())) return bad('must be a whole number');
      const value = Number(raw);
      return value >= min && value <= max ? ok(value) : bad(`must be between ${min} and ${max}`);
    },
  number:
    (min: number, max: number) =>
    (raw: string): Parsed<number> => {
      const value = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(value)) return bad('must be a number');
      return value >= min && value <= max ? ok(value) : bad(`must be between ${min} and ${max}`);
    },
  bool:
    () =>
    (raw: string): Parsed<boolean> => {
      const value = raw.trim().toLowerCase();
      if (['true', '1', 'yes'].includes(value)) return ok(true);
      if (['false', '0', 'no'].includes(value)) return ok(false);
      return bad('must be true or false');
    },
  oneOf:
    <const T extends string>(values: readonly T[]) =>
    (raw: string): Parsed<T> =>
      (values as readonly string[]).includes(raw) ? ok(raw as T) : bad(`must be one of ${values.join(', ')}`),
  url:
    (protocols: readonly string[]) =>
    (raw: string): Parsed<string> => {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return bad('must be a URL');
      }
      return protocols.includes(url.protocol.replace(/:$/, ''))
        ? ok(raw.replace(/\/+$/, ''))
        : bad(`must be a URL with scheme ${protocols.join(' or ')}`);
    },
  host:
    () =>
    (raw: string): Parsed<string> =>
      /^[A-Za-z0-9.:[\]-]+$/.test(raw) ? ok(raw) : bad('must be a host name or IP address'),
  pattern:
    (regex: RegExp, description: string) =>
    (raw: string): Parsed<string> =>
      regex.test(raw) ? ok(raw) : bad(`must be ${description}`),
} as const;

/** A daily span `HH:MM-HH:MM` (may cross midnight), or `off` for none. */
const dailySpan = (raw: string): Parsed<{ start: string; end: string } | null> => {
  if (raw.trim().toLowerCase() === 'off') return ok(null);
  const match = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/.exec(raw.trim());
  if (!match) return bad('must be HH:MM-HH:MM (24-hour local time, e.g. 21:00-08:00) or off');
  const [start, end] = [`${match[1]}:${match[2]}`, `${match[3]}:${match[4]}`];
  return start === end ? bad('must not start and end at the same time (use off for none)') : ok({ start, end });
};

/** A frequency cap `N/<duration>` (e.g. `3/24h`, `10/30m`, `2/5s`), or `off`. */
const frequencyCap = (raw: string): Parsed<{ max: number; windowMs: number } | null> => {
  if (raw.trim().toLowerCase() === 'off') return ok(null);
  const match = /^(\d{1,4})\/(\d{1,6})(s|m|h)$/.exec(raw.trim());
  if (!match) return bad('must be N/<duration> such as 3/24h (units s, m, h) or off');
  const windowMs = Number(match[2]) * { s: 1_000, m: 60_000, h: 3_600_000 }[match[3] as 's' | 'm' | 'h'];
  const max = Number(match[1]);
  return max < 1 || windowMs < 1_000 ? bad('must allow at least 1 message over at least 1 s') : ok({ max, windowMs });
};

const channelList = (raw: string): Parsed<('email' | 'sms' | 'whatsapp')[]> => {
  const list = raw.split(',').map((item) => item.trim());
  const known = ['email', 'sms', 'whatsapp'];
  if (list.some((item) => !known.includes(item)) || new Set(list).size !== list.length || list.length === 0) {
    return bad('must be a comma-separated list of email, sms and whatsapp, each at most once');
  }
  return ok(list as ('email' | 'sms' | 'whatsapp')[]);
};

const timeZone = (raw: string): Parsed<string> => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: raw });
    return ok(raw);
  } catch {
    return bad('must be an IANA time zone such as Europe/London');
  }
};

const v = <T>(spec: VariableSpec<T>): VariableSpec<T> => Object.freeze(spec);

const PORT = parsers.int(1, 65535);
const PORT_OR_ZERO = parsers.int(0, 65535);

/** The variables, grouped as the config is (the order here is the order in `.env.template`). */
export const variables = {
  // runtime
  NODE_ENV: v({ name: 'NODE_ENV', description: 'Runtime mode: development, test or production', default: 'development', parse: parsers.oneOf(['development', 'test', 'production'] as const) }),
  LOG_LEVEL: v({ name: 'LOG_LEVEL', description: 'Lowest log level written: debug, info, warn, error, fatal or silent', default: 'info', parse: parsers.oneOf(['debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const) }),
  LOG_PRETTY: v({ name: 'LOG_PRETTY', description: 'Human-readable logs instead of JSON lines (development only)', default: 'false', parse: parsers.bool() }),
  // database
  DATABASE_URL: v({ name: 'DATABASE_URL', description: 'PostgreSQL connection URL (the system of record)', default: 'postgres://postgres@127.0.0.1:5432/postgres', secret: true, parse: parsers.url(['postgres', 'postgresql']) }),
  DATABASE_POOL_MAX: v({ name: 'DATABASE_POOL_MAX', description: 'Connections in each process\'s PostgreSQL pool', default: '10', parse: parsers.int(1, 200) }),
  DATABASE_STATEMENT_TIMEOUT_MS: v({ name: 'DATABASE_STATEMENT_TIMEOUT_MS', description: 'PostgreSQL statement_timeout for the engine\'s sessions, in ms', default: '30000', parse: parsers.int(100, 3_600_000) }),
  // redis
  REDIS_URL: v({ name: 'REDIS_URL', description: 'Redis connection URL (queue transport only; holds ids, never personal data)', default: 'redis://127.0.0.1:6379', secret: true, parse: parsers.url(['redis', 'rediss']) }),
  QUEUE_PREFIX: v({ name: 'QUEUE_PREFIX', description: 'Prefix of every queue key; wrap in braces, e.g. {crm}, for Redis Cluster', default: 'crm', parse: parsers.pattern(/^[A-Za-z0-9{}_.-]{1,64}$/, '1-64 letters, digits, braces, _ . or -') }),
  // server
  HOST: v({ name: 'HOST', description: 'Address the HTTP services listen on', default: '127.0.0.1', parse: parsers.host() }),
  PORT: v({ name: 'PORT', description: 'Port of the ingest HTTP API (0: any free port)', default: '3000', parse: PORT_OR_ZERO }),
  PUBLIC_BASE_URL: v({ name: 'PUBLIC_BASE_URL', description: 'Public URL of ingest, used in tracking links and provider callbacks', default: 'http://127.0.0.1:3000', parse: parsers.url(['http', 'https']) }),
  OPS_PORT: v({ name: 'OPS_PORT', description: 'Port of a worker\'s ops HTTP server: /health, /ready, /metrics (0: any free port, logged at start; ingest serves them on PORT)', default: '0', parse: PORT_OR_ZERO }),
  BODY_LIMIT_BYTES: v({ name: 'BODY_LIMIT_BYTES', description: 'Largest accepted request body, in bytes (larger gets 413)', default: '1048576', parse: parsers.int(1024, 100 * 1024 * 1024) }),
  // security
  DB_ENCRYPTION_KEY: v({ name: 'DB_ENCRYPTION_KEY', description: 'Key that encrypts email and phone at rest (pgcrypto); at least 32 characters', secret: true, parse: parsers.string(32) }),
  DB_ENCRYPTION_PREVIOUS_KEYS: v({ name: 'DB_ENCRYPTION_PREVIOUS_KEYS', description: 'Earlier DB_ENCRYPTION_KEYs, comma-separated, that still decrypt rows until `npm run keys:rotate` has re-encrypted them (empty: none)', default: '', secret: true, parse: (raw) => {
    const keys = raw.split(',').map((key) => key.trim()).filter((key) => key !== '');
    return keys.every((key) => key.length >= 32) ? { ok: true, value: keys } : { ok: false, problem: 'each key must be at least 32 characters long' };
  } }),
  BLIND_INDEX_KEY: v({ name: 'BLIND_INDEX_KEY', description: 'HMAC key of the blind index that finds a client by email or phone; at least 32 characters', secret: true, parse: parsers.string(32) }),
  // providers
  PROVIDER_MODE: v({ name: 'PROVIDER_MODE', description: 'sandbox (local stand-ins from services/sandbox) or live (real SMTP, Twilio, WhatsApp)', default: 'sandbox', parse: parsers.oneOf(['sandbox', 'live'] as const) }),
  // smtp
  SMTP_HOST: v({ name: 'SMTP_HOST', description: 'SMTP server host', default: '127.0.0.1', requiredWhenLive: true, parse: parsers.host() }),
  SMTP_PORT: v({ name: 'SMTP_PORT', description: 'SMTP server port (587 submission, 465 implicit TLS)', default: '2525', liveDefault: '587', parse: PORT }),
  SMTP_SECURE: v({ name: 'SMTP_SECURE', description: 'Implicit TLS from the first byte (port 465); otherwise STARTTLS', default: 'false', parse: parsers.bool() }),
  SMTP_REQUIRE_TLS: v({ name: 'SMTP_REQUIRE_TLS', description: 'Refuse to send without TLS (always on in live mode)', default: 'false', parse: parsers.bool() }),
  SMTP_USER: v({ name: 'SMTP_USER', description: 'SMTP user name (empty: no authentication)', default: '', parse: (raw) => ({ ok: true, value: raw }) }),
  SMTP_PASSWORD: v({ name: 'SMTP_PASSWORD', description: 'SMTP password', default: '', secret: true, parse: (raw) => ({ ok: true, value: raw }) }),
  SMTP_FROM: v({ name: 'SMTP_FROM', description: 'From header of every email, e.g. "Planner <planner@example.com>"', default: 'Event Planner <planner@example.com>', parse: parsers.pattern(/^[^\r\n]*<?[^@\s<>]+@[^@\s<>]+>?$/, 'an address such as Planner <planner@example.com>') }),
  SMTP_POOL_MAX_CONNECTIONS: v({ name: 'SMTP_POOL_MAX_CONNECTIONS', description: 'Pooled SMTP connections per email worker (keep within what your provider allows)', default: '10', parse: parsers.int(1, 100) }),
  SMTP_POOL_MAX_MESSAGES: v({ name: 'SMTP_POOL_MAX_MESSAGES', description: 'Messages sent over one SMTP connection before it is renewed', default: '100', parse: parsers.int(1, 100_000) }),
  SMTP_RATE_PER_SECOND: v({ name: 'SMTP_RATE_PER_SECOND', description: 'Most messages per second each email worker hands to the SMTP server (0: no limit)', default: '0', parse: parsers.int(0, 100_000) }),
  // email content and compliance
  SENDER_POSTAL_ADDRESS: v({ name: 'SENDER_POSTAL_ADDRESS', description: 'Postal address shown in every email footer (CAN-SPAM)', default: 'Event Planner, 1 Example Street, Springfield, USA', requiredWhenLive: true, parse: parsers.pattern(/^[^\r\n<>]{5,300}$/, '5-300 characters on one line, without < or >') }),
  UNSUBSCRIBE_MAILTO: v({ name: 'UNSUBSCRIBE_MAILTO', description: 'Address of the mailto: List-Unsubscribe target', default: 'unsubscribe@example.com', requiredWhenLive: true, parse: parsers.pattern(/^[^@\s<>]+@[^@\s<>]+$/, 'an email address') }),
  EMAIL_TRACKING: v({ name: 'EMAIL_TRACKING', description: 'Add an open pixel and rewrite links for click tracking in emails', default: 'true', parse: parsers.bool() }),
  TRACKING_SECRET: v({ name: 'TRACKING_SECRET', description: 'HMAC key of tracking and unsubscribe links, at least 32 characters (empty: derived from BLIND_INDEX_KEY)', default: '', secret: true, parse: (raw) => (raw === '' || raw.length >= 32 ? { ok: true, value: raw } : { ok: false, problem: 'must be empty or at least 32 characters long' }) }),
  MACHINE_OPEN_WINDOW_MS: v({ name: 'MACHINE_OPEN_WINDOW_MS', description: 'An open this soon after sending is flagged as a likely machine open (mail scanners, prefetching), in ms', default: '5000', parse: parsers.int(0, 3_600_000) }),
  ATTACHMENT_MAX_TOTAL_BYTES: v({ name: 'ATTACHMENT_MAX_TOTAL_BYTES', description: 'Largest total size of the attachments of one communication, in bytes', default: '10485760', parse: parsers.int(1_024, 50 * 1024 * 1024) }),
  // twilio
  TWILIO_ACCOUNT_SID: v({ name: 'TWILIO_ACCOUNT_SID', description: 'Twilio Account SID (AC…)', default: 'AC00000000000000000000000000000000', requiredWhenLive: true, parse: parsers.pattern(/^AC[0-9a-fA-F]{32}$/, 'AC followed by 32 hex digits') }),
  TWILIO_AUTH_TOKEN: v({ name: 'TWILIO_AUTH_TOKEN', description: 'Twilio auth token; also signs Twilio\'s webhooks', default: 'sandbox-twilio-auth-token', secret: true, requiredWhenLive: true, parse: parsers.string(16) }),
  TWILIO_FROM_NUMBER: v({ name: 'TWILIO_FROM_NUMBER', description: 'Sender number in E.164 (or use a messaging service)', default: '+15005550006', requiredWhenLive: true, parse: parsers.pattern(/^\+[1-9]\d{7,14}$/, 'an E.164 number such as +14155550123') }),
  TWILIO_BASE_URL: v({ name: 'TWILIO_BASE_URL', description: 'Twilio API base URL (the sandbox in sandbox mode)', default: 'http://127.0.0.1:4010/twilio', liveDefault: 'https://api.twilio.com', parse: parsers.url(['http', 'https']) }),
  // whatsapp
  WHATSAPP_PHONE_NUMBER_ID: v({ name: 'WHATSAPP_PHONE_NUMBER_ID', description: 'WhatsApp Cloud API phone number id', default: '100000000000001', requiredWhenLive: true, parse: parsers.pattern(/^\d{5,20}$/, 'a numeric id') }),
  WHATSAPP_ACCESS_TOKEN: v({ name: 'WHATSAPP_ACCESS_TOKEN', description: 'WhatsApp Cloud API access token (system user token)', default: 'sandbox-whatsapp-access-token', secret: true, requiredWhenLive: true, parse: parsers.string(16) }),
  WHATSAPP_APP_SECRET: v({ name: 'WHATSAPP_APP_SECRET', description: 'Meta app secret; checks X-Hub-Signature-256 on webhooks', default: 'sandbox-whatsapp-app-secret', secret: true, requiredWhenLive: true, parse: parsers.string(16) }),
  WHATSAPP_VERIFY_TOKEN: v({ name: 'WHATSAPP_VERIFY_TOKEN', description: 'Token Meta echoes in the webhook verification handshake', default: 'sandbox-whatsapp-verify-token', secret: true, requiredWhenLive: true, parse: parsers.string(8) }),
  WHATSAPP_API_VERSION: v({ name: 'WHATSAPP_API_VERSION', description: 'Graph API version, e.g. v21.0', default: 'v21.0', parse: parsers.pattern(/^v\d+\.\d+$/, 'a version such as v21.0') }),
  WHATSAPP_BASE_URL: v({ name: 'WHATSAPP_BASE_URL', description: 'Graph API base URL (the sandbox in sandbox mode)', default: 'http://127.0.0.1:4010/whatsapp', liveDefault: 'https://graph.facebook.com', parse: parsers.url(['http', 'https']) }),
  // rate limits, taken before each provider call (atomic in Redis, shared by every worker)
  TWILIO_RATE_LIMIT: v({ name: 'TWILIO_RATE_LIMIT', description: 'Most SMS per second(s) through the Twilio account, N/<duration> (e.g. 10/1s) or off; a job over it waits, spending no attempt', default: '10/1s', parse: frequencyCap }),
  SMS_RECIPIENT_RATE_LIMIT: v({ name: 'SMS_RECIPIENT_RATE_LIMIT', description: 'Most SMS to one phone number, N/<duration> or off', default: '1/1s', parse: frequencyCap }),
  WHATSAPP_RATE_LIMIT: v({ name: 'WHATSAPP_RATE_LIMIT', description: 'Most WhatsApp messages through the business phone number, N/<duration> (Cloud API default throughput 80/1s) or off', default: '80/1s', parse: frequencyCap }),
  WHATSAPP_RECIPIENT_RATE_LIMIT: v({ name: 'WHATSAPP_RECIPIENT_RATE_LIMIT', description: 'Most WhatsApp messages to one number, N/<duration> (Meta allows about 1/6s before error 131056) or off', default: '1/6s', parse: frequencyCap }),
  RATE_LIMIT_MAX_WAIT_MS: v({ name: 'RATE_LIMIT_MAX_WAIT_MS', description: 'A job whose rate-limit slot is at most this far off waits for it in the worker; a later slot delays the job instead, in ms', default: '1000', parse: parsers.int(0, 60_000) }),
  // inbound replies
  REPLY_WINDOW_HOURS: v({ name: 'REPLY_WINDOW_HOURS', description: 'How long after sending a message that asks for an answer a client\'s reply is matched to it, in hours', default: '168', parse: parsers.int(1, 24 * 90) }),
  // retry
  RETRY_BASE_DELAY_MS: v({ name: 'RETRY_BASE_DELAY_MS', description: 'First retry delay before jitter, in ms', default: '1000', parse: parsers.int(1, 3_600_000) }),
  RETRY_FACTOR: v({ name: 'RETRY_FACTOR', description: 'Growth of the retry delay per attempt', default: '2', parse: parsers.number(1, 10) }),
  RETRY_MAX_DELAY_MS: v({ name: 'RETRY_MAX_DELAY_MS', description: 'Cap of one retry delay, in ms', default: '300000', parse: parsers.int(1, 86_400_000) }),
  RETRY_MAX_ATTEMPTS: v({ name: 'RETRY_MAX_ATTEMPTS', description: 'Attempts on one channel before falling back', default: '5', parse: parsers.int(1, 50) }),
  // circuit breakers (one per provider)
  BREAKER_ERROR_THRESHOLD_PERCENT: v({ name: 'BREAKER_ERROR_THRESHOLD_PERCENT', description: 'A provider\'s breaker opens when this share of its recent calls failed, in percent', default: '50', parse: parsers.int(1, 100) }),
  BREAKER_VOLUME_THRESHOLD: v({ name: 'BREAKER_VOLUME_THRESHOLD', description: 'Calls in the rolling window before the error share can open a breaker', default: '10', parse: parsers.int(1, 100_000) }),
  BREAKER_ROLLING_WINDOW_MS: v({ name: 'BREAKER_ROLLING_WINDOW_MS', description: 'Window over which a breaker counts calls and failures, in ms', default: '10000', parse: parsers.int(1_000, 3_600_000) }),
  BREAKER_RESET_TIMEOUT_MS: v({ name: 'BREAKER_RESET_TIMEOUT_MS', description: 'How long an open breaker waits before letting one probe call through, in ms', default: '30000', parse: parsers.int(100, 3_600_000) }),
  // queues and workers
  QUEUE_LOCK_DURATION_MS: v({ name: 'QUEUE_LOCK_DURATION_MS', description: 'A job\'s lock; a worker that dies mid-job gives it up after this long, in ms', default: '30000', parse: parsers.int(1_000, 600_000) }),
  WORKER_CONCURRENCY: v({ name: 'WORKER_CONCURRENCY', description: 'Jobs each worker process handles at once', default: '50', parse: parsers.int(1, 1_000) }),
  WORKER_BATCH_WINDOW_MS: v({ name: 'WORKER_BATCH_WINDOW_MS', description: 'Window in which a worker coalesces the writes of concurrent jobs into one statement, in ms (0: one statement per job)', default: '2', parse: parsers.int(0, 1_000) }),
  RECONCILER_INTERVAL_MS: v({ name: 'RECONCILER_INTERVAL_MS', description: 'How often the reconciler re-enqueues due rows that have no job, in ms', default: '10000', parse: parsers.int(100, 3_600_000) }),
  // event callbacks (crm.callbacks, the callback worker)
  CALLBACK_TIMEOUT_MS: v({ name: 'CALLBACK_TIMEOUT_MS', description: 'How long a subscriber has to answer an event callback before the attempt counts as failed, in ms', default: '10000', parse: parsers.int(100, 120_000) }),
  CALLBACK_MAX_ATTEMPTS: v({ name: 'CALLBACK_MAX_ATTEMPTS', description: 'Attempts to deliver one event callback (exponential backoff from 1 s to 1 h between them) before it is marked failed', default: '10', parse: parsers.int(1, 50) }),
  CALLBACK_DISPATCH_INTERVAL_MS: v({ name: 'CALLBACK_DISPATCH_INTERVAL_MS', description: 'How often the callback worker looks in PostgreSQL for new events to deliver, in ms', default: '1000', parse: parsers.int(10, 600_000) }),
  CALLBACK_DISPATCH_OVERLAP_MS: v({ name: 'CALLBACK_DISPATCH_OVERLAP_MS', description: 'Window of recent events the callback dispatcher scans again, in ms: longer than any transaction that records a status change or reply stays open', default: '60000', parse: parsers.int(1_000, 3_600_000) }),
  // api
  API_RATE_LIMIT: v({ name: 'API_RATE_LIMIT', description: 'Most requests per API key to the /api routes, N/<duration> (e.g. 1000/1m) or off; more get 429 with Retry-After', default: '1200/1m', parse: frequencyCap }),
  PREFERENCES_CACHE_TTL_SECONDS: v({ name: 'PREFERENCES_CACHE_TTL_SECONDS', description: 'How long a client\'s routing preferences (never email or phone) stay cached in Redis, in seconds (0: no cache)', default: '3600', parse: parsers.int(0, 86_400) }),
  // operators
  OPERATOR_USERNAME: v({ name: 'OPERATOR_USERNAME', description: 'User name for the operator pages (the dashboard at /dashboard, Bull Board at /admin/queues)', default: 'operator', parse: parsers.pattern(/^[A-Za-z0-9_.@-]{1,64}$/, '1-64 letters, digits, _ . @ or -') }),
  OPERATOR_PASSWORD: v({ name: 'OPERATOR_PASSWORD', description: 'Password for the operator pages, at least 12 characters (empty: those pages are off)', default: '', secret: true, parse: (raw) => (raw === '' || raw.length >= 12 ? { ok: true, value: raw } : { ok: false, problem: 'must be empty or at least 12 characters long' }) }),
  // strategy: defaults for clients without preferences, timing rules
  DEFAULT_CHANNELS: v({ name: 'DEFAULT_CHANNELS', description: 'Channel order of a client who stated none', default: 'email,whatsapp,sms', parse: channelList }),
  DEFAULT_TIMEZONE: v({ name: 'DEFAULT_TIMEZONE', description: 'IANA time zone of a client who stated none', default: 'UTC', parse: timeZone }),
  DEFAULT_QUIET_HOURS: v({ name: 'DEFAULT_QUIET_HOURS', description: 'Quiet hours of a client who stated none, local HH:MM-HH:MM (off: none); messages inside are postponed', default: '21:00-08:00', parse: dailySpan }),
  SMS_SEND_WINDOW: v({ name: 'SMS_SEND_WINDOW', description: 'Local hours in which SMS may be sent (US TCPA practice), HH:MM-HH:MM or off', default: '08:00-20:00', parse: dailySpan }),
  WHATSAPP_SEND_WINDOW: v({ name: 'WHATSAPP_SEND_WINDOW', description: 'Local hours in which WhatsApp messages may be sent, HH:MM-HH:MM or off', default: '08:00-20:00', parse: dailySpan }),
  EMAIL_SEND_WINDOW: v({ name: 'EMAIL_SEND_WINDOW', description: 'Local hours in which email may be sent, HH:MM-HH:MM or off', default: 'off', parse: dailySpan }),
  CRITICAL_BYPASSES_QUIET_HOURS: v({ name: 'CRITICAL_BYPASSES_QUIET_HOURS', description: 'Critical messages ignore quiet hours, send windows and frequency caps', default: 'true', parse: parsers.bool() }),
  FREQUENCY_CAP_SMS: v({ name: 'FREQUENCY_CAP_SMS', description: 'Most SMS per client in a rolling window, N/<duration> (e.g. 3/24h) or off; more are postponed, never dropped', default: '3/24h', parse: frequencyCap }),
  FREQUENCY_CAP_WHATSAPP: v({ name: 'FREQUENCY_CAP_WHATSAPP', description: 'Most WhatsApp messages per client in a rolling window, N/<duration> or off', default: 'off', parse: frequencyCap }),
  FREQUENCY_CAP_EMAIL: v({ name: 'FREQUENCY_CAP_EMAIL', description: 'Most emails per client in a rolling window, N/<duration> or off', default: 'off', parse: frequencyCap }),
  // batching
  BATCH_ENABLED: v({ name: 'BATCH_ENABLED', description: 'Merge low-urgency messages for one client into digests', default: 'true', parse: parsers.bool() }),
  BATCH_WINDOW_MS: v({ name: 'BATCH_WINDOW_MS', description: 'Longest a low-urgency message waits for its digest, in ms', default: '900000', parse: parsers.int(1_000, 86_400_000) }),
  BATCH_MAX_ITEMS: v({ name: 'BATCH_MAX_ITEMS', description: 'A digest is sent as soon as it holds this many items', default: '10', parse: parsers.int(2, 100) }),
  // sandbox
  SANDBOX_HOST: v({ name: 'SANDBOX_HOST', description: 'Address the sandbox providers listen on (loopback)', default: '127.0.0.1', parse: parsers.host() }),
  SANDBOX_SMTP_PORT: v({ name: 'SANDBOX_SMTP_PORT', description: 'Port of the sandbox SMTP server (0: any free port)', default: '2525', parse: PORT_OR_ZERO }),
  SANDBOX_HTTP_PORT: v({ name: 'SANDBOX_HTTP_PORT', description: 'Port of the sandbox HTTP API: mailbox, Twilio and WhatsApp stand-ins (0: any free port)', default: '4010', parse: PORT_OR_ZERO }),
  SANDBOX_CALLBACKS: v({ name: 'SANDBOX_CALLBACKS', description: 'The sandbox posts signed delivery-status callbacks (Twilio, WhatsApp) to ingest like the real providers', default: 'true', parse: parsers.bool() }),
  SANDBOX_CALLBACK_DELAY_MS: v({ name: 'SANDBOX_CALLBACK_DELAY_MS', description: 'Delay between the sandbox accepting a message and each of its status callbacks, in ms', default: '200', parse: parsers.int(0, 600_000) }),
} as const satisfies Record<string, VariableSpec>;

export type VariableName = keyof typeof variables;
type ValueOf<S> = S extends VariableSpec<infer T> ? T : never;
/** Every variable, parsed. */
export type RawValues = { [K in VariableName]: ValueOf<(typeof variables)[K]> };
