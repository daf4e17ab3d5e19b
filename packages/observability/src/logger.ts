import pino, { type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface LoggerOptions {
  /** The process's name, on every line (`service`). */
  readonly service: string;
  /** @defaultValue 'info' */
  readonly level?: LogLevel;
  /** Human-readable output through pino-pretty, for development. @defaultValue false */
  readonly pretty?: boolean;
  /** Where lines go (tests capture them here). @defaultValue stdout */
  readonly destination?: DestinationStream;
}

/**
 * Field names of the secrets in the config objects (`config.twilio.authToken`,
 * `config.security.dbEncryptionKey`, …), masked wherever they sit up to three levels deep: a
 * config section logged on its own (`log.info(config.twilio)`), under a key
 * (`{ twilio: config.twilio }`), or the whole config (`{ config }`).
 */
export const secretFieldNames: readonly string[] = Object.freeze([
  'password',
  'authToken',
  'accessToken',
  'appSecret',
  'verifyToken',
  'dbEncryptionKey',
  'previousEncryptionKeys',
  'blindIndexKey',
  'trackingSecret',
  'sessionSecret',
  'apiKey',
]);

/**
 * Paths masked on every line: secrets and personal data that could reach a log through an
 * object logged whole (a config section, a request, a contact). Logging ids is the rule; this
 * is the safety net. A `url` keeps everything but its password (DATABASE_URL, REDIS_URL).
 *
 * Order matters: paths that mask a whole object (`*.email`, the EmailConfig section too) come
 * before deeper ones through it (`*.*.trackingSecret`). pino's redaction copies only the branches
 * a path names; a deeper path through a branch copied for a shorter one would otherwise write
 * into the caller's object (or throw on a frozen config).
 */
export const redactedPaths: readonly string[] = Object.freeze([
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-twilio-signature"]',
  'req.headers["x-hub-signature-256"]',
  'email',
  'phone',
  '*.email',
  '*.phone',
  '*.recipient',
  '*.body',
  '*.text',
  '*.html',
  '*.variables',
  ...secretFieldNames.flatMap((name) => [name, `*.${name}`, `*.*.${name}`]),
  'url',
  '*.url',
  '*.*.url',
]);

const CENSORED = '[redacted]';

/**
 * A URL with its password (if any) masked, in the user info or a `password=` query parameter
 * (libpq's), e.g. `postgres://app:[redacted]@db:5432/crm`.
 */
export function urlWithoutPassword(url: string): string {
  return url
    .replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^:/?#@]*):[^/?#]*@/, `$1:${CENSORED}@`)
    .replace(/([?&]password=)[^&#]*/gi, `$1${CENSORED}`);
}

/** What replaces a redacted value: a URL loses only its password, anything else all of it. */
const censor = (value: unknown, path: string[]): unknown =>
  path[path.length - 1] !== 'url'
    ? CENSORED
    : typeof value === 'string'
      ? urlWithoutPassword(value)
      : value instanceof URL
        ? urlWithoutPassword(value.href)
        : value;

/**
 * A pino logger writing JSON lines with the service name, ISO timestamps and level names
 * (debug, info, warn, error, fatal).
 *
 * @example
 * const log = createLogger({ service: 'email-worker', level: config.log.level });
 * log.info({ communicationId, jobId }, 'sent');
 */
export function createLogger(options: LoggerOptions): Logger {
  const config: pino.LoggerOptions = {
    name: options.service,
    level: options.level ?? 'info',
    base: { service: options.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: [...redactedPaths], censor },
  };
  if (options.destination) return pino(config, options.destination);
  if (options.pretty) {
    return pino({ ...config, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(config);
}
