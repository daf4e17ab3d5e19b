import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readEnvironment } from '@crm/config';
import { getClientContact, upsertClientContact, type PiiKeys } from '@crm/db';
import { createTestDatabase, type TestDatabase } from '@crm/testing';

const root = join(__dirname, '..', '..');
const run = promisify(execFile);
let t: TestDatabase;

const oldKey = 'script-old-key-0123456789abcdef0123';
const newKey = 'script-new-key-0123456789abcdef0123';
const blindIndexKey = 'script-blind-index-key-0123456789ab';

beforeAll(async () => {
  // The script runs from dist/, as `npm run keys:rotate` does.
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'scripts'], { cwd: root, stdio: 'inherit' });
  t = await createTestDatabase();
}, 180_000);
afterAll(() => t.destroy());

const keysRotate = (args: string[], env: Record<string, string>) =>
  run(process.execPath, ['scripts/dist/keys-rotate.js', ...args], {
    cwd: root,
    env: { PATH: readEnvironment().PATH, DATABASE_URL: t.url, BLIND_INDEX_KEY: blindIndexKey, ...env },
  }).then(
    (result) => ({ code: 0, ...result }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );

describe('npm run keys:rotate', () => {
  it('counts, then re-encrypts under the new key; the old key can then go', async () => {
    const old: PiiKeys = { encryptionKey: oldKey, blindIndexKey };
    for (let i = 0; i < 12; i++) await upsertClientContact(t.db, old, { clientId: `script-${i}`, email: `s${i}@example.com`, phone: `+1415555${1100 + i}` });
    const env = { DB_ENCRYPTION_KEY: newKey, DB_ENCRYPTION_PREVIOUS_KEYS: oldKey };

    const dry = await keysRotate(['--dry-run', '--json'], env);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ stale: { crm_client_preferences: 24, crm_inbound_messages: 0 } });

    const result = await keysRotate(['--batch-size', '5'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('crm_client_preferences: 5 row(s) re-encrypted');
    expect(result.stdout).toContain('0 value(s) remain under another key');
    // Neither key is ever printed.
    expect(result.stdout + result.stderr).not.toContain(oldKey);
    expect(result.stdout + result.stderr).not.toContain(newKey);
    expect(await getClientContact(t.db, { encryptionKey: newKey, blindIndexKey }, 'script-7')).toEqual({ email: 's7@example.com', phone: '+14155551107' });
  });

  it('refuses bad arguments and a bad environment without touching the database', async () => {
    expect((await keysRotate(['--batch-size', '0'], { DB_ENCRYPTION_KEY: newKey })).code).toBe(64);
    const bad = await keysRotate([], { DB_ENCRYPTION_KEY: 'short' });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain('DB_ENCRYPTION_KEY');
    expect(bad.stderr).not.toContain('short');
  });

  it('names the missing key when a value cannot be decrypted', async () => {
    // The old key is not given: the rows it encrypted cannot be read, and nothing is changed.
    await upsertClientContact(t.db, { encryptionKey: oldKey, blindIndexKey }, { clientId: 'script-orphan', email: 'orphan@example.com' });
    const result = await keysRotate([], { DB_ENCRYPTION_KEY: newKey });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no key decrypts this value.*DB_ENCRYPTION_PREVIOUS_KEYS/);
  });
});
