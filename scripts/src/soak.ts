/**
 * `npm run soak`: the whole engine as separate processes (sandbox, ingest, strategy, email,
 * messaging, analytics and callback workers, started as the bench starts them) takes --rate messages/s through the API for
 * --minutes, while each process's RSS (/proc) and used heap (/metrics) and Redis `used_memory`
 * are sampled every --sample-seconds. Reports the first-third and last-third averages of each
 * (flat within 10 %), the backlog over time, the queue depths when sending stops and the time to
 * drain. `--doc` writes the soak section of docs/reliability.md. `npm run soak -- --help`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { sql } from 'kysely';
import { queueNames } from '@crm/queue';
import { sleep } from './bench/children';
import { createApiKey } from './bench/engine';
import { createBenchDatabase, createBenchPrefix, durability, machine, usedMemory, type Durability, type Machine } from './bench/infra';
import { round } from './bench/stats';
import { runMain, say, warn } from './load/cli';
import { fmt, mib, writeDocSection } from './load/doc';
import { parseSoakOptions, soakUsage, type SoakOptions } from './load/options';
import { engineServices, LoadEngine, processMemory, type EngineService, type ProcessMemory } from './load/processes';
import { runStep, type RateStep } from './load/ramp';
import { requestBodies } from './load/requests';
import { drift, flatTolerancePercent, type Drift } from './load/soak-stats';

const root = resolve(__dirname, '..', '..');

/**
 * Settings of the run beyond the bench's (quiet hours and send windows off). The API limiter
 * counts but never refuses; the account-wide SMS and WhatsApp limits (defaults 10/s and 80/s,
 * a standard Twilio long code and Meta's default tier) are raised so that the SMS and WhatsApp
 * shares of the rate go through instead of waiting by design; SMS frequency caps per client are
 * off because the run's clients get many messages each.
 */
const runSettings = {
  API_RATE_LIMIT: '9999/1s',
  TWILIO_RATE_LIMIT: '2000/1s',
  WHATSAPP_RATE_LIMIT: '2000/1s',
  FREQUENCY_CAP_SMS: 'off',
} as const;

const mix = { pool: 20_000, smsShare: 0.15, whatsappShare: 0.15 };
const nonFinal = ['pending', 'scheduled', 'queued', 'sending'] as const;

/** One sample of the run. */
export interface SoakSample {
  /** Seconds since sending began. */
  readonly t: number;
  readonly phase: 'sending' | 'draining';
  readonly processes: Record<EngineService, ProcessMemory>;
  readonly redisUsedMemoryBytes: number | null;
  /** Jobs not yet done per queue (wait + active + delayed + prioritized + paused). */
  readonly queues: Record<string, number>;
}

export interface SoakReport {
  readonly version: 1;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly options: SoakOptions;
  readonly machine: Machine;
  readonly durability: Durability;
  readonly setup: { readonly processes: readonly EngineService[]; readonly redis: string; readonly settings: Record<string, string>; readonly mix: typeof mix };
  /** What autocannon offered and ingest answered. */
  readonly ingest: RateStep;
  /** Communications by status when the run ended. */
  readonly statuses: Record<string, number>;
  /** Messages sent (sent_at set) during the sending phase, per second of it. */
  readonly sentRatePerSecond: number;
  /** True when ingest took ≥ 95 % of the rate without errors, the workers sent ≥ 90 % of what it took while sending, and the backlog stayed bounded. */
  readonly sustained: boolean;
  readonly memory: { readonly processes: Record<EngineService, { readonly rss: Drift; readonly heapUsed: Drift }>; readonly redisUsedMemory: Drift; readonly flat: boolean };
  readonly backlog: {
    /** Jobs not done, summed over the queues: first and last third of the sending phase, and the highest. */
    readonly drift: Drift;
    readonly max: number;
    readonly atEndOfSending: { readonly queues: Record<string, number>; readonly communicationsNotFinal: number };
    /** Seconds from the end of sending until no communication was left unfinished and every queue was empty (null: not within the timeout). */
    readonly drainSeconds: number | null;
    readonly bounded: boolean;
  };
  readonly samples: readonly SoakSample[];
}

const pct = (d: Drift) => (d.growthPercent === null ? '–' : `${d.growthPercent > 0 ? '+' : ''}${fmt(d.growthPercent, 1)} %`);

/** The report as markdown (printed, and the soak section of docs/reliability.md). */
export function soakMarkdown(report: SoakReport): string {
  const { options: o, machine: m, memory, backlog } = report;
  const rows = engineServices.map((service) => {
    const { rss, heapUsed } = memory.processes[service];
    return `| ${service} | ${mib(rss.firstThird)} → ${mib(rss.lastThird)} | ${pct(rss)} | ${mib(heapUsed.firstThird)} → ${mib(heapUsed.lastThird)} | ${pct(heapUsed)} |`;
  });
  const r = memory.redisUsedMemory;
  const queues = Object.entries(backlog.atEndOfSending.queues).filter(([, count]) => count > 0).map(([queue, count]) => `${queue} ${fmt(count)}`).join(', ') || 'all empty';
  const lines = [
    `Run of ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC: \`npm run soak -- --minutes ${round(o.seconds / 60, 2)} --rate ${o.rate}\`, every ${o.sampleSeconds} s a sample.`,
    '',
    `| figure | value |`,
    '|---|---|',
    `| offered through the API | ${fmt(o.rate)} messages/s for ${fmt(o.seconds)} s |`,
    `| ingest answered | ${fmt(report.ingest.achievedRate, 1)} requests/s, p50 ${fmt(report.ingest.latencyMs.p50)} ms, p99 ${fmt(report.ingest.latencyMs.p99)} ms, ${report.ingest.errors} errors, ${report.ingest.non2xx} non-2xx |`,
    `| sent by the workers while sending | ${fmt(report.sentRatePerSecond, 1)} messages/s |`,
    `| rate sustained | ${report.sustained ? 'yes' : `**no**: this machine sustains about ${fmt(Math.min(report.sentRatePerSecond, report.ingest.achievedRate))} messages/s`} |`,
    `| backlog (jobs not done), first → last third | ${fmt(backlog.drift.firstThird)} → ${fmt(backlog.drift.lastThird)} (highest ${fmt(backlog.max)}) |`,
    `| when sending stopped | queues: ${queues}; ${fmt(backlog.atEndOfSending.communicationsNotFinal)} communications not yet sent |`,
    `| time to drain | ${backlog.drainSeconds === null ? `not drained within ${o.drainTimeoutSeconds} s` : `${fmt(backlog.drainSeconds, 1)} s`} |`,
    `| backlog bounded | ${backlog.bounded ? 'yes' : '**no**'} |`,
    `| communications at the end | ${Object.entries(report.statuses).map(([status, count]) => `${status} ${fmt(count)}`).join(', ')} |`,
    '',
    `Memory, average of the first third of the samples → of the last third (flat: within ±${flatTolerancePercent} %):`,
    '',
    '| process | RSS | growth | heap used | growth |',
    '|---|---|---|---|---|',
    ...rows,
    `| Redis used_memory | ${mib(r.firstThird)} → ${mib(r.lastThird)} | ${pct(r)} | | |`,
    '',
    `Within the last third alone (first → last sample of it): Redis used_memory ${r.lastThirdGrowthPercent === null ? '–' : `${fmt(r.lastThirdGrowthPercent, 1)} %`}; ` +
      engineServices.map((service) => `${service} RSS ${fmt(memory.processes[service].rss.lastThirdGrowthPercent, 1)} %`).join(', ') +
      '. The queues keep completed jobs (removeOnComplete: 24 h or 100,000 per queue, so that a re-enqueue within a day finds them), so Redis grows with every message sent until each queue holds 100,000, then levels off.',
    '',
    `Setup: ${report.setup.processes.join(', ')}, each its own process (\`node services/<name>/dist/main.js\`), on a fresh database; ${report.setup.redis}. ` +
      `Requests to ${fmt(mix.pool)} clients (${mix.smsShare * 100} % by SMS, ${mix.whatsappShare * 100} % by WhatsApp, the rest by email, contact details inline, 20 % urgency high), ` +
      `settings: ${Object.entries(report.setup.settings).map(([name, value]) => `\`${name}=${value}\``).join(', ')}, quiet hours and send windows off; the sandbox posts signed status callbacks to ingest. ` +
      'RSS from /proc/<pid>/status (VmRSS), heap from each process\'s /metrics (nodejs_heap_size_used_bytes).',
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}, load ${m.loadAverage} at the start.`,
  ];
  return lines.join('\n');
}

runMain('soak', async ({ baseUrl, redisUrl, redis, ownRedis, cleanup, path }) => {
  const options = parseSoakOptions(process.argv.slice(2));
  if (options === 'help') {
    say(soakUsage);
    return 0;
  }
  const startedAt = new Date().toISOString();
  const info = { machine: machine(), durability: await durability(baseUrl, redis) };
  const m = info.machine;
  say(`crm-engine soak: ${options.rate} messages/s for ${options.seconds} s, a sample every ${options.sampleSeconds} s`);
  say(`machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}, load ${m.loadAverage}`);

  const db = await createBenchDatabase(baseUrl, 'soak', cleanup);
  const { prefix } = createBenchPrefix(redis, 'soak', cleanup);
  const apiKey = await createApiKey(db.db);
  const settings: Record<string, string> = { ...runSettings, ...(options.workerConcurrency !== undefined && { WORKER_CONCURRENCY: String(options.workerConcurrency) }) };
  const engine = await LoadEngine.create({ root, baseEnv: { PATH: path, ...settings }, databaseUrl: db.url, redisUrl, prefix });
  cleanup.add('stopping the engine', () => engine.stop());
  await engine.start(engineServices);
  warn(`soak: started ${engineServices.map((service) => `${service} ${engine.pid(service) ?? '?'}`).join(', ')}; database ${db.name}, queue prefix ${prefix}`);
  const queues = queueNames.map((name) => new Queue(name, { connection: redis, prefix }));
  cleanup.add('closing the queues', () => Promise.all(queues.map((queue) => queue.close())));

  const depths = async (): Promise<Record<string, number>> => {
    const counts = await Promise.all(queues.map(async (queue) => [queue.name, Object.values(await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'paused')).reduce((sum, n) => sum + n, 0)] as const));
    return Object.fromEntries(counts);
  };
  const notFinal = async (): Promise<number> => {
    const row = await db.db.selectFrom('crm_communications').select((eb) => eb.fn.countAll<string>().as('n')).where('status', 'in', [...nonFinal]).executeTakeFirst();
    return Number(row?.n ?? 0);
  };
  const samples: SoakSample[] = [];
  let began = 0;
  let phase: SoakSample['phase'] = 'sending';
  const sample = async () => {
    const t = round((performance.now() - began) / 1000, 1);
    const memories = await Promise.all(engineServices.map(async (service) => [service, await processMemory(engine.pid(service) ?? -1, engine.metricsUrl(service))] as const));
    const [used, queueDepths] = await Promise.all([usedMemory(redis).catch(() => null), depths()]);
    const taken: SoakSample = { t, phase, processes: Object.fromEntries(memories) as Record<EngineService, ProcessMemory>, redisUsedMemoryBytes: used, queues: queueDepths };
    samples.push(taken);
    const backlog = Object.values(queueDepths).reduce((sum, n) => sum + n, 0);
    warn(`  t=${t}s ${phase}: backlog ${backlog} jobs, Redis ${mib(used)}, RSS ${engineServices.map((s) => `${s} ${mib(taken.processes[s].rssBytes)}`).join(', ')}`);
  };
  let sampling = true;
  let sampler: Promise<void> = Promise.resolve();
  const startSampler = () => {
    sampler = (async () => {
      let next = performance.now();
      while (sampling) {
        await sample().catch((error: unknown) => warn(`  sample failed: ${error instanceof Error ? error.message : String(error)}`));
        next += options.sampleSeconds * 1000;
        while (sampling && performance.now() < next) await sleep(Math.min(250, next - performance.now()));
      }
    })();
  };

  let sequence = 0;
  const body = requestBodies(randomBytes(3).toString('hex'), mix);
  const target = { url: engine.ingestUrl, path: '/api/crm/communications', headers: { authorization: `Bearer ${apiKey}` }, body };
  began = performance.now();
  const sendStartedAt = new Date();
  startSampler();
  const ingest = await runStep(target, { rate: options.rate, seconds: options.seconds, connections: options.connections, next: () => sequence++ });
  const sendEndedAt = new Date();
  engine.check();
  const sendingSamples = samples.length;
  const atEnd = { queues: await depths(), communicationsNotFinal: await notFinal() };
  phase = 'draining';
  say(`sending done: ${ingest.achievedRate}/s answered, p99 ${ingest.latencyMs.p99} ms, ${ingest.errors} errors, ${ingest.non2xx} non-2xx; ${atEnd.communicationsNotFinal} communications not yet sent; draining…`);

  const drainStarted = performance.now();
  let drainSeconds: number | null = null;
  while ((performance.now() - drainStarted) / 1000 < options.drainTimeoutSeconds) {
    engine.check();
    const backlog = Object.values(await depths()).reduce((sum, n) => sum + n, 0);
    if (backlog === 0 && (await notFinal()) === 0) {
      drainSeconds = round((performance.now() - drainStarted) / 1000, 1);
      break;
    }
    await sleep(500);
  }
  sampling = false;
  await sampler;

  const { rows: statusRows } = await sql<{ status: string; n: string }>`SELECT status, count(*) AS n FROM crm_communications GROUP BY status ORDER BY status`.execute(db.db);
  const statuses = Object.fromEntries(statusRows.map((row) => [row.status, Number(row.n)]));
  const sentRow = await db.db.selectFrom('crm_communications').select((eb) => eb.fn.countAll<string>().as('n')).where('sent_at', '>=', sendStartedAt).where('sent_at', '<=', sendEndedAt).executeTakeFirst();
  const sentRatePerSecond = round(Number(sentRow?.n ?? 0) / ((sendEndedAt.getTime() - sendStartedAt.getTime()) / 1000), 1);

  const during = samples.slice(0, sendingSamples);
  const processes = Object.fromEntries(
    engineServices.map((service) => [service, { rss: drift(during.map((s) => s.processes[service].rssBytes)), heapUsed: drift(during.map((s) => s.processes[service].heapUsedBytes)) }]),
  ) as SoakReport['memory']['processes'];
  const redisUsedMemory = drift(during.map((s) => s.redisUsedMemoryBytes));
  const backlogs = during.map((s) => Object.values(s.queues).reduce((sum, n) => sum + n, 0));
  const backlogDrift = drift(backlogs);
  const flat = [...Object.values(processes).flatMap((p) => [p.rss, p.heapUsed]), redisUsedMemory].every((d) => d.flat !== false);
  // Bounded: the backlog did not keep growing (its last third within the rate × 10 s of its first, or
  // below that altogether) and it drained.
  const slack = options.rate * 10;
  const bounded = drainSeconds !== null && (backlogDrift.lastThird === null || backlogDrift.firstThird === null || backlogDrift.lastThird <= Math.max(slack, backlogDrift.firstThird * (1 + flatTolerancePercent / 100) + slack));
  const sustained = ingest.errors === 0 && ingest.non2xx === 0 && ingest.achievedRate >= options.rate * 0.95 && sentRatePerSecond >= ingest.achievedRate * 0.9 && bounded;

  const report: SoakReport = {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    options,
    ...info,
    setup: { processes: engineServices, redis: ownRedis ? "a redis-server of the run's own (no persistence, as the shared one), so used_memory is the run's alone" : 'the Redis of REDIS_URL (used_memory includes other clients)', settings, mix },
    ingest,
    statuses,
    sentRatePerSecond,
    sustained,
    memory: { processes, redisUsedMemory, flat },
    backlog: { drift: backlogDrift, max: Math.max(0, ...backlogs), atEndOfSending: atEnd, drainSeconds, bounded },
    samples,
  };
  const stamp = startedAt.replace(/[:.]/g, '-');
  const reportPath = resolve(options.report ?? join(root, 'reports', `soak-${stamp}.json`));
  mkdirSync(dirname(reportPath), { recursive: true });
  writeFileSync(reportPath, `${JSON.stringify(report, null, 2)}\n`);
  const markdown = soakMarkdown(report);
  say('');
  say(markdown);
  say('');
  if (options.doc) {
    writeDocSection(join(root, 'docs', 'reliability.md'), 'soak', markdown);
    say('docs/reliability.md: soak section written');
  }
  say(`report: ${reportPath}`);
  return 0;
});
