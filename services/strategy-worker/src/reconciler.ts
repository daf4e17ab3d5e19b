import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { sql, type Kysely } from 'kysely';
import { enqueueExpected, expectedJobFor, type ExpectedJob } from '@crm/delivery';
import { findInFlight, findUnchanged, type Database, type InFlightRow } from '@crm/db';
import type { Logger } from '@crm/observability';
import type { QueueProducer } from '@crm/queue';

export interface ReconcilerOptions {
  readonly db: Kysely<Database>;
  readonly producer: QueueProducer;
  readonly logger: Logger;
  /** Time between passes, in ms. */
  readonly intervalMs: number;
  /**
   * Rows changed more recently than this are left alone: they are most likely between their
   * commit and their enqueue right now. @defaultValue 5000
   */
  readonly graceMs?: number;
  /** Rows checked per page. @defaultValue 500 */
  readonly pageSize?: number;
  /** Pages per pass; a larger backlog is covered over several passes. @defaultValue 20 */
  readonly maxPagesPerPass?: number;
  /** The strategy's clock (delays of scheduled rows are measured on it). @defaultValue `() => new Date()` */
  readonly clock?: () => Date;
}

export interface ReconcilePass {
  /** In-flight rows looked at. */
  readonly checked: number;
  /** Jobs added back (missing from Redis). */
  readonly enqueued: number;
  /** Failed jobs whose row still waits for them, retried. */
  readonly retried: number;
  /** Finished jobs whose row still waits for them, replaced. */
  readonly replaced: number;
}

export interface Reconciler {
  /** One pass over the in-flight rows (also what the loop runs). */
  runOnce(): Promise<ReconcilePass>;
  /** Whether this process holds the leader lock now. */
  isLeader(): boolean;
  /** Ends the loop and releases the lock. */
  stop(): Promise<void>;
}

/** PostgreSQL advisory lock key of the reconciler leader: one active reconciler per database. */
const LEADER_LOCK = sql`hashtext('crm-engine:reconciler')`;

/**
 * The outbox's other half. Every row that is due, not final and not yet with a provider must
 * have a job in Redis; this finds the ones that do not and adds it, with the job id derived
 * from the row (so a job that exists is never doubled). It covers a crash between a commit and
 * the enqueue after it, a job that failed for good while its row still waits (e.g. the database
 * was down for all of its retries), and a Redis that was flushed or restarted empty.
 *
 * Many replicas may run it; only the one holding a PostgreSQL advisory lock (on a connection it
 * keeps for that purpose) works, and another takes over within one interval if it dies, since
 * PostgreSQL releases the lock with the connection.
 *
 * @example
 * const reconciler = startReconciler({ db, producer, logger, intervalMs: 10_000 });
 * await reconciler.stop();
 */
export function startReconciler(options: ReconcilerOptions): Reconciler {
  const { db, producer, intervalMs, graceMs = 5_000, pageSize = 500, maxPagesPerPass = 20, clock = () => new Date() } = options;
  const log = options.logger.child({ component: 'reconciler' });
  const stopController = new AbortController();
  let leader = false;
  let cursor: { updatedAt: Date; id: string } | undefined;

  /**
   * Whether each job exists and has finished, for a page of rows in one pipelined round trip
   * (EXISTS and HGET finishedOn on the job hashes): the rows whose job is there and not finished
   * (waiting, delayed, active), nearly all of them, cost nothing more.
   */
  const probe = async (jobs: readonly ExpectedJob[]): Promise<{ exists: boolean; finished: boolean }[]> => {
    if (jobs.length === 0) return [];
    // BullMQ's client is the ioredis connection the producer was given.
    const client = (await producer.queue(jobs[0]!.queue).client) as unknown as Redis;
    const pipeline = client.pipeline();
    for (const job of jobs) {
      const key = producer.queue(job.queue).toKey(job.jobId);
      pipeline.exists(key);
      pipeline.hget(key, 'finishedOn');
    }
    const replies = (await pipeline.exec()) ?? [];
    return jobs.map((_, index) => ({ exists: replies[2 * index]?.[1] === 1, finished: typeof replies[2 * index + 1]?.[1] === 'string' }));
  };

  const reconcileRow = async (row: InFlightRow, job: ExpectedJob, tally: { enqueued: number; retried: number; replaced: number }) => {
    const queue = producer.queue(job.queue);
    const state = await queue.getJobState(job.jobId);
    if (state === 'unknown') {
      await enqueueExpected(producer, job);
      tally.enqueued++;
      log.info({ communicationId: row.id, status: row.status, queue: job.queue, jobId: job.jobId }, 'job was missing; enqueued again');
    } else if (state === 'failed') {
      await (await queue.getJob(job.jobId))?.retry('failed');
      tally.retried++;
      log.warn({ communicationId: row.id, status: row.status, queue: job.queue, jobId: job.jobId }, 'job had failed for good while its row still waits; retried');
    } else if (state === 'completed') {
      await queue.remove(job.jobId);
      await enqueueExpected(producer, job);
      tally.replaced++;
      log.warn({ communicationId: row.id, status: row.status, queue: job.queue, jobId: job.jobId }, 'job had completed while its row still waits; replaced');
    }
  };

  const runOnce = async (): Promise<ReconcilePass> => {
    const tally = { enqueued: 0, retried: 0, replaced: 0 };
    let checked = 0;
    const unchangedSince = new Date(Date.now() - graceMs);
    for (let page = 0; page < maxPagesPerPass; page++) {
      const rows = await findInFlight(db, { unchangedSince, limit: pageSize, ...(cursor && { after: cursor }) });
      const now = clock();
      const pairs = rows.flatMap((row) => {
        const job = expectedJobFor(row, now);
        return job ? [{ row, job }] : [];
      });
      const probes = await probe(pairs.map((pair) => pair.job));
      const suspects = pairs.filter((_, index) => !(probes[index]?.exists && !probes[index]?.finished));
      // The rows were read before the jobs were probed: a worker may have moved a row on in
      // between (its job finished because it did its work). Act only on rows that are still
      // exactly as read.
      const unchanged = new Set(
        (await findUnchanged(db, suspects.map(({ row }) => ({ id: row.id, updatedAt: row.updated_at })))),
      );
      await Promise.all(suspects.filter(({ row }) => unchanged.has(row.id)).map(({ row, job }) => reconcileRow(row, job, tally)));
      checked += rows.length;
      const last = rows.at(-1);
      cursor = rows.length === pageSize && last ? { updatedAt: last.updated_at, id: last.id } : undefined;
      if (!cursor) break;
    }
    if (tally.enqueued + tally.retried + tally.replaced > 0) log.info({ checked, ...tally }, 'reconciled');
    return { checked, ...tally };
  };

  const loop = async () => {
    while (!stopController.signal.aborted) {
      try {
        await db.connection().execute(async (connection) => {
          try {
            while (!stopController.signal.aborted) {
              if (!leader) {
                const { rows } = await sql<{ locked: boolean }>`SELECT pg_try_advisory_lock(${LEADER_LOCK}) AS locked`.execute(connection);
                leader = rows[0]?.locked === true;
                if (leader) log.info('reconciler leader: this process');
              }
              if (leader) await runOnce();
              await sleep(intervalMs, undefined, { signal: stopController.signal }).catch(() => undefined);
            }
          } finally {
            if (leader) await sql`SELECT pg_advisory_unlock(${LEADER_LOCK})`.execute(connection).catch(() => undefined);
            leader = false;
          }
        });
      } catch (error) {
        leader = false;
        log.warn({ err: { name: (error as Error).name, message: (error as Error).message } }, 'reconciler pass failed; trying again');
        await sleep(intervalMs, undefined, { signal: stopController.signal }).catch(() => undefined);
      }
    }
  };
  const running = loop();

  return {
    runOnce,
    isLeader: () => leader,
    async stop() {
      stopController.abort();
      await running;
    },
  };
}
