/**
 * `npm run load`: ingest's highest rate held for 60 s with p99 < 100 ms and no error, against a
 * bare Fastify route in the same run (see docs/reliability.md, "Load").
 *
 *   engine:   autocannon → POST /api/crm/communications → ingest (child process; auth, rate
 *             limiter, validation, PostgreSQL row + outbox, BullMQ job); no worker consumes
 *   baseline: autocannon → POST /api/crm/communications → bare Fastify (child process; parses
 *             JSON, answers 202)
 *
 * Each at rising offered rates (autocannon `overallRate`) from --start by --step until p99 ≥
 * 100 ms, an error, a non-2xx answer or an offered rate not reached; then the highest passing rate
 * is held for --hold-seconds. Prints both, the ratio and the machine; writes the JSON report;
 * `--doc` writes the load section of docs/reliability.md. `npm run load -- --help` for options.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ChildGroup, freePort, waitUntil } from './bench/children';
import { createBenchDatabase, createBenchPrefix, durability, machine, type Durability, type Machine } from './bench/infra';
import { createApiKey } from './bench/engine';
import { round } from './bench/stats';
import { runMain, say, warn } from './load/cli';
import { fmt, writeDocSection } from './load/doc';
import { loadUsage, parseLoadOptions, type LoadOptions } from './load/options';
import { LoadEngine } from './load/processes';
import { criteria, perConnectionRate, ramp, type RampResult, type RateStep } from './load/ramp';
import { requestBodies } from './load/requests';

const root = resolve(__dirname, '..', '..');

/** The API rate limit during the run: the limiter still counts every request, but never refuses one. */
const API_RATE_LIMIT = '9999/1s';

export interface LoadReport {
  readonly version: 1;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly options: LoadOptions;
  readonly machine: Machine;
  readonly durability: Durability;
  readonly criteria: typeof criteria;
  readonly setup: { readonly workers: string; readonly redis: string; readonly apiRateLimit: string; readonly clients: number };
  readonly engine: RampResult;
  readonly baseline: RampResult;
  /** engine held rate / baseline held rate (null when either held none). */
  readonly ratio: number | null;
}

const ms = (value: number) => fmt(value, value < 10 ? 1 : 0);

function stepRow(name: string, step: RateStep): string {
  return `| ${name} | ${fmt(step.rate)} | ${fmt(step.achievedRate)} | ${ms(step.latencyMs.p50)} | ${ms(step.latencyMs.p99)} | ${ms(step.latencyMs.max)} | ${step.errors} | ${step.non2xx} | ${step.passed ? 'pass' : `fail: ${step.failure ?? ''}`} |`;
}

function heldText(result: RampResult, options: LoadOptions): string {
  if (result.heldRate === null) return `no rate held (the start rate ${options.start}/s already failed)`;
  const hold = result.holds.find((h) => h.passed);
  const beyond = result.reachedMax ? ` (every step up to --max ${fmt(options.max)}/s passed: the limit lies beyond)` : '';
  return `${fmt(result.heldRate)} requests/s for ${hold?.seconds ?? '?'} s: p50 ${ms(hold?.latencyMs.p50 ?? NaN)} ms, p99 ${ms(hold?.latencyMs.p99 ?? NaN)} ms, max ${ms(hold?.latencyMs.max ?? NaN)} ms, 0 errors, 0 non-2xx${beyond}`;
}

/** The report as markdown (printed, and the load section of docs/reliability.md). */
export function loadMarkdown(report: LoadReport): string {
  const { options: o, machine: m, durability: d } = report;
  const lines = [
    `Run of ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC: \`npm run load\` (start ${o.start}/s, step ${o.step}/s, ${o.stepSeconds} s per step, hold ${o.holdSeconds} s, max ${fmt(o.max)}/s, one keep-alive connection per ${perConnectionRate} requests/s offered and at most ${o.connections}, ${o.warmupSeconds} s warm-up at the start rate before each ramp).`,
    '',
    '| target | highest rate held with p99 < 100 ms, no errors |',
    '|---|---|',
    `| ingest, \`POST /api/crm/communications\` | ${heldText(report.engine, o)} |`,
    `| bare Fastify route (parse JSON, 202) | ${heldText(report.baseline, o)} |`,
    `| ratio ingest / bare | ${report.ratio === null ? '–' : `${fmt(report.ratio * 100, 1)} %${report.baseline.reachedMax ? ' (at most: the bare route was not pushed to its limit)' : ''}`} |`,
    '',
    'Every step (offered = autocannon `overallRate`; answered = 2xx answers / duration; latency = round trip in ms):',
    '',
    '| target | offered /s | answered /s | p50 | p99 | max | errors | non-2xx | verdict |',
    '|---|---|---|---|---|---|---|---|---|',
    ...report.engine.steps.map((step) => stepRow('ingest', step)),
    ...report.engine.holds.map((step) => stepRow(`ingest, hold ${step.seconds} s`, step)),
    ...report.baseline.steps.map((step) => stepRow('bare', step)),
    ...report.baseline.holds.map((step) => stepRow(`bare, hold ${step.seconds} s`, step)),
    '',
    `Setup: ${report.setup.workers}; ${report.setup.redis}; \`API_RATE_LIMIT=${report.setup.apiRateLimit}\` (the limiter counts every request in Redis but refuses none); ` +
      `requests to ${fmt(report.setup.clients)} clients with their contact details inline, a unique idempotency key each, 20 % urgency high. ` +
      'A step passes when p99 < 100 ms, no connection error or timeout, no answer other than 2xx, and at least 95 % of the offered rate answered. ' +
      'autocannon sends each connection\'s share of a second back to back and then waits for the next second, so the load comes in bursts at the top of each second; latencies are as measured (no coordinated-omission correction: a target that cannot keep up fails on the rate instead). ' +
      'autocannon, ingest, PostgreSQL and Redis share the machine.',
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}, load ${m.loadAverage} at the start. ` +
      `PostgreSQL ${d.postgres.version.split(' ')[0]} synchronous_commit=${d.postgres.synchronous_commit}, fsync=${d.postgres.fsync}; Redis ${d.redis.version} appendonly=${d.redis.appendonly}.`,
  ];
  return lines.join('\n');
}

runMain('load', async ({ baseUrl, redisUrl, redis, ownRedis, cleanup, path }) => {
  const options = parseLoadOptions(process.argv.slice(2));
  if (options === 'help') {
    say(loadUsage);
    return 0;
  }
  const startedAt = new Date().toISOString();
  const info = { machine: machine(), durability: await durability(baseUrl, redis) };
  const m = info.machine;
  say(`crm-engine load: ingest vs a bare Fastify route, start ${options.start}/s, step ${options.step}/s, ${options.stepSeconds} s per step, hold ${options.holdSeconds} s, max ${options.max}/s`);
  say(`machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}, load ${m.loadAverage}`);
  const run = randomBytes(3).toString('hex');
  const clients = 5000;
  const body = requestBodies(run, { pool: clients, smsShare: 0.2, whatsappShare: 0.2 });
  const rampOptions = { ...options };

  // (a) ingest alone: its own database and queue prefix; no worker runs, so the jobs it adds
  // wait in crm.requests and nothing competes with it for the CPU.
  const db = await createBenchDatabase(baseUrl, 'load', cleanup);
  const { prefix } = createBenchPrefix(redis, 'load', cleanup);
  const apiKey = await createApiKey(db.db);
  const engine = await LoadEngine.create({ root, baseEnv: { PATH: path, API_RATE_LIMIT }, databaseUrl: db.url, redisUrl, prefix });
  const stopEngine = cleanup.add('stopping ingest', () => engine.stop());
  await engine.start(['ingest']);
  warn(`ingest: pid ${engine.pid('ingest') ?? '?'}, database ${db.name}, queue prefix ${prefix}`);
  say('ingest:');
  const engineResult = await ramp({ url: engine.ingestUrl, path: '/api/crm/communications', headers: { authorization: `Bearer ${apiKey}` }, body }, rampOptions, say, () => engine.check());
  await stopEngine();
  await db.drop();

  // (b) the bare Fastify route, the same ramp.
  const bare = new ChildGroup();
  const stopBare = cleanup.add('stopping the bare server', () => bare.stop());
  const port = await freePort();
  const server = bare.start('bare-server', join(__dirname, 'load', 'bare-server.js'), { env: { PATH: path, PORT: String(port), NODE_ENV: 'production' } });
  const bareUrl = `http://127.0.0.1:${port}`;
  await waitUntil(async () => (await fetch(`${bareUrl}/api/crm/communications`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(0) })).status === 202, { what: 'the bare server', check: () => server.check() });
  warn(`bare server: pid ${server.process.pid ?? '?'}`);
  say('bare Fastify route:');
  const baselineResult = await ramp({ url: bareUrl, path: '/api/crm/communications', headers: {}, body }, rampOptions, say, () => server.check());
  await stopBare();

  const ratio = engineResult.heldRate !== null && baselineResult.heldRate !== null ? round(engineResult.heldRate / baselineResult.heldRate, 3) : null;
  const report: LoadReport = {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    options,
    ...info,
    criteria,
    setup: {
      workers: 'ingest alone (no worker consumes: its jobs wait in crm.requests)',
      redis: ownRedis ? 'a redis-server of the run\'s own (no persistence, as the shared one)' : `the Redis of REDIS_URL`,
      apiRateLimit: API_RATE_LIMIT,
      clients,
    },
    engine: engineResult,
    baseline: baselineResult,
    ratio,
  };
  const stamp = startedAt.replace(/[:.]/g, '-');
  const reportPath = resolve(options.report ?? join(root, 'reports', `load-${stamp}.json`));
  mkdirSync(dirname(reportPath), { recursive: true });
  writeFileSync(reportPath, `${JSON.stringify(report, null, 2)}\n`);
  const markdown = loadMarkdown(report);
  say('');
  say(markdown);
  say('');
  if (options.doc) {
    writeDocSection(join(root, 'docs', 'reliability.md'), 'load', markdown);
    say('docs/reliability.md: load section written');
  }
  say(`report: ${reportPath}`);
  return 0;
});
