import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readEnvironment } from '@crm/config';
import { testEnvironment } from '@crm/testing';

// `npm run bench:analytics` on 1,000 communications, so that it keeps working (the 1,000,000 run
// is not part of the tests; its figures are in docs/analytics.md).
const root = join(__dirname, '..', '..');

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'scripts'], { cwd: root, stdio: 'inherit' });
}, 180_000);

it('loads, builds the rollups, times every query and prints the plans', () => {
  const { DATABASE_URL } = testEnvironment();
  const result = spawnSync(process.execPath, ['scripts/dist/bench-analytics.js', '--n', '1000', '--runs', '2'], {
    cwd: root, encoding: 'utf8', env: { PATH: readEnvironment().PATH ?? '/usr/bin:/bin', DATABASE_URL }, timeout: 120_000,
  });
  // 0: every p95 under 200 ms; 2: one was not (a busy machine): both are a working bench.
  expect([[0, 2].includes(result.status ?? -1), result.stderr.replace(/\rloaded [\d,]+ \/ [\d,]+/g, '').trim()]).toEqual([true, '']);
  expect(result.stdout).toMatch(/N=1,000, 2 runs per query/);
  expect(result.stdout).toMatch(/rollups: [\d,]+ cells built/);
  for (const query of ['dashboard, last 30 days', 'dashboard, 365 days, planId (raw, plan index)', 'CSV cells, 365 days', 'preference distribution']) {
    expect(result.stdout).toMatch(new RegExp(`\\| ${query.replace(/[()]/g, '\\$&')}[^|]* \\| [\\d.]+ \\| [\\d.]+ \\| [\\d.]+ \\| (yes|NO) \\|`));
  }
  expect(result.stdout).toContain('crm_analytics_daily_pkey');
  expect(result.stdout).toContain('crm_communications_plan_idx');
  // The database it made is gone.
  expect(result.stdout).not.toContain('kept database');
}, 150_000);
