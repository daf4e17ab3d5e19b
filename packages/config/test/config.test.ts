import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, loadConfigOrExit, loadDatabaseConfig, renderConfigTable, renderEnvTemplate, variables } from '@crm/config';

const keys = { DB_ENCRYPTION_KEY: 'k'.repeat(32), BLIND_INDEX_KEY: 'b'.repeat(32) };
const root = join(__dirname, '..', '..', '..');

function problems(env: Record<string, string>): Record<string, string> {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return Object.fromEntries((error as ConfigError).issues.map((issue) => [issue.variable, issue.problem]));
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('reads a minimal environment into typed sections with defaults', () => {
    const config = loadConfig(keys);
    expect(config.env).toBe('development');
    expect(config.providerMode).toBe('sandbox');
    expect(config.database).toEqual({ url: 'postgres://postgres@127.0.0.1:5432/postgres', poolMax: 10, statementTimeoutMs: 30000 });
    expect(config.redis).toEqual({ url: 'redis://127.0.0.1:6379', queuePrefix: 'crm' });
    expect(config.server).toEqual({ host: '127.0.0.1', port: 3000, publicBaseUrl: 'http://127.0.0.1:3000', bodyLimitBytes: 1048576 });
    expect(config.smtp).toMatchObject({ host: '127.0.0.1', port: 2525, secure: false, requireTls: false, user: null, password: null });
    expect(config.twilio.baseUrl).toBe('http://127.0.0.1:4010/twilio');
    expect(config.whatsapp).toMatchObject({ apiVersion: 'v21.0', baseUrl: 'http://127.0.0.1:4010/whatsapp' });
    expect(config.retry).toEqual({ baseDelayMs: 1000, factor: 2, maxDelayMs: 300000, maxAttempts: 5 });
    expect(config.batch).toEqual({ enabled: true, windowMs: 900000, maxItems: 10 });
    expect(config.sandbox).toEqual({ host: '127.0.0.1', smtpPort: 2525, httpPort: 4010, callbacks: true, callbackDelayMs: 200 });
    expect(config.rateLimits).toEqual({
      twilio: { max: 10, windowMs: 1_000 }, smsRecipient: { max: 1, windowMs: 1_000 },
      whatsapp: { max: 80, windowMs: 1_000 }, whatsappRecipient: { max: 1, windowMs: 6_000 }, maxWaitMs: 1_000,
    });
    expect(config.inbound).toEqual({ replyWindowMs: 168 * 3_600_000 });
  });

  it('parses given values and treats an empty variable as unset', () => {
    const config = loadConfig({ ...keys, PORT: '8080', SMTP_SECURE: 'true', RETRY_FACTOR: '1.5', LOG_LEVEL: '', SMTP_USER: 'mailer', SMTP_PASSWORD: 'pw' });
    expect(config.server.port).toBe(8080);
    expect(config.smtp.secure).toBe(true);
    expect(config.retry.factor).toBe(1.5);
    expect(config.log.level).toBe('info');
    expect(config.smtp).toMatchObject({ user: 'mailer', password: 'pw' });
  });

  it('is frozen all the way down', () => {
    const config = loadConfig(keys);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.smtp.pool)).toBe(true);
  });

  it('lists every missing required variable at once', () => {
    expect(problems({})).toEqual({ DB_ENCRYPTION_KEY: 'is required', BLIND_INDEX_KEY: 'is required' });
  });

  it.each([
    ['not a number', { PORT: 'http' }, 'PORT', 'must be a whole number'],
    ['out of range', { PORT: '70000' }, 'PORT', 'must be between 0 and 65535'],
    ['not a boolean', { SMTP_SECURE: 'maybe' }, 'SMTP_SECURE', 'must be true or false'],
    ['not in the enum', { NODE_ENV: 'staging' }, 'NODE_ENV', 'must be one of development, test, production'],
    ['not a URL', { DATABASE_URL: 'not a url' }, 'DATABASE_URL', 'must be a URL'],
    ['the wrong URL scheme', { REDIS_URL: 'http://127.0.0.1:6379' }, 'REDIS_URL', 'must be a URL with scheme redis or rediss'],
    ['a too-short secret', { DB_ENCRYPTION_KEY: 'short' }, 'DB_ENCRYPTION_KEY', 'must be at least 32 characters long'],
    ['not matching its pattern', { TWILIO_ACCOUNT_SID: 'XY123' }, 'TWILIO_ACCOUNT_SID', 'must be AC followed by 32 hex digits'],
    ['not a float', { RETRY_FACTOR: 'fast' }, 'RETRY_FACTOR', 'must be a number'],
    ['equal keys', { BLIND_INDEX_KEY: 'k'.repeat(32) }, 'BLIND_INDEX_KEY', 'must differ from DB_ENCRYPTION_KEY'],
    ['pretty logs in production', { NODE_ENV: 'production', LOG_PRETTY: 'true' }, 'LOG_PRETTY', 'must be false when NODE_ENV=production (logs are JSON lines)'],
  ])('reports a bad value: %s', (_kind, env, variable, problem) => {
    expect(problems({ ...keys, ...env })).toEqual({ [variable]: problem });
  });

  it('reports several problems of different kinds together', () => {
    expect(Object.keys(problems({ PORT: 'x', SMTP_SECURE: 'maybe', BLIND_INDEX_KEY: 'short' })).sort()).toEqual(
      ['BLIND_INDEX_KEY', 'DB_ENCRYPTION_KEY', 'PORT', 'SMTP_SECURE'].sort(),
    );
  });

  it('requires real credentials and https in live mode', () => {
    const found = problems({ ...keys, PROVIDER_MODE: 'live', TWILIO_BASE_URL: 'http://insecure.example', SMTP_REQUIRE_TLS: 'false' });
    expect(found).toMatchObject({
      SMTP_HOST: 'is required when PROVIDER_MODE=live',
      TWILIO_ACCOUNT_SID: 'is required when PROVIDER_MODE=live',
      TWILIO_AUTH_TOKEN: 'is required when PROVIDER_MODE=live',
      WHATSAPP_ACCESS_TOKEN: 'is required when PROVIDER_MODE=live',
      WHATSAPP_APP_SECRET: 'is required when PROVIDER_MODE=live',
      TWILIO_BASE_URL: 'must be an https URL when PROVIDER_MODE=live',
      SMTP_REQUIRE_TLS: 'cannot be false when PROVIDER_MODE=live',
    });
  });

  it('uses the real providers and TLS in live mode', () => {
    const config = loadConfig({
      ...keys, PROVIDER_MODE: 'live', SMTP_HOST: 'smtp.example.com', TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`, TWILIO_AUTH_TOKEN: 't'.repeat(32),
      TWILIO_FROM_NUMBER: '+14155550123', WHATSAPP_PHONE_NUMBER_ID: '123456789', WHATSAPP_ACCESS_TOKEN: 'w'.repeat(40),
      WHATSAPP_APP_SECRET: 's'.repeat(32), WHATSAPP_VERIFY_TOKEN: 'verify-me-please',
      SENDER_POSTAL_ADDRESS: 'Event Planner, 1 Main Street, Springfield, USA', UNSUBSCRIBE_MAILTO: 'unsubscribe@planner.example',
    });
    expect(config.twilio.baseUrl).toBe('https://api.twilio.com');
    expect(config.whatsapp.baseUrl).toBe('https://graph.facebook.com');
    expect(config.smtp).toMatchObject({ host: 'smtp.example.com', port: 587, requireTls: true });
  });

  it('never prints a value, secret or not', () => {
    const secret = 'hunter2-is-not-long-enough';
    try {
      loadConfig({ DB_ENCRYPTION_KEY: secret, BLIND_INDEX_KEY: 'b'.repeat(32), DATABASE_URL: 'mysql://user:pa55word@db/x', PORT: 'port-secret' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      const text = `${(error as Error).message} ${JSON.stringify((error as ConfigError).issues)}`;
      for (const value of [secret, 'pa55word', 'port-secret']) expect(text).not.toContain(value);
    }
  });
});

describe('loadDatabaseConfig', () => {
  it('reads only the PostgreSQL settings: no secrets needed', () => {
    expect(loadDatabaseConfig({ DATABASE_POOL_MAX: '3' })).toEqual({ url: 'postgres://postgres@127.0.0.1:5432/postgres', poolMax: 3, statementTimeoutMs: 30000 });
  });

  it('lists every problem with them', () => {
    try {
      loadDatabaseConfig({ DATABASE_URL: 'mysql://x', DATABASE_POOL_MAX: '0' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect((error as ConfigError).issues).toEqual([
        { variable: 'DATABASE_URL', problem: 'must be a URL with scheme postgres or postgresql' },
        { variable: 'DATABASE_POOL_MAX', problem: 'must be between 1 and 200' },
      ]);
    }
  });
});

describe('loadConfigOrExit', () => {
  it('prints one message listing every problem and exits non-zero', () => {
    let written = '';
    let code: number | undefined;
    expect(() =>
      loadConfigOrExit({ PORT: 'x' }, {
        write: (text) => { written += text; },
        exit: (c) => { code = c; throw new Error('exited'); },
      }),
    ).toThrow('exited');
    expect(code).toBe(78);
    expect(written).toMatch(/^Invalid environment \(3 problems\):/);
    expect(written).toContain('  - DB_ENCRYPTION_KEY: is required');
    expect(written).toContain('  - BLIND_INDEX_KEY: is required');
    expect(written).toContain('  - PORT: must be a whole number');
  });
});

describe('documentation', () => {
  it('.env.template lists every variable, generated from the table', () => {
    const template = readFileSync(join(root, '.env.template'), 'utf8');
    expect(template).toBe(renderEnvTemplate());
    for (const name of Object.keys(variables)) expect(template).toMatch(new RegExp(`^${name}=`, 'm'));
  });

  it('the README configuration table matches the same table', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain(renderConfigTable());
  });

  it('every default is itself valid', () => {
    for (const spec of Object.values(variables)) {
      if (spec.default !== undefined && spec.default !== '') expect([spec.name, spec.parse(spec.default).ok]).toEqual([spec.name, true]);
      if (spec.liveDefault !== undefined) expect([spec.name, spec.parse(spec.liveDefault).ok]).toEqual([spec.name, true]);
    }
  });
});
