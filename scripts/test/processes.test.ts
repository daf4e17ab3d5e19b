import { execFileSync, spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEnvironment, variables } from '@crm/config';
import { createTestDatabase, createTestRedis, testEnvironment, type TestDatabase, type TestRedis } from '@crm/testing';

// These tests run the built programs as separate processes, as production and `npm start` do.
const root = join(__dirname, '..', '..');
const services = ['ingest', 'strategy-worker', 'email-worker', 'analytics-worker', 'callback-worker', 'sandbox'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string | undefined>, options: { timeoutMs?: number; signalAfter?: (out: string) => boolean } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env: env as NodeJS.ProcessEnv });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    const onOutput = () => {
      if (!signalled && options.signalAfter?.(stdout + stderr)) {
        signalled = true;
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); onOutput(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); onOutput(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: ${args.join(' ')}\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const path = readEnvironment().PATH;

/** Provider secrets of the test's own (not the sandbox defaults), so that one found in the output leaked from the environment. */
const ownSecrets = {
  TWILIO_AUTH_TOKEN: 'proc-twilio-auth-token-5f1c9e',
  WHATSAPP_ACCESS_TOKEN: 'proc-whatsapp-access-token-8d2e41',
  WHATSAPP_APP_SECRET: 'proc-whatsapp-app-secret-3a9b07',
  WHATSAPP_VERIFY_TOKEN: 'proc-whatsapp-verify-token-7c4d52',
  TRACKING_SECRET: 'proc-tracking-secret-e6f0-0123456789abcdef',
  OPERATOR_PASSWORD: 'proc-operator-password-2b8a',
};
/** The demo's email addresses and phone numbers (E.164 and bare digits), read from its source so that a new one is checked too. */
const demoContacts = [...new Set(readFileSync(join(root, 'scripts', 'src', 'demo.ts'), 'utf8').match(/[\w.+-]+@[\w-]+\.[\w.]+|\+\d{8,15}/g) ?? [])]
  .flatMap((contact) => (contact.startsWith('+') ? [contact, contact.slice(1)] : [contact]));

/** Fails naming every secret variable of `env` (a URL's password only) and every demo contact detail that `output` holds. */
function expectNoSecretsOrContacts(output: string, env: Record<string, string | undefined>): void {
  const secrets = Object.values(variables).flatMap((spec: { name: string; secret?: boolean }) => {
    const value = spec.secret ? env[spec.name] : undefined;
    if (!value) return [];
    const secret = /^[a-z]+:\/\//.test(value) ? new URL(value).password : value;
    return secret ? [[spec.name, secret] as const] : [];
  });
  expect(secrets.map(([name]) => name)).toEqual(expect.arrayContaining(['DB_ENCRYPTION_KEY', 'BLIND_INDEX_KEY']));
  expect(demoContacts.length).toBeGreaterThanOrEqual(4);
  const found = [...secrets.filter(([, value]) => output.includes(value)).map(([name]) => name), ...demoContacts.filter((contact) => output.includes(contact))];
  expect(found).toEqual([]);
}

let t: TestDatabase;
let r: TestRedis;

beforeAll(async () => {
  // The programs run from dist/: build whatever is stale (incremental, quick when up to date).
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'scripts'], { cwd: root, stdio: 'inherit' });
  [t, r] = await Promise.all([createTestDatabase(), createTestRedis()]);
}, 180_000);
afterAll(async () => {
  await Promise.all([t.destroy(), r.destroy()]);
});

describe('a service with a bad environment', () => {
  it.each(services)('%s exits 78 listing every problem, printing no value', async (service) => {
    const result = await run([`services/${service}/dist/main.js`], { PATH: path, PORT: 'not-a-port', BLIND_INDEX_KEY: 'too-short-secret-value' });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('Invalid environment (3 problems):');
    expect(result.stderr).toContain('DB_ENCRYPTION_KEY: is required');
    expect(result.stderr).toContain('BLIND_INDEX_KEY: must be at least 32 characters long');
    expect(result.stderr).toContain('PORT: must be a whole number');
    expect(result.stderr + result.stdout).not.toContain('too-short-secret-value');
  });
});

describe('a service on SIGTERM', () => {
  it.each(['strategy-worker', 'email-worker', 'analytics-worker', 'callback-worker', 'ingest', 'sandbox'])('%s stops cleanly and exits 0', async (service) => {
    const env = { ...testEnvironment({ LOG_LEVEL: 'info', DATABASE_URL: t.url, QUEUE_PREFIX: r.prefix }), PATH: path };
    const result = await run([`services/${service}/dist/main.js`], env, { signalAfter: (out) => out.includes('"msg":"started"') || out.includes('sandbox listening') });
    expect([result.code, result.stderr]).toEqual([0, '']);
    expect(result.stdout).toContain('"msg":"stopped"');
    expectNoSecretsOrContacts(result.stdout, env);
  });
});

describe('npm start', () => {
  it('brings the engine up, delivers the demo messages to the sandbox, takes the client\'s signed reply and stops', async () => {
    // A port of its own, so that PUBLIC_BASE_URL names this ingest and the sandbox's callbacks reach it.
    const port = await freePort();
    const env = {
      ...testEnvironment({ DATABASE_URL: t.url, QUEUE_PREFIX: r.prefix, LOG_LEVEL: 'debug', PORT: String(port), PUBLIC_BASE_URL: `http://127.0.0.1:${port}`, SANDBOX_CALLBACKS: 'true', SANDBOX_CALLBACK_DELAY_MS: '20', ...ownSecrets }),
      PATH: path,
    };
    const result = await run(['scripts/dist/start.js', '--exit-after-demo'], env, { timeoutMs: 110_000 });
    expect(result.stdout).toContain('crm-engine is running');
    expect(result.stdout).toMatch(/demo: the sandbox SMTP server received "Welcome, Ada: let's plan Summer gala"/);
    expect(result.stdout).toMatch(/demo: communication [0-9a-f-]{36} is sent/);
    expect(result.stdout).toMatch(/demo: the sandbox's Twilio got 1 segment: "Hi Katherine/);
    expect(result.stdout).toMatch(/demo: communication [0-9a-f-]{36} is responded/);
    expect(result.stdout).toMatch(/webhook +sent → delivered {2}sms/);
    // The event-planning workflow, resumed by the client's "2" through a signed callback.
    expect(result.stdout).toMatch(/demo: plan demo-plan-\d+ completed with vendor 2 /);
    expect(result.code).toBe(0);
    // Every service's debug log and the demo's own lines: no secret of the environment, no address or number.
    expect(result.stdout).toContain('"level":"debug"');
    expectNoSecretsOrContacts(result.stdout + result.stderr, env);
  // Every demo step, the event-planning journey included, with debug logs of every service.
  }, 120_000);

  it('starts an embedded PostgreSQL when none answers', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'crm-start-'));
    try {
      const env = { ...testEnvironment({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', QUEUE_PREFIX: r.prefix }), PATH: path };
      const result = await run(['scripts/dist/start.js', '--exit-after-demo', '--data-dir', dataDir], env, { timeoutMs: 120_000 });
      expect(result.stdout).toContain('starting an embedded PostgreSQL');
      expect(result.stdout).toMatch(/PostgreSQL +postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/crm {2}\(embedded/);
      expect(result.stdout).toMatch(/demo: communication [0-9a-f-]{36} is sent/);
      expect(result.code).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 150_000);

  it('starts redis-server when no Redis answers', async () => {
    const env = { ...testEnvironment({ DATABASE_URL: t.url, REDIS_URL: 'redis://127.0.0.1:1' }), PATH: path };
    const result = await run(['scripts/dist/start.js', '--exit-after-demo'], env, { timeoutMs: 110_000 });
    expect(result.stdout).toMatch(/starting \S*redis-server on port \d+/);
    expect(result.stdout).toMatch(/demo: communication [0-9a-f-]{36} is sent/);
    expect(result.code).toBe(0);
  });

  it('says how to get Redis when none answers and none is installed', async () => {
    const env = { ...testEnvironment({ DATABASE_URL: t.url, REDIS_URL: 'redis://127.0.0.1:1' }), PATH: '/nonexistent' };
    const result = await run(['scripts/dist/start.js', '--exit-after-demo'], env, { timeoutMs: 110_000 });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('there is no redis-server on PATH');
    expect(result.stdout).toContain('apt-get install -y redis-server');
  });
});

/** A TCP port free right now on loopback. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
