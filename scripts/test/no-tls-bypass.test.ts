import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ConfigError, loadConfig } from '@crm/config';

// TLS is never switched off in the engine's own code: certificates are always verified, and live
// mode speaks to the providers over https and to the SMTP server over TLS only. The sandbox
// (loopback stand-ins of the providers) and tests are not scanned.
const root = join(__dirname, '..', '..');

/** Ways of weakening TLS, each with what it does. */
const bypasses: readonly { readonly pattern: RegExp; readonly what: string }[] = [
  { pattern: /rejectUnauthorized(?!\s*:\s*true\b)/, what: 'rejectUnauthorized other than true (skips certificate verification)' },
  { pattern: /NODE_TLS_REJECT_UNAUTHORIZED/, what: 'NODE_TLS_REJECT_UNAUTHORIZED (skips certificate verification process-wide)' },
  { pattern: /insecure/i, what: 'an "insecure" option or flag' },
  { pattern: /checkServerIdentity/, what: 'a checkServerIdentity override (skips host name verification)' },
  { pattern: /ignoreTLS\s*:\s*(?!false\b)/, what: 'nodemailer ignoreTLS (no STARTTLS even when offered)' },
  { pattern: /strictSSL\s*:\s*false/, what: 'strictSSL: false' },
  { pattern: /DEFAULT_MIN_VERSION|minVersion\s*:\s*['"]TLSv1(\.1)?['"]/, what: 'a TLS version below 1.2' },
];

/** Source without its comments (a comment may well say "insecure"); strings and code stay. */
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, ' ')).replace(/(^|\s)\/\/.*$/gm, '$1');
}

/** Every `.ts` file under `dir`, recursively. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** The `src` directories scanned: every package and service but the sandbox. */
function scannedDirectories(): string[] {
  return ['packages', 'services'].flatMap((group) =>
    readdirSync(join(root, group))
      .filter((name) => !(group === 'services' && name === 'sandbox'))
      .map((name) => join(root, group, name, 'src'))
      .filter((dir) => statSync(dir, { throwIfNoEntry: false })?.isDirectory()),
  );
}

/** Each bypass found in `source`, as `line: what`. */
function findBypasses(source: string): string[] {
  const found: string[] = [];
  withoutComments(source)
    .split('\n')
    .forEach((line, index) => {
      for (const { pattern, what } of bypasses) if (pattern.test(line)) found.push(`${index + 1}: ${what}`);
    });
  return found;
}

describe('no TLS bypass in the engine', () => {
  it('finds each kind of bypass it looks for', () => {
    const samples = [
      'const agent = new https.Agent({ rejectUnauthorized: false });',
      "tls: { rejectUnauthorized: config.verify }",
      "process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = '0';",
      'const transport = createTransport({ allowInsecureAuth: true });',
      'connect({ host, checkServerIdentity: () => undefined });',
      'nodemailer.createTransport({ ignoreTLS: true });',
      "request({ url, strictSSL: false });",
      "tls.DEFAULT_MIN_VERSION = 'TLSv1';",
      "connect({ minVersion: 'TLSv1.1' });",
    ];
    for (const sample of samples) expect([sample, findBypasses(sample).length]).toEqual([sample, 1]);
    expect(findBypasses('const agent = new https.Agent({ rejectUnauthorized: true, minVersion: \'TLSv1.2\' });')).toEqual([]);
    expect(findBypasses("// plain http is insecure\nconst url = 'https://api.twilio.com'; // not insecure\n/* insecure */")).toEqual([]);
  });

  it('finds none in packages/*/src and services/*/src (the sandbox aside)', () => {
    const dirs = scannedDirectories();
    expect(dirs.map((dir) => relative(root, dir))).toEqual(expect.arrayContaining(['packages/providers/src', 'packages/config/src', 'services/ingest/src']));
    expect(dirs.map((dir) => relative(root, dir))).not.toContain('services/sandbox/src');
    const files = dirs.flatMap(sourceFiles);
    expect(files.length).toBeGreaterThan(50);
    const found = files.flatMap((file) => findBypasses(readFileSync(file, 'utf8')).map((hit) => `${relative(root, file)}:${hit}`));
    expect(found).toEqual([]);
  });
});

describe('live mode refuses plain-text providers', () => {
  const keys = { DB_ENCRYPTION_KEY: 'k'.repeat(32), BLIND_INDEX_KEY: 'b'.repeat(32) };
  const live = {
    ...keys, PROVIDER_MODE: 'live', SMTP_HOST: 'smtp.example.com', TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`, TWILIO_AUTH_TOKEN: 't'.repeat(32),
    TWILIO_FROM_NUMBER: '+14155550123', WHATSAPP_PHONE_NUMBER_ID: '123456789', WHATSAPP_ACCESS_TOKEN: 'w'.repeat(32),
    WHATSAPP_APP_SECRET: 's'.repeat(32), WHATSAPP_VERIFY_TOKEN: 'v'.repeat(16), SENDER_POSTAL_ADDRESS: '1 Main Street, Springfield',
    UNSUBSCRIBE_MAILTO: 'unsubscribe@example.com',
  };
  const issues = (env: Record<string, string>): Record<string, string> => {
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return Object.fromEntries((error as ConfigError).issues.map((issue) => [issue.variable, issue.problem]));
    }
    throw new Error('expected a ConfigError');
  };

  it('uses https base URLs and required TLS by default', () => {
    const config = loadConfig(live);
    expect(config.twilio.baseUrl).toMatch(/^https:\/\//);
    expect(config.whatsapp.baseUrl).toMatch(/^https:\/\//);
    expect(config.smtp.requireTls).toBe(true);
  });

  it.each(['TWILIO_BASE_URL', 'WHATSAPP_BASE_URL'])('refuses an http %s', (name) => {
    expect(issues({ ...live, [name]: 'http://api.example.com' })).toEqual({ [name]: 'must be an https URL when PROVIDER_MODE=live' });
    expect(loadConfig({ ...live, [name]: 'https://api.example.com' })).toBeDefined();
  });

  it('refuses both at once, and SMTP without TLS', () => {
    expect(issues({ ...live, TWILIO_BASE_URL: 'http://twilio.test', WHATSAPP_BASE_URL: 'http://graph.test', SMTP_REQUIRE_TLS: 'false' })).toEqual({
      TWILIO_BASE_URL: 'must be an https URL when PROVIDER_MODE=live',
      WHATSAPP_BASE_URL: 'must be an https URL when PROVIDER_MODE=live',
      SMTP_REQUIRE_TLS: 'cannot be false when PROVIDER_MODE=live',
    });
  });

  it('lets the sandbox use http on loopback', () => {
    const config = loadConfig(keys);
    expect(config.twilio.baseUrl).toBe('http://127.0.0.1:4010/twilio');
    expect(config.smtp.requireTls).toBe(false);
  });
});
