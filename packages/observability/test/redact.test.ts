import { loadConfig, type AppConfig } from '@crm/config';
import { createLogger, secretFieldNames, urlWithoutPassword, type Logger } from '@crm/observability';
import { testEnvironment } from '@crm/testing';

// The redact list is the safety net for a config object logged whole: no secret may reach a line.
const secrets = {
  DATABASE_URL: 'postgres://app:db-password-f00d@db.internal:5432/crm',
  REDIS_URL: 'redis://default:redis-password-beef@redis.internal:6379',
  DB_ENCRYPTION_KEY: 'db-encryption-key-0123456789abcdef-xyz',
  DB_ENCRYPTION_PREVIOUS_KEYS: 'previous-key-one-0123456789abcdef-xyz,previous-key-two-0123456789abcdef-xyz',
  BLIND_INDEX_KEY: 'blind-index-key-0123456789abcdef-xyz',
  SMTP_USER: 'mailer',
  SMTP_PASSWORD: 'smtp-password-cafe',
  TRACKING_SECRET: 'tracking-secret-0123456789abcdef-xyz',
  TWILIO_AUTH_TOKEN: 'twilio-auth-token-dead',
  WHATSAPP_ACCESS_TOKEN: 'whatsapp-access-token-babe',
  WHATSAPP_APP_SECRET: 'whatsapp-app-secret-face',
  WHATSAPP_VERIFY_TOKEN: 'whatsapp-verify-token-fade',
  OPERATOR_PASSWORD: 'operator-password-feed',
};

/** Every value a log line must never show: the variables above, their passwords, and derived keys. */
function forbiddenValues(config: AppConfig): string[] {
  const values = Object.entries(secrets).filter(([name]) => name !== 'SMTP_USER').flatMap(([, value]) => value.split(','));
  values.push('db-password-f00d', 'redis-password-beef', config.operator.sessionSecret);
  return values;
}

function capturingLogger(): { log: Logger; output: () => string } {
  const lines: string[] = [];
  const log = createLogger({ service: 'redact-test', level: 'info', destination: { write: (line: string) => lines.push(line) } });
  return { log, output: () => lines.join('') };
}

const sectionNames = ['database', 'redis', 'security', 'smtp', 'email', 'twilio', 'whatsapp', 'operator'] as const;

describe('the logger redacts every secret of the config', () => {
  const config = loadConfig(testEnvironment(secrets));

  it('has the secrets in the config to begin with', () => {
    expect(config.twilio.authToken).toBe(secrets.TWILIO_AUTH_TOKEN);
    expect(config.database.url).toBe(secrets.DATABASE_URL);
    expect(config.security.previousEncryptionKeys).toHaveLength(2);
  });

  type Write = (log: Logger) => void;
  const cases: [string, Write][] = [
    ['the whole config as the merge object', (log) => log.info(config, 'config')],
    ['the whole config under a key', (log) => log.info({ config }, 'config')],
    ...sectionNames.map((name): [string, Write] => [`${name} on its own`, (log) => log.info(config[name], name)]),
    ...sectionNames.map((name): [string, Write] => [`${name} one level deep`, (log) => log.info({ [name]: config[name] }, name)]),
    ...sectionNames.map((name): [string, Write] => [`${name} two levels deep`, (log) => log.info({ deps: { [name]: config[name] } }, name)]),
    ...sectionNames.map((name): [string, Write] => [`${name} two levels deep, in a child logger`, (log) => log.child({ service: 'child' }).warn({ settings: { [name]: config[name] } }, name)]),
  ];
  it.each(cases)('%s', (_name, write) => {
    const { log, output } = capturingLogger();
    write(log);
    const text = output();
    expect(text).toContain('[redacted]');
    for (const value of forbiddenValues(config)) expect([value, text.includes(value)]).toEqual([value, false]);
  });

  it('never writes into the object it logs', () => {
    const section = { ...config.email };
    const logged = { deps: { email: section, twilio: { ...config.twilio } }, url: config.redis.url };
    const before = JSON.stringify(logged);
    const { log } = capturingLogger();
    log.info(logged, 'copy');
    expect(JSON.stringify(logged)).toBe(before);
  });

  it('keeps a URL but its password', () => {
    const { log, output } = capturingLogger();
    log.info({ url: 'http://127.0.0.1:3000', database: config.database, redis: { url: 'redis://127.0.0.1:6379' } }, 'started');
    const line = JSON.parse(output()) as { url: string; database: { url: string }; redis: { url: string } };
    expect(line).toMatchObject({ url: 'http://127.0.0.1:3000', database: { url: 'postgres://app:[redacted]@db.internal:5432/crm' }, redis: { url: 'redis://127.0.0.1:6379' } });
    expect(urlWithoutPassword('rediss://:only-password@cache:6380/0')).toBe('rediss://:[redacted]@cache:6380/0');
    expect(urlWithoutPassword('postgres://user@db/crm?sslmode=require&password=x')).toBe('postgres://user@db/crm?sslmode=require&password=[redacted]');
  });

  it('keeps what is not secret', () => {
    const { log, output } = capturingLogger();
    log.info({ smtp: config.smtp, server: config.server }, 'settings');
    const line = JSON.parse(output()) as { smtp: Record<string, unknown>; server: Record<string, unknown> };
    expect(line.smtp).toMatchObject({ user: 'mailer', password: '[redacted]', host: config.smtp.host });
    expect(line.server).toMatchObject({ publicBaseUrl: config.server.publicBaseUrl });
  });

  it('names every secret field of the config', () => {
    const forbidden = forbiddenValues(config);
    const found = new Set<string>();
    const walk = (value: unknown, key: string): void => {
      if (typeof value === 'string' && forbidden.some((secret) => value.includes(secret))) found.add(key);
      else if (Array.isArray(value)) value.forEach((item) => walk(item, key));
      else if (value !== null && typeof value === 'object') for (const [inner, innerValue] of Object.entries(value)) walk(innerValue, inner);
    };
    walk(config, '(config)');
    expect([...found].sort()).toEqual([...secretFieldNames.filter((name) => name !== 'apiKey'), 'url'].sort());
  });
});
