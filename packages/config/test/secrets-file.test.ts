import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, loadDatabaseConfig, variables, type VariableSpec } from '@crm/config';

// Secrets may come from files (`NAME_FILE`), as Docker and Kubernetes mount them.
const keys = { DB_ENCRYPTION_KEY: 'k'.repeat(32), BLIND_INDEX_KEY: 'b'.repeat(32) };
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'crm-secrets-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `content` to a new file in the temp directory and answers its path. */
const secretFile = (name: string, content: string): string => {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
};

/** The ConfigError `loadConfig(env)` throws. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('secrets from files (NAME_FILE)', () => {
  it('marks every secret as secret', () => {
    const secrets = (Object.values(variables) as VariableSpec[]).filter((spec) => spec.secret).map((spec) => spec.name).sort();
    expect(secrets).toEqual([
      'BLIND_INDEX_KEY', 'DATABASE_URL', 'DB_ENCRYPTION_KEY', 'DB_ENCRYPTION_PREVIOUS_KEYS', 'OPERATOR_PASSWORD', 'REDIS_URL', 'SMTP_PASSWORD',
      'TRACKING_SECRET', 'TWILIO_AUTH_TOKEN', 'WHATSAPP_ACCESS_TOKEN', 'WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN',
    ]);
  });

  it('reads a secret from the file NAME_FILE names, trimming the trailing newline', () => {
    const encryption = 'e'.repeat(40);
    const config = loadConfig({
      BLIND_INDEX_KEY: keys.BLIND_INDEX_KEY,
      DB_ENCRYPTION_KEY_FILE: secretFile('db-key', `${encryption}\n`),
      SMTP_PASSWORD_FILE: secretFile('smtp', 'pass word with spaces \r\n'),
      DATABASE_URL_FILE: secretFile('db-url', 'postgres://app:s3cret@db.internal:5432/crm\n'),
      OPERATOR_PASSWORD_FILE: secretFile('operator', 'operator-password-1\n\n'),
    });
    expect(config.security.dbEncryptionKey).toBe(encryption);
    expect(config.smtp.password).toBe('pass word with spaces ');
    expect(config.database.url).toBe('postgres://app:s3cret@db.internal:5432/crm');
    expect(config.operator.password).toBe('operator-password-1');
  });

  it('validates a value from a file like one from the environment', () => {
    expect(configError({ ...keys, TWILIO_AUTH_TOKEN_FILE: secretFile('short-token', 'short\n') }).issues).toEqual([
      { variable: 'TWILIO_AUTH_TOKEN', problem: 'must be at least 16 characters long' },
    ]);
  });

  it('satisfies live mode\'s required secrets from files', () => {
    const config = loadConfig({
      ...keys, PROVIDER_MODE: 'live', SMTP_HOST: 'smtp.example.com', TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
      TWILIO_AUTH_TOKEN_FILE: secretFile('twilio', 't'.repeat(32)), TWILIO_FROM_NUMBER: '+14155550123',
      WHATSAPP_PHONE_NUMBER_ID: '123456789', WHATSAPP_ACCESS_TOKEN_FILE: secretFile('wa-token', 'w'.repeat(32)),
      WHATSAPP_APP_SECRET_FILE: secretFile('wa-secret', 's'.repeat(32)), WHATSAPP_VERIFY_TOKEN_FILE: secretFile('wa-verify', 'v'.repeat(16)),
      SENDER_POSTAL_ADDRESS: '1 Main Street, Springfield', UNSUBSCRIBE_MAILTO: 'unsubscribe@example.com',
    });
    expect(config.twilio.authToken).toBe('t'.repeat(32));
    expect(config.whatsapp).toMatchObject({ accessToken: 'w'.repeat(32), appSecret: 's'.repeat(32), verifyToken: 'v'.repeat(16) });
  });

  it('refuses NAME and NAME_FILE both set', () => {
    const error = configError({ ...keys, BLIND_INDEX_KEY_FILE: secretFile('blind', 'c'.repeat(32)) });
    expect(error.issues).toEqual([{ variable: 'BLIND_INDEX_KEY', problem: 'set BLIND_INDEX_KEY or BLIND_INDEX_KEY_FILE, not both' }]);
  });

  it('treats an empty NAME_FILE as unset', () => {
    expect(loadConfig({ ...keys, DB_ENCRYPTION_KEY_FILE: '' }).security.dbEncryptionKey).toBe(keys.DB_ENCRYPTION_KEY);
  });

  it('names the variable and the path of a file that is missing, unreadable or empty', () => {
    const missing = join(dir, 'no-such-file');
    const directory = join(dir, 'a-directory');
    mkdirSync(directory);
    const error = configError({
      BLIND_INDEX_KEY: keys.BLIND_INDEX_KEY,
      DB_ENCRYPTION_KEY_FILE: missing,
      TRACKING_SECRET_FILE: directory,
      SMTP_PASSWORD_FILE: secretFile('empty', '\n'),
    });
    expect(error.issues).toEqual([
      { variable: 'DB_ENCRYPTION_KEY', problem: `DB_ENCRYPTION_KEY_FILE: cannot read the file ${missing} (ENOENT)` },
      { variable: 'SMTP_PASSWORD', problem: `SMTP_PASSWORD_FILE: the file ${join(dir, 'empty')} is empty` },
      { variable: 'TRACKING_SECRET', problem: `TRACKING_SECRET_FILE: cannot read the file ${directory} (EISDIR)` },
    ]);
    expect(error.message).toContain(missing);
  });

  it('reports a file it may not read without its content', () => {
    if (process.getuid?.() === 0) return; // root reads any file
    const path = secretFile('locked', 'the-locked-secret-value-0123456789');
    chmodSync(path, 0o000);
    const error = configError({ BLIND_INDEX_KEY: keys.BLIND_INDEX_KEY, DB_ENCRYPTION_KEY_FILE: path });
    expect(error.issues).toEqual([{ variable: 'DB_ENCRYPTION_KEY', problem: `DB_ENCRYPTION_KEY_FILE: cannot read the file ${path} (EACCES)` }]);
    expect(error.message).not.toContain('the-locked-secret-value');
  });

  it('never puts a secret from a file into an error', () => {
    const secrets = {
      tooShort: 'secret-too-short',
      blind: 'blind-index-key-from-a-file-0123456789',
      dbUrl: 'mysql://user:pa55w0rd-in-a-file@db/x',
      previous: 'previous-key-way-too-short',
      operator: 'op-short',
    };
    const error = configError({
      DB_ENCRYPTION_KEY_FILE: secretFile('leak-db-key', `${secrets.tooShort}\n`),
      BLIND_INDEX_KEY: 'b'.repeat(32),
      BLIND_INDEX_KEY_FILE: secretFile('leak-blind', secrets.blind),
      DATABASE_URL_FILE: secretFile('leak-db-url', secrets.dbUrl),
      DB_ENCRYPTION_PREVIOUS_KEYS_FILE: secretFile('leak-previous', secrets.previous),
      OPERATOR_PASSWORD_FILE: secretFile('leak-operator', secrets.operator),
    });
    expect(error.issues.map((issue) => issue.variable).sort()).toEqual([
      'BLIND_INDEX_KEY', 'DATABASE_URL', 'DB_ENCRYPTION_KEY', 'DB_ENCRYPTION_PREVIOUS_KEYS', 'OPERATOR_PASSWORD',
    ]);
    const text = `${error.message}\n${JSON.stringify(error.issues)}\n${String(error.stack)}`;
    for (const value of [...Object.values(secrets), 'pa55w0rd', 'b'.repeat(32)]) expect(text).not.toContain(value);
  });

  it('ignores NAME_FILE for a variable that is not a secret', () => {
    const config = loadConfig({ ...keys, PORT_FILE: secretFile('port', '8080') });
    expect(config.server.port).toBe(3000);
  });

  it('reads DATABASE_URL_FILE for the migration tools too', () => {
    expect(loadDatabaseConfig({ DATABASE_URL_FILE: secretFile('migrate-url', 'postgres://migrator:pw@db/crm\n') }).url).toBe('postgres://migrator:pw@db/crm');
  });
});
