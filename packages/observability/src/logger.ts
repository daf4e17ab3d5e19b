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
 * Paths masked on every line: secrets and personal data that could reach a log through an
 * object logged whole (a config section, a request, a contact). Logging ids is the rule; this
 * is the safety net.
 */
export const redactedPaths: readonly string[] = Object.freeze([
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-twilio-signature"]',
  'req.headers["x-hub-signature-256"]',
  '*.password',
  '*.authToken',
  '*.accessToken',
  '*.appSecret',
  '*.verifyToken',
  '*.dbEncryptionKey',
  '*.blindIndexKey',
  '*.apiKey',
  'email',
  'phone',
  '*.email',
  '*.phone',
  '*.recipient',
  '*.body',
  '*.text',
  '*.html',
  '*.variables',
]);

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
    redact: { paths: [...redactedPaths], censor: '[redacted]' },
  };
  if (options.destination) return pino(config, options.destination);
  if (options.pretty) {
    return pino({ ...config, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(config);
}
