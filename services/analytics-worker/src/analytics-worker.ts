import type { Redis } from 'ioredis';
import { sql, type Kysely } from 'kysely';
import { markAnalyticsDaysDirty, markAnalyticsDirty, recomputeDirtyAnalyticsCells, type AnalyticsCellKey, type Database } from '@crm/db';
import { openRateGauge, type Logger } from '@crm/observability';
import { createQueueWorker, QueueName, type QueueWorker } from '@crm/queue';

export interface AnalyticsWorkerOptions {
  readonly db: Kysely<Database>;
  readonly logger: Logger;
  /** A `worker` Redis connection. */
  readonly connection: Redis;
  readonly prefix: string;
  /** @defaultValue 20 */
  readonly concurrency?: number;
  /**
   * Recompute the cells marked dirty this long after the last event (a burst of events on one
   * cell recomputes it once), in ms. @defaultValue 1000
   */
  readonly flushDelayMs?: number;
  /** …but no later than this after the first event of a burst, in ms. @defaultValue 5000 */
  readonly maxFlushDelayMs?: number;
  /** Cells recomputed per transaction. @defaultValue 500 */
  readonly batchSize?: number;
  /**
   * Every this many ms, mark the cells of today and yesterday (UTC) dirty: they then count new
   * communications (which send no event) and recover from lost events; `null`: never.
   * @defaultValue 300000
   */
  readonly sweepIntervalMs?: number | null;
  /** Every this many ms, set `crm_open_rate`; `null`: never. @defaultValue 60000 */
  readonly gaugeIntervalMs?: number | null;
  /** Days in the rolling window of `crm_open_rate` (today included). @defaultValue 7 */
  readonly gaugeWindowDays?: number;
  /** Called after each recompute pass with the cells it recomputed (tests, logs). */
  readonly onRecomputed?: (cells: readonly AnalyticsCellKey[]) => void;
  readonly clock?: () => Date;
}

export interface AnalyticsWorker {
  readonly events: QueueWorker;
  /** Recomputes every dirty cell now; resolves with the cells recomputed. */
  flush(): Promise<AnalyticsCellKey[]>;
  /** Sets `crm_open_rate` from the rollups now. */
  updateGauge(): Promise<void>;
  ready(): Promise<void>;
  close(): Promise<void>;
}

const DAY_MS = 86_400_000;
const dayOf = (date: Date): string => date.toISOString().slice(0, 10);

/**
 * Consumes `crm.events`: each event marks its communication's rollup cell (day, channel,
 * message type) dirty in PostgreSQL, and shortly after a burst the dirty cells are recomputed
 * from `crm_communications` in batches (never incremented, so a redelivered event changes
 * nothing). Dirty marks live in PostgreSQL: a worker that dies leaves them for the next pass of
 * any replica. Also keeps the `crm_open_rate{channel,message_type}` gauge over a rolling window,
 * and sweeps today's and yesterday's cells now and then.
 *
 * @example
 * const worker = startAnalyticsWorker({ db, logger, connection, prefix });
 * await worker.close();
 */
export function startAnalyticsWorker(options: AnalyticsWorkerOptions): AnalyticsWorker {
  const {
    db, logger, connection, prefix, concurrency = 20, flushDelayMs = 1000, maxFlushDelayMs = 5000, batchSize = 500,
    sweepIntervalMs = 300_000, gaugeIntervalMs = 60_000, gaugeWindowDays = 7, onRecomputed, clock = () => new Date(),
  } = options;
  const log = logger.child({ component: 'analytics-worker' });
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let burstStartedAt: number | null = null;
  let running: Promise<AnalyticsCellKey[]> | null = null;
  let again = false;

  const recomputeAll = async (): Promise<AnalyticsCellKey[]> => {
    const all: AnalyticsCellKey[] = [];
    for (;;) {
      const cells = await recomputeDirtyAnalyticsCells(db, batchSize);
      if (cells.length > 0) onRecomputed?.(cells);
      all.push(...cells);
      if (cells.length < batchSize) return all;
    }
  };
  /** One pass at a time; a request during a pass runs one more pass after it. */
  const flush = (): Promise<AnalyticsCellKey[]> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        let cells = await recomputeAll();
        while (again && !closed) {
          again = false;
          cells = cells.concat(await recomputeAll());
        }
        if (cells.length > 0) log.debug({ cells: cells.length }, 'analytics cells recomputed');
        return cells;
      } finally {
        running = null;
      }
    })();
    return running;
  };
  const flushSoon = () => {
    if (closed) return;
    const now = Date.now();
    burstStartedAt ??= now;
    const delay = Math.max(0, Math.min(flushDelayMs, burstStartedAt + maxFlushDelayMs - now));
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      burstStartedAt = null;
      flush().catch((error: unknown) => {
        log.error({ err: error instanceof Error ? { name: error.name, message: error.message } : String(error) }, 'analytics recompute failed');
        // The marks stay in PostgreSQL: try again later.
        flushSoon();
      });
    }, delay);
  };

  const events = createQueueWorker({
    queue: QueueName.events,
    connection,
    prefix,
    concurrency,
    logger,
    processor: async (data) => {
      if (data.communicationId === undefined) return; // a reply to no communication: no cell
      const cell = await markAnalyticsDirty(db, data.communicationId);
      if (cell) flushSoon();
    },
  });

  const updateGauge = async (): Promise<void> => {
    const today = clock();
    const from = dayOf(new Date(today.getTime() - (gaugeWindowDays - 1) * DAY_MS));
    const { rows } = await sql<{ channel: string; message_type: string; opened: number; delivered: number }>`
      SELECT channel, message_type, sum(opened)::int AS opened, sum(delivered)::int AS delivered
      FROM crm_analytics_daily
      WHERE day BETWEEN ${from}::date AND ${dayOf(today)}::date AND channel <> 'none'
      GROUP BY channel, message_type`.execute(db);
    openRateGauge.reset();
    for (const row of rows) {
      if (row.delivered > 0) openRateGauge.set({ channel: row.channel, message_type: row.message_type }, row.opened / row.delivered);
    }
  };

  const repeat = (intervalMs: number | null, what: string, task: () => Promise<unknown>): NodeJS.Timeout | undefined => {
    if (intervalMs === null) return undefined;
    const handle = setInterval(() => {
      task().catch((error: unknown) => log.warn({ err: error instanceof Error ? { name: error.name, message: error.message } : String(error) }, `${what} failed`));
    }, intervalMs);
    handle.unref();
    return handle;
  };
  const sweep = async () => {
    const now = clock();
    const marked = await markAnalyticsDaysDirty(db, dayOf(new Date(now.getTime() - DAY_MS)), dayOf(now));
    if (marked > 0) flushSoon();
  };
  const gaugeTimer = repeat(gaugeIntervalMs, 'open rate gauge', updateGauge);
  const sweepTimer = repeat(sweepIntervalMs, 'analytics sweep', sweep);
  // Cells left dirty by a worker that stopped (or by the migration) are picked up at start.
  flushSoon();
  if (gaugeIntervalMs !== null) void updateGauge().catch(() => undefined);

  return {
    events,
    flush,
    updateGauge,
    ready: () => events.ready(),
    async close() {
      closed = true;
      if (gaugeTimer) clearInterval(gaugeTimer);
      if (sweepTimer) clearInterval(sweepTimer);
      if (timer) clearTimeout(timer);
      await events.close();
      await running?.catch(() => undefined);
    },
  };
}
