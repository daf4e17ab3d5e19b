import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { readEnvironment } from '@crm/config';
import { testEnvironment } from '@crm/testing';
import { writeDocSection } from '../src/load/doc';
import { connectionsFor } from '../src/load/ramp';
import { drift } from '../src/load/soak-stats';

// `npm run load` and `npm run soak` on tiny numbers, so that they keep working. They run the
// built programs (the scripts and every service) as separate processes. Speed is not asserted:
// only the shape of their reports, and that they leave no database behind.
const root = join(__dirname, '..', '..');
const env = readEnvironment();
const { DATABASE_URL, REDIS_URL } = testEnvironment();
const childEnv = { PATH: env.PATH ?? '/usr/bin:/bin', DATABASE_URL, REDIS_URL };
let dir: string;

function run(script: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join('scripts', 'dist', script), ...args], { cwd: root, env: childEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function databasesLeft(pattern: RegExp, output: string): Promise<string[]> {
  const names = [...output.matchAll(pattern)].map((match) => match[1] ?? '');
  const pg = new Client({ connectionString: DATABASE_URL });
  await pg.connect();
  try {
    const { rows } = await pg.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [names]);
    return rows.map((row) => row.datname);
  } finally {
    await pg.end();
  }
}

const latency = { p50: expect.any(Number), p99: expect.any(Number), max: expect.any(Number) };
const step = { rate: expect.any(Number), achievedRate: expect.any(Number), latencyMs: latency, errors: expect.any(Number), non2xx: expect.any(Number), passed: expect.any(Boolean) };
const machineShape = { cpuModel: expect.any(String), cores: expect.any(Number), ramGiB: expect.any(Number), node: process.version };

beforeAll(() => {
  // The scripts run from dist/: build whatever is stale (incremental, quick when up to date).
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'scripts'], { cwd: root, stdio: 'inherit' });
  for (const script of ['load.js', 'soak.js', 'load/bare-server.js']) if (!existsSync(join(root, 'scripts', 'dist', script))) throw new Error(`scripts/dist/${script} was not built`);
  dir = mkdtempSync(join(tmpdir(), 'crm-load-test-'));
}, 180_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run load', () => {
  it('ramps ingest and a bare Fastify route, holds, and reports both with the machine', async () => {
    const reportPath = join(dir, 'load.json');
    const result = await run('load.js', ['--start', '10', '--step', '10', '--step-seconds', '2', '--hold-seconds', '2', '--max', '20', '--warmup-seconds', '1', '--report', reportPath], 110_000);
    expect([result.code, result.stderr.includes('load failed') ? result.stderr : '']).toEqual([0, '']);
    expect(result.stdout).toContain('| ingest, `POST /api/crm/communications` |');
    expect(result.stdout).toContain('| bare Fastify route (parse JSON, 202) |');
    expect(result.stdout).toMatch(/Machine: .+, \d+ cores, .+ GiB RAM, Node v/);
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    expect(report).toMatchObject({ version: 1, machine: machineShape, criteria: { p99Ms: 100 }, options: { start: 10, step: 10, max: 20 } });
    for (const target of [report.engine, report.baseline]) {
      expect(target.steps.length).toBeGreaterThan(0);
      for (const s of target.steps) expect(s).toMatchObject(step);
      for (const s of target.holds) expect(s).toMatchObject(step);
      expect(target.heldRate === null || typeof target.heldRate === 'number').toBe(true);
    }
    expect(report.ratio === null || typeof report.ratio === 'number').toBe(true);
    expect(await databasesLeft(/database (crm_bench_load_\w+)/g, result.stderr)).toEqual([]);
  }, 120_000);
});

describe('npm run soak', () => {
  it('runs the whole engine at a fixed rate, samples memory and queues, drains, and reports the drift', async () => {
    const reportPath = join(dir, 'soak.json');
    const result = await run('soak.js', ['--seconds', '20', '--rate', '20', '--sample-seconds', '2', '--drain-timeout-seconds', '60', '--report', reportPath], 150_000);
    expect([result.code, result.stderr.includes('soak failed') ? result.stderr : '']).toEqual([0, '']);
    expect(result.stdout).toContain('| Redis used_memory |');
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    const driftShape = { growthPercent: expect.any(Number), flat: expect.any(Boolean) };
    expect(report).toMatchObject({
      version: 1,
      machine: machineShape,
      options: { seconds: 20, rate: 20 },
      ingest: step,
      sentRatePerSecond: expect.any(Number),
      sustained: expect.any(Boolean),
      memory: { redisUsedMemory: driftShape, flat: expect.any(Boolean) },
      backlog: { max: expect.any(Number), atEndOfSending: { communicationsNotFinal: expect.any(Number) }, bounded: expect.any(Boolean) },
    });
    for (const service of ['ingest', 'strategy-worker', 'email-worker', 'messaging-worker', 'sandbox']) expect(report.memory.processes[service]).toMatchObject({ rss: driftShape, heapUsed: driftShape });
    expect(report.samples.length).toBeGreaterThanOrEqual(6);
    expect(Object.keys(report.samples[0].queues)).toEqual(expect.arrayContaining(['crm.requests', 'crm.email', 'crm.messaging', 'crm.events']));
    // Everything answered was stored (speed is not a test's business). autocannon stops at the
    // deadline with up to one request per connection sent but its answer not counted.
    const total = Object.values(report.statuses as Record<string, number>).reduce((sum, n) => sum + n, 0);
    expect(total).toBeGreaterThanOrEqual(report.ingest.answered);
    expect(total).toBeLessThanOrEqual(report.ingest.answered + report.ingest.connections);
    expect(await databasesLeft(/database (crm_bench_soak_\w+)/g, result.stderr)).toEqual([]);
  }, 160_000);
});

describe('the load and soak helpers', () => {
  it('compares the first and last thirds of a series', () => {
    expect(drift([100, 100, 100, 110, 110, 110])).toMatchObject({ firstThird: 100, lastThird: 110, growthPercent: 10, flat: true });
    expect(drift([100, 100, 120, 130])).toMatchObject({ growthPercent: 30, flat: false, lastThirdGrowthPercent: 0 });
    expect(drift([1, 2])).toMatchObject({ growthPercent: null, flat: null });
  });

  it('spreads a rate over one connection per 50 requests/s, within the maximum', () => {
    expect([connectionsFor(10, 64), connectionsFor(200, 64), connectionsFor(5000, 64)]).toEqual([1, 4, 64]);
  });

  it('replaces only its own section of a document', () => {
    const path = join(dir, 'doc.md');
    writeFileSync(path, '# T\n<!-- load:start -->\nold\n<!-- load:end -->\n<!-- soak:start -->\nkept\n<!-- soak:end -->\n');
    writeDocSection(path, 'load', 'new figures');
    expect(readFileSync(path, 'utf8')).toBe('# T\n<!-- load:start -->\nnew figures\n<!-- load:end -->\n<!-- soak:start -->\nkept\n<!-- soak:end -->\n');
    expect(() => writeDocSection(path, 'chaos', 'x')).toThrow('markers');
  });
});
