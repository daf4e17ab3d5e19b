import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Client } from 'pg';
import { readEnvironment } from '@crm/config';
import { testEnvironment } from '@crm/testing';

// `npm run chaos`, short: 1,000 communications, 2 worker kills, Redis restarted empty once, the
// WhatsApp stand-in down for 5 s and 20 % of emails refused; the built programs run as separate
// processes (the chaos run starts the engine's five services and its own redis-server).
const root = join(__dirname, '..', '..');
const env = readEnvironment();
const { DATABASE_URL } = testEnvironment();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function chaos(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['scripts/dist/chaos.js', ...args], { cwd: root, env: { PATH: env.PATH ?? '/usr/bin:/bin', DATABASE_URL } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGINT');
      reject(new Error(`chaos run timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
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
  // The run starts from dist/: build whatever is stale (incremental, quick when up to date).
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'scripts'], { cwd: root, stdio: 'inherit' });
  if (!existsSync(join(root, 'scripts', 'dist', 'chaos.js'))) throw new Error('scripts/dist/chaos.js was not built');
}, 180_000);

describe('npm run chaos (short)', () => {
  it('loses nothing, leaves nothing stuck and doubles only sends that a kill interrupted', async () => {
    const result = await chaos(
      ['--n', '1000', '--kill-every-ms', '1500', '--kills', '2', '--redis-restarts', '1', '--outage-seconds', '5', '--error-rate', '0.2', '--quiet-seconds', '40', '--json'],
      150_000,
    );
    expect([result.code, result.stderr.includes('chaos failed') ? result.stderr : '']).toEqual([0, '']);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({
      sent: { requested: 1000, accepted: 1000 },
      communications: { lost: 0, stuck: 0, final: 1000 },
      kills: { total: 2 },
      redis: { restarts: 1 },
      postgres: { own: false, restarts: 0 },
      target: { met: true, misses: [] },
      machine: { cores: expect.any(Number), ramGiB: expect.any(Number), node: process.version },
    });
    // Each kill can double the sends it interrupted after the provider accepted them (docs/delivery.md):
    // every duplicate must belong to a communication that was `sending` on the killed worker's channels.
    expect(report.duplicates.unexplained).toBe(0);
    expect(report.duplicates.total).toBeLessThanOrEqual(report.kills.rowsSendingAtKills);
    expect(report.drainMs).toEqual(expect.any(Number));

    // Everything it started is gone: the engine's processes, its redis-server and its database.
    const pids = [...(/chaos: started (.+)/.exec(result.stderr)?.[1] ?? '').matchAll(/(\d+)/g)].map((match) => Number(match[1]));
    expect(pids).toHaveLength(5);
    const restarted = [...result.stderr.matchAll(/restarted as pid (\d+)/g)].map((match) => Number(match[1]));
    expect(restarted).toHaveLength(2);
    expect([...pids, ...restarted].filter(alive)).toEqual([]);
    const redisPort = Number(/private Redis redis:\/\/127\.0\.0\.1:(\d+)/.exec(result.stderr)?.[1]);
    const redisAnswers = await new Promise<boolean>((resolve) => {
      const socket = connect(redisPort, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    expect(redisAnswers).toBe(false);
    const pg = new Client({ connectionString: DATABASE_URL });
    await pg.connect();
    try {
      const { rows } = await pg.query('SELECT datname FROM pg_database WHERE datname = $1', [report.resources.database]);
      expect(rows).toEqual([]);
    } finally {
      await pg.end();
    }
  }, 170_000);

  it('with --pg-restart: its own embedded PostgreSQL restarted mid-run, nothing lost or stuck, no process crashed', async () => {
    const result = await chaos(['--n', '900', '--pg-restart', '--kill-every-ms', '1500', '--kills', '2', '--redis-restarts', '0', '--outage-seconds', '3', '--quiet-seconds', '40', '--json'], 150_000);
    // A service that crashed on the restart (an unhandled pg 'error' event) fails the run: exit 1, "chaos failed".
    expect([result.code, result.stderr.includes('chaos failed') ? result.stderr : '']).toEqual([0, '']);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ postgres: { own: true, restarts: 1 }, communications: { lost: 0, stuck: 0, final: 900 }, duplicates: { unexplained: 0 }, target: { met: true } });
    expect(result.stderr).toContain('PostgreSQL restarted');
  }, 170_000);
});
