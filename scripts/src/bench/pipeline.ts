import { sql, type Kysely } from 'kysely';
import type { Database } from '@crm/db';
import { sleep } from './children';
import { postClosedLoop, benchRequest, type IngestClient } from './engine';
import { Progress } from './progress';
import { rate, summarize, type Latency } from './stats';
import type { PipelineResult } from './baseline';

const finalFailures = ['failed', 'bounced', 'cancelled'];

/** Counts of a plan's communications: sent, ended otherwise, all. */
async function planCounts(db: Kysely<Database>, planId: string): Promise<{ sent: number; failed: number; total: number }> {
  const { rows } = await sql<{ sent: string; failed: string; total: string }>`
    SELECT count(*) FILTER (WHERE status = 'sent') AS sent,
           count(*) FILTER (WHERE status IN (${sql.join(finalFailures)})) AS failed,
           count(*) AS total
    FROM crm_communications WHERE plan_id = ${planId}`.execute(db);
  const row = rows[0];
  return { sent: Number(row?.sent ?? 0), failed: Number(row?.failed ?? 0), total: Number(row?.total ?? 0) };
}

interface WaitOptions {
  readonly db: Kysely<Database>;
  readonly planId: string;
  readonly n: number;
  readonly progress: Progress;
  readonly stallMs: number;
  readonly check: () => void;
  /** Rejects the wait (e.g. when posting failed); `accepted` is shown beside the bar. */
  readonly posting?: { readonly error: () => unknown; readonly accepted: () => number };
  /** Called with each poll, so that callers can count the bench's own statements. */
  readonly onPoll?: () => void;
}

/** Polls until every one of the plan's `n` messages is sent or ended otherwise; returns when that was seen. */
async function waitForFinal(options: WaitOptions): Promise<{ seenAt: number; sent: number; failed: number }> {
  const { db, planId, n, progress, stallMs, check } = options;
  let last = { done: -1, at: Date.now() };
  for (;;) {
    check();
    const error = options.posting?.error();
    if (error) throw error instanceof Error ? error : new Error(String(error));
    options.onPoll?.();
    const { sent, failed } = await planCounts(db, planId);
    const done = sent + failed;
    progress.update(sent, [options.posting ? `accepted ${options.posting.accepted()}` : '', failed ? `failed ${failed}` : ''].filter(Boolean).join(', '));
    if (done >= n) return { seenAt: Date.now(), sent, failed };
    if (done !== last.done) last = { done, at: Date.now() };
    else if (Date.now() - last.at > stallMs) throw new Error(`engine stalled: ${done}/${n} messages finished, none more in ${stallMs / 1000} s`);
    await sleep(250);
  }
}

export interface EngineRun extends PipelineResult {
  /** Messages that ended failed, bounced or cancelled (0 in a healthy run). */
  readonly failed: number;
  /** N / (all seen sent − first POST), wall clock (polled every 250 ms). */
  readonly wallClockThroughput: number;
  /** How long posting the N requests took, and the rate ingest took them at while the workers ran. */
  readonly posting: { readonly seconds: number; readonly requestsPerSecond: number; readonly latencyMs: Latency };
}

/**
 * (b) The engine's main run: N requests posted over `concurrency` connections as fast as ingest
 * takes them, while the workers drain; done when every row is `sent`.
 */
export async function runEngineMain(options: {
  db: Kysely<Database>;
  client: IngestClient;
  n: number;
  concurrency: number;
  stallMs: number;
  check: () => void;
  planId?: string;
  label?: string;
  onPoll?: () => void;
}): Promise<EngineRun> {
  const { db, client, n } = options;
  const planId = options.planId ?? 'bench-main';
  const progress = new Progress(options.label ?? 'engine (4 processes)', n);
  let accepted = 0;
  let postingError: unknown;
  const firstPost = Date.now();
  const posting = postClosedLoop(client, {
    count: n,
    concurrency: options.concurrency,
    body: (i) => benchRequest(planId, i),
    onAccepted: (count) => (accepted = count),
  }).catch((error: unknown) => {
    postingError = error;
    return undefined;
  });
  let final;
  try {
    final = await waitForFinal({ db, planId, n, progress, stallMs: options.stallMs, check: options.check, posting: { error: () => postingError, accepted: () => accepted }, ...(options.onPoll && { onPoll: options.onPoll }) });
  } finally {
    progress.stop();
  }
  const posted = await posting;
  if (!posted) throw postingError instanceof Error ? postingError : new Error(String(postingError));

  const { rows } = await sql<{ created: string; sent: string }>`
    SELECT extract(epoch FROM created_at) * 1000 AS created, extract(epoch FROM sent_at) * 1000 AS sent
    FROM crm_communications WHERE plan_id = ${planId} AND status = 'sent'`.execute(db);
  const created = rows.map((row) => Number(row.created));
  const sent = rows.map((row) => Number(row.sent));
  const firstCreated = Math.min(...created);
  const lastSent = Math.max(...sent);
  return {
    n,
    failed: final.failed,
    throughput: rate(rows.length, lastSent - firstCreated),
    throughputMethod: 'sent messages / (last sent_at − first created_at), from crm_communications',
    wallClockThroughput: rate(n, final.seenAt - firstPost),
    latencyMs: summarize(rows.map((_, i) => (sent[i] ?? NaN) - (created[i] ?? NaN))),
    latencyMethod: 'created_at → sent_at of each row (timestamptz(3))',
    posting: { seconds: Math.round(posted.ms / 100) / 10, requestsPerSecond: rate(n, posted.ms), latencyMs: summarize(posted.latencies) },
  };
}

export interface LatencyAtLoad {
  readonly offeredRate: number;
  readonly n: number;
  /** The rate requests actually went out at (lower if the bench could not keep up). */
  readonly achievedRate: number;
  /** n / (last request answered − first sent): below the offered rate when ingest could not keep up (requests then wait for a connection, before created_at). */
  readonly acceptedRate: number;
  readonly failed: number;
  /** created_at → created_at of the `attempt_started` delivery log (just before the SMTP call). */
  readonly acceptToProviderCallMs: Latency;
  readonly acceptToSentMs: Latency;
  /** Round trip of the POST, client side (includes waiting for a free connection). */
  readonly ingestLatencyMs: Latency;
}

/**
 * Latency at a steady offered load: `n` requests at `offeredRate` per second on a fixed
 * schedule (open loop: a request goes out on time whether or not the earlier ones were answered).
 */
export async function runLatencyAtLoad(options: { db: Kysely<Database>; client: IngestClient; offeredRate: number; n: number; stallMs: number; check: () => void }): Promise<LatencyAtLoad> {
  const { db, client, n, offeredRate } = options;
  const planId = 'bench-latency';
  const progress = new Progress(`latency at ${offeredRate} msg/s`, n);
  const ingestLatencies: number[] = [];
  let postingError: unknown;
  const inFlight: Promise<void>[] = [];
  const started = performance.now();
  let lastOut = started;
  try {
    for (let i = 0; i < n && !postingError; i++) {
      const wait = started + (i * 1000) / offeredRate - performance.now();
      if (wait > 1) await sleep(wait);
      lastOut = performance.now();
      inFlight.push(
        client.send(benchRequest(planId, i)).then(
          (ms) => void ingestLatencies.push(ms),
          (error: unknown) => void (postingError ??= error),
        ),
      );
      if (i % 200 === 0) {
        options.check();
        progress.update(0, `posted ${i}`);
      }
    }
    await Promise.all(inFlight);
    const lastAnswer = performance.now();
    if (postingError) throw postingError instanceof Error ? postingError : new Error(String(postingError));
    const final = await waitForFinal({ db, planId, n, progress, stallMs: options.stallMs, check: options.check });
    const { rows } = await sql<{ created: string; sent: string; started: string | null }>`
      SELECT extract(epoch FROM c.created_at) * 1000 AS created, extract(epoch FROM c.sent_at) * 1000 AS sent,
             (SELECT extract(epoch FROM min(l.created_at)) * 1000 FROM crm_delivery_logs l
               WHERE l.communication_id = c.id AND l.event = 'attempt_started') AS started
      FROM crm_communications c WHERE c.plan_id = ${planId} AND c.status = 'sent'`.execute(db);
    return {
      offeredRate,
      n,
      achievedRate: rate(n, lastOut - started),
      acceptedRate: rate(n, lastAnswer - started),
      failed: final.failed,
      acceptToProviderCallMs: summarize(rows.filter((row) => row.started !== null).map((row) => Number(row.started) - Number(row.created))),
      acceptToSentMs: summarize(rows.map((row) => Number(row.sent) - Number(row.created))),
      ingestLatencyMs: summarize(ingestLatencies),
    };
  } finally {
    progress.stop();
  }
}
