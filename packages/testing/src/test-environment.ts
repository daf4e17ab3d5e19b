import { readEnvironment, type Environment } from '@crm/config';

export type TestEnvironment = Record<string, string> & { DATABASE_URL: string; REDIS_URL: string };

/**
 * A valid environment for tests: the real PostgreSQL and Redis of `DATABASE_URL` and `REDIS_URL`
 * (or this machine's defaults), fixed test keys, quiet logs, and the sandbox on free ports.
 */
export function testEnvironment(overrides: Environment = {}): TestEnvironment {
  const env = readEnvironment();
  const base: TestEnvironment = {
    NODE_ENV: 'test',
    LOG_LEVEL: env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    REDIS_URL: env.REDIS_URL || 'redis://127.0.0.1:6379',
    DB_ENCRYPTION_KEY: 'test-encryption-key-0123456789abcdef',
    BLIND_INDEX_KEY: 'test-blind-index-key-0123456789abcdef',
    SANDBOX_SMTP_PORT: '0',
    SANDBOX_HTTP_PORT: '0',
    PORT: '0',
    // Tests must not depend on the hour CI runs at: no quiet hours, send windows or caps unless
    // a test sets them (the strategy tests do, with an injected clock).
    DEFAULT_QUIET_HOURS: 'off',
    SMS_SEND_WINDOW: 'off',
    WHATSAPP_SEND_WINDOW: 'off',
    FREQUENCY_CAP_SMS: 'off',
    // Nor on provider rate limits (the rate-limit tests set their own), nor on sandbox status
    // callbacks reaching an ingest that may not be running (the webhook tests turn them on).
    TWILIO_RATE_LIMIT: 'off',
    SMS_RECIPIENT_RATE_LIMIT: 'off',
    WHATSAPP_RATE_LIMIT: 'off',
    WHATSAPP_RECIPIENT_RATE_LIMIT: 'off',
    API_RATE_LIMIT: 'off',
    SANDBOX_CALLBACKS: 'false',
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete base[key];
    else base[key] = value;
  }
  return base;
}
