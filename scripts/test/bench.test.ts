import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { Redis } from 'ioredis';
import { readEnvironment } from '@crm/config';
import { testEnvironment } from '@crm/testing';

// `npm run bench` on tiny numbers, so that it keeps working: it runs the built programs (the
// bench, its baseline hop workers and every service) as separate processes.
const root = join(__dirname, '..', '..');
const env = readEnvironment();
const { DATABASE_URL, REDIS_URL } = testEnvironment();
const childEnv = { PATH: env.PATH ?? '/usr/bin:/bin', DATABASE_URL, REDIS_URL };
let dir: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function bench(args: string[], options: { timeoutMs: number; interruptWhen?: (stderr: string) => boolean }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['scripts/dist/bench.js', ...args], { cwd: root, env: childEnv });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!interrupted && options.interruptWhen?.(stderr)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bench timed out\n${stdout}\n${stderr}`));
    }, options.timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function leftovers(databases: readonly string[], prefixes: readonly string[]): Promise<{ databases: string[]; keys: number }> {
  const pg = new Client({ connectionString: DATABASE_URL });
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  await Promise.all([pg.connect(), redis.connect()]);
  try {
    const { rows } = await pg.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [databases]);
    let keys = 0;
    for (const prefix of prefixes) keys += (await redis.keys(`${prefix}:*`)).length;
    return { databases: rows.map((row) => row.datname), keys };
  } finally {
    await Promise.all([pg.end(), redis.quit()]);
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(() => {
  // The bench runs from dist/: build whatever is stale (incremental, quick when up to date).
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'scripts'], { cwd: root, stdio: 'inherit' });
  if (!existsSync(join(root, 'scripts', 'dist', 'bench.js'))) throw new Error('scripts/dist/bench.js was not built');
  dir = mkdtempSync(join(tmpdir(), 'crm-bench-test-'));
}, 180_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run bench', () => {
  it('measures every part on tiny numbers, writes its JSON report and leaves nothing behind', async () => {
    const reportPath = join(dir, 'bench.json');
    const result = await bench(
      ['--n', '100', '--ingest-n', '100', '--batch-size', '50', '--statements-n', '40', '--latency-n', '40', '--latency-rate', '100', '--stall-seconds', '30', '--report', reportPath],
      { timeoutMs: 80_000 },
    );
    expect([result.code, result.stderr.includes('bench failed') ? result.stderr : '']).toEqual([0, '']);
    expect(result.stdout).toContain('| raw BullMQ, two hops (2 processes) |');
    expect(result.stdout).toContain('| engine, HTTP → sent (4 processes) |');
    expect(result.stdout).toContain(`report: ${reportPath}`);

    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    const latency = { p50: expect.any(Number), p99: expect.any(Number) };
    expect(report).toMatchObject({
      version: 1,
      machine: { cpuModel: expect.any(String), cores: expect.any(Number), ramGiB: expect.any(Number), node: process.version },
      durability: {
        postgres: { synchronous_commit: expect.any(String), fsync: expect.any(String) },
        redis: { appendonly: expect.any(String), save: expect.any(String) },
      },
      baseline: { n: 100, throughput: expect.any(Number), latencyMs: latency },
      engine: { n: 100, failed: 0, throughput: expect.any(Number), throughputMethod: expect.any(String), ratioToBaseline: expect.any(Number), latencyMs: latency, redisBytesHeldPerSentMessage: expect.any(Number) },
      ingest: { single: { n: 100, requestsPerSecond: expect.any(Number), latencyMs: latency }, batch: { available: expect.any(Boolean) } },
      redisMemory: { k: 100, keyBytesPerMessage: expect.any(Number), usedMemoryBytesPerMessage: expect.any(Number) },
      statements: { n: 40, perMessage: { statements: expect.any(Number) }, transactionsPerMessage: expect.any(Number) },
      latencyAtLoad: { offeredRate: 100, n: 40, acceptToProviderCallMs: latency, acceptToSentMs: latency },
    });
    expect(report.engine.throughput).toBeGreaterThan(0);
    // The proxy counted something; how many per message depends on how much the workers coalesce
    // (0.76 in the README's run, 0.78 in a loaded CI run, more when idle): not a test's business.
    expect(report.statements.perMessage.statements).toBeGreaterThan(0);
    expect(report.redisMemory.keyBytesPerMessage).toBeGreaterThan(0);
    expect(await leftovers(report.resources.databases, report.resources.queuePrefixes)).toEqual({ databases: [], keys: 0 });
  }, 90_000);

  it('on Ctrl-C stops its processes, drops its database and keys, and exits 130', async () => {
    const started = /engine: started (.+); database (\S+), queue prefix (\S+)/;
    const result = await bench(['--n', '1000000', '--skip', 'baseline,ingest,memory,statements,latency', '--report', join(dir, 'never.json')], {
      timeoutMs: 60_000,
      interruptWhen: (stderr) => started.test(stderr),
    });
    expect(result.code).toBe(130);
    const [, pids = '', database = '', prefix = ''] = started.exec(result.stderr) ?? [];
    const children = [...pids.matchAll(/(\d+)/g)].map((match) => Number(match[1]));
    expect(children).toHaveLength(4);
    expect(children.filter(alive)).toEqual([]);
    expect(await leftovers([database], [prefix])).toEqual({ databases: [], keys: 0 });
    expect(existsSync(join(dir, 'never.json'))).toBe(false);
  }, 70_000);
});
