import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readEnvironment } from '@crm/config';
import { ApiKeyRepository } from '@crm/db';
import { createTestDatabase, type TestDatabase } from '@crm/testing';

const root = join(__dirname, '..', '..');
const run = promisify(execFile);
let t: TestDatabase;

beforeAll(async () => {
  // The script runs from dist/, as `npm run apikey:create` does (incremental build, quick when up to date).
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'scripts'], { cwd: root, stdio: 'inherit' });
  t = await createTestDatabase();
}, 180_000);
afterAll(() => t.destroy());

const apikeyCreate = (args: string[]) =>
  run(process.execPath, ['scripts/dist/apikey-create.js', ...args], { cwd: root, env: { PATH: readEnvironment().PATH, DATABASE_URL: t.url } }).then(
    (result) => ({ code: 0, ...result }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );

describe('npm run apikey:create', () => {
  it('prints a new key once, which then verifies', async () => {
    const result = await apikeyCreate(['--name', 'workflow-prod']);
    expect(result.code).toBe(0);
    const key = /crm_live_[A-Za-z0-9_-]{32}/.exec(result.stdout)?.[0];
    expect(key).toBeDefined();
    expect(await ApiKeyRepository.verify(t.db, key!)).toEqual({ id: expect.any(String), name: 'workflow-prod' });
    const json = await apikeyCreate(['--name', 'as-json', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'as-json', key: expect.stringMatching(/^crm_live_/) });
  });

  it('refuses to run without a name', async () => {
    const result = await apikeyCreate([]);
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('--name is required');
  });
});
