import { sql, type RawBuilder, type Selectable } from 'kysely';
import type { MessageChannel, StoredMessageType } from '@crm/core';
import type { Executor } from './communication-repository';
import type { AnalyticsDailyTable } from './schema';

/**
 * Analytics over daily rollups (issue 9). `crm_analytics_daily` holds one cell per (UTC day of
 * `created_at`, channel, message type); a cell is always recomputed from `crm_communications`
 * (never incremented), so recomputing twice changes nothing. Queries filtered by plan read the
 * communications themselves (through the plan index); the others read the rollups.
 *
 * Counting rules (as in {@link getCommunicationAnalytics}): a status implies the ones before it
 * on the main line; a click counts as an open; a human open is an opened (or clicked) one unless
 * every `opened` row of its delivery log is flagged `machine: true` (a likely machine open) and
 * it was not clicked. Opens with no flagged row (WhatsApp read receipts) count as human.
 * The delivery log is read by a correlated lookup (its communication index), only for opened,
 * unclicked communications.
 */

/** The channel of a rollup cell: `none` for communications never routed. */
export type AnalyticsChannel = MessageChannel | 'none';

/** A rollup cell's key. `day` is `YYYY-MM-DD` (UTC). */
export interface AnalyticsCellKey {
  readonly day: string;
  readonly channel: AnalyticsChannel;
  readonly messageType: StoredMessageType;
}

/** The counts of a group of communications. */
export interface AnalyticsCounts {
  readonly total: number;
  readonly sent: number;
  readonly delivered: number;
  readonly opened: number;
  readonly openedHuman: number;
  readonly clicked: number;
  readonly responded: number;
  readonly failed: number;
  readonly bounced: number;
  readonly cancelled: number;
  /** Responded ones with a `sent_at` (the ones with a time to response). */
  readonly responseCount: number;
  readonly responseTimeSumSeconds: number;
}

/** Rates of a group, each rounded to 4 decimals; `null` when the denominator is 0. */
export interface AnalyticsRates {
  /** delivered ÷ sent. */
  readonly deliveryRate: number | null;
  /** opened ÷ delivered (machine opens included). */
  readonly openRate: number | null;
  /** openedHuman ÷ delivered (likely machine opens left out). */
  readonly humanOpenRate: number | null;
  /** clicked ÷ delivered (click-through rate). */
  readonly clickRate: number | null;
  /** responded ÷ delivered. */
  readonly responseRate: number | null;
  /** Mean seconds from sent to response; `null` without responses. */
  readonly avgResponseSeconds: number | null;
  /** Median seconds from sent to response. */
  readonly medianResponseSeconds: number | null;
}

export type AnalyticsMetrics = AnalyticsCounts & AnalyticsRates;

/** A cell with its counts and rates (a row of the CSV export). */
export type AnalyticsCell = AnalyticsCellKey & AnalyticsMetrics;

/** What to count. Days are UTC `YYYY-MM-DD`; both ends are included. */
export interface AnalyticsFilters {
  readonly from: string;
  readonly to: string;
  readonly channel?: MessageChannel;
  readonly messageType?: StoredMessageType;
  readonly planId?: string;
}

/** One step of the funnel sent → delivered → opened → clicked → responded. */
export interface FunnelStep {
  readonly stage: 'sent' | 'delivered' | 'opened' | 'clicked' | 'responded';
  readonly count: number;
  /** count ÷ sent. */
  readonly rateOfSent: number | null;
  /** count ÷ the step before (1 for `sent`). */
  readonly rateOfPrevious: number | null;
}

export interface AnalyticsReport {
  readonly filters: AnalyticsFilters;
  /** Where the figures came from: the rollups, or the communications (a plan filter). */
  readonly source: 'rollups' | 'communications';
  readonly overall: AnalyticsMetrics;
  /** Routed communications only, by channel. */
  readonly byChannel: readonly (AnalyticsMetrics & { readonly channel: MessageChannel })[];
  readonly byMessageType: readonly (AnalyticsMetrics & { readonly messageType: StoredMessageType })[];
  /** Every day of the range, in order (zeros on days without communications). */
  readonly byDay: readonly (AnalyticsMetrics & { readonly day: string })[];
  readonly funnel: readonly FunnelStep[];
}

/** How clients' preferences are spread (non-personal columns only). */
export interface PreferenceDistribution {
  readonly clients: number;
  /** First channel of each client's list; `default` when the client never stated one. */
  readonly firstChoice: readonly { readonly channel: MessageChannel | 'default'; readonly clients: number }[];
  /** Time zones, most clients first; `default` for clients who never stated one. */
  readonly timezones: readonly { readonly timezone: string; readonly clients: number }[];
  /** Clients opted out of each channel. */
  readonly optOuts: readonly { readonly channel: MessageChannel; readonly clients: number }[];
  readonly quietHoursSet: number;
  readonly batching: number;
  readonly languages: readonly { readonly language: string; readonly clients: number }[];
}

/** `YYYY-MM-DD`, a real date. */
const DAY = /^\d{4}-\d{2}-\d{2}$/;

function assertDay(day: string, name: string): void {
  if (!DAY.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00Z`)) || new Date(`${day}T00:00:00Z`).toISOString().slice(0, 10) !== day) {
    throw new RangeError(`${name} must be a date YYYY-MM-DD`);
  }
}

/** The SELECT list that counts a group of `crm_communications c`: the one definition of every counter. */
const countColumns = sql`
  count(*)::int AS total,
  count(*) FILTER (WHERE coalesce(c.sent_at, c.delivered_at, c.opened_at, c.clicked_at, c.responded_at) IS NOT NULL)::int AS sent,
  count(*) FILTER (WHERE coalesce(c.delivered_at, c.opened_at, c.clicked_at, c.responded_at) IS NOT NULL)::int AS delivered,
  count(*) FILTER (WHERE coalesce(c.opened_at, c.clicked_at) IS NOT NULL)::int AS opened,
  count(*) FILTER (WHERE CASE WHEN c.clicked_at IS NOT NULL THEN true WHEN c.opened_at IS NULL THEN false
    ELSE coalesce(NOT (SELECT bool_and(coalesce((l.detail->>'machine')::boolean, false)) FROM crm_delivery_logs l
                       WHERE l.communication_id = c.id AND l.event = 'opened'), true) END)::int AS opened_human,
  count(*) FILTER (WHERE c.clicked_at IS NOT NULL)::int AS clicked,
  count(*) FILTER (WHERE c.responded_at IS NOT NULL)::int AS responded,
  count(*) FILTER (WHERE c.status = 'failed')::int AS failed,
  count(*) FILTER (WHERE c.status = 'bounced')::int AS bounced,
  count(*) FILTER (WHERE c.status = 'cancelled')::int AS cancelled,
  count(*) FILTER (WHERE c.responded_at IS NOT NULL AND c.sent_at IS NOT NULL)::int AS response_count,
  coalesce(sum(extract(epoch FROM c.responded_at - c.sent_at)) FILTER (WHERE c.responded_at IS NOT NULL AND c.sent_at IS NOT NULL), 0)::float8 AS response_time_sum_seconds,
  coalesce(array_agg(extract(epoch FROM c.responded_at - c.sent_at)::float8 ORDER BY c.responded_at - c.sent_at)
    FILTER (WHERE c.responded_at IS NOT NULL AND c.sent_at IS NOT NULL), '{}') AS response_seconds`;

const counterNames = [
  'total', 'sent', 'delivered', 'opened', 'opened_human', 'clicked', 'responded', 'failed', 'bounced', 'cancelled',
  'response_count', 'response_time_sum_seconds', 'response_seconds',
] as const;

const dayOf = sql`(c.created_at AT TIME ZONE 'UTC')::date`;
const channelOf = sql`coalesce(c.channel::text, 'none')`;
const startOf = (day: RawBuilder<unknown>) => sql`(${day}::timestamp AT TIME ZONE 'UTC')`;

/**
 * Recomputes the given cells from `crm_communications` (one bounded aggregate per day, through
 * the `created_at` index; one statement per day): upserts each cell that has communications and deletes the others.
 * Idempotent. Returns how many cells were written.
 *
 * @example
 * await recomputeAnalyticsCells(db, [{ day: '2026-05-10', channel: 'email', messageType: 'welcome' }]);
 */
export async function recomputeAnalyticsCells(db: Executor, cells: readonly AnalyticsCellKey[]): Promise<number> {
  for (const cell of cells) assertDay(cell.day, 'day');
  const byDay = new Map<string, AnalyticsCellKey[]>();
  for (const cell of cells) byDay.set(cell.day, [...(byDay.get(cell.day) ?? []), cell]);
  const columns = sql.join(counterNames.map((name) => sql.ref(name)));
  const updates = sql.join(counterNames.map((name) => sql`${sql.ref(name)} = excluded.${sql.ref(name)}`));
  let written = 0;
  // One statement per day, its bounds given as values: the planner then reads that day's rows
  // through the created_at index (a join on the day would let it scan the whole table).
  for (const [day, dayCells] of byDay) {
    const start = new Date(`${day}T00:00:00.000Z`);
    const end = new Date(start.getTime() + 86_400_000);
    const channels = dayCells.map((cell) => cell.channel);
    const types = dayCells.map((cell) => cell.messageType);
    const { rows } = await sql<{ written: number }>`
      WITH keys AS (
        SELECT DISTINCT * FROM unnest(${channels}::text[], ${types}::text[]) AS k(channel, message_type)
      ), agg AS (
        SELECT ${day}::date AS day, k.channel, k.message_type, ${countColumns}
        FROM crm_communications c
        JOIN keys k ON k.channel = ${channelOf} AND k.message_type = c.message_type::text
        WHERE c.created_at >= ${start}::timestamptz AND c.created_at < ${end}::timestamptz
        GROUP BY k.channel, k.message_type
      ), gone AS (
        DELETE FROM crm_analytics_daily a USING keys k
        WHERE a.day = ${day}::date AND a.channel = k.channel AND a.message_type = k.message_type
          AND NOT EXISTS (SELECT 1 FROM agg WHERE agg.channel = k.channel AND agg.message_type = k.message_type)
      ), written AS (
        INSERT INTO crm_analytics_daily (day, channel, message_type, ${columns}, computed_at)
        SELECT day, channel, message_type, ${columns}, now() FROM agg
        ON CONFLICT (day, channel, message_type) DO UPDATE SET ${updates}, computed_at = now()
        RETURNING 1
      )
      SELECT count(*)::int AS written FROM written`.execute(db);
    written += rows[0]?.written ?? 0;
  }
  return written;
}

/**
 * Marks the cell of a communication dirty (its day, channel and type), for the analytics worker
 * to recompute. Returns the cell, or `null` when there is no such communication.
 */
export async function markAnalyticsDirty(db: Executor, communicationId: string): Promise<AnalyticsCellKey | null> {
  const { rows } = await sql<{ day: string; channel: AnalyticsChannel; message_type: StoredMessageType }>`
    WITH cell AS (
      SELECT to_char(${dayOf}, 'YYYY-MM-DD') AS day, ${channelOf} AS channel, c.message_type::text AS message_type
      FROM crm_communications c WHERE c.id = ${communicationId}::uuid
    ), marked AS (
      INSERT INTO crm_analytics_dirty (day, channel, message_type)
      SELECT day::date, channel, message_type FROM cell
      ON CONFLICT DO NOTHING
    )
    SELECT * FROM cell`.execute(db);
  const row = rows[0];
  return row ? { day: row.day, channel: row.channel, messageType: row.message_type } : null;
}

/**
 * Marks every cell with communications created in the UTC days `from`…`to` dirty (the
 * worker's periodic sweep of today and yesterday catches creations and lost events; also a
 * full rebuild). Returns how many cells it marked.
 */
export async function markAnalyticsDaysDirty(db: Executor, from: string, to: string): Promise<number> {
  assertDay(from, 'from');
  assertDay(to, 'to');
  const { rows } = await sql<{ marked: number }>`
    WITH cells AS (
      SELECT DISTINCT ${dayOf} AS day, ${channelOf} AS channel, c.message_type::text AS message_type
      FROM crm_communications c
      WHERE c.created_at >= ${startOf(sql`${from}::date`)} AND c.created_at < ${startOf(sql`(${to}::date + 1)`)}
      UNION SELECT day, channel, message_type FROM crm_analytics_daily WHERE day BETWEEN ${from}::date AND ${to}::date
    ), marked AS (
      INSERT INTO crm_analytics_dirty (day, channel, message_type) SELECT * FROM cells ON CONFLICT DO NOTHING RETURNING 1
    )
    SELECT count(*)::int AS marked FROM marked`.execute(db);
  return rows[0]?.marked ?? 0;
}

/**
 * Takes up to `limit` dirty cells (skipping ones another worker holds), recomputes them and
 * clears their marks, in one transaction: if it fails, the marks stay. A cell marked again
 * while this runs stays marked and is recomputed by the next pass. Returns the cells recomputed.
 *
 * @example
 * while ((await recomputeDirtyAnalyticsCells(db, 500)).length > 0);
 */
export async function recomputeDirtyAnalyticsCells(db: Executor, limit = 500): Promise<AnalyticsCellKey[]> {
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ day: string; channel: AnalyticsChannel; message_type: StoredMessageType }>`
      DELETE FROM crm_analytics_dirty d
      WHERE (d.day, d.channel, d.message_type) IN (
        SELECT day, channel, message_type FROM crm_analytics_dirty ORDER BY marked_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING to_char(d.day, 'YYYY-MM-DD') AS day, d.channel, d.message_type`.execute(trx);
    const cells = rows.map((row) => ({ day: row.day, channel: row.channel, messageType: row.message_type }));
    await recomputeAnalyticsCells(trx, cells);
    return cells;
  });
}

/**
 * Rebuilds the rollups of the UTC days `from`…`to` (a backfill, or the benchmark). Returns the
 * number of cells recomputed.
 */
export async function rebuildAnalyticsRollups(db: Executor, from: string, to: string, batchSize = 2000): Promise<number> {
  await markAnalyticsDaysDirty(db, from, to);
  let total = 0;
  for (;;) {
    const done = await recomputeDirtyAnalyticsCells(db, batchSize);
    total += done.length;
    if (done.length < batchSize) return total;
  }
}

/** A rollup cell's counts as a query answers them (the table's columns, without the response-time list). */
type CellRow = Omit<Selectable<AnalyticsDailyTable>, 'response_seconds'>;

/**
 * The cells matching `filters` as one SQL query (rows of `crm_analytics_daily`, or with a plan
 * filter the same counters aggregated from `crm_communications`): what every analytics query
 * reads. Exported for EXPLAIN in the benchmark.
 */
export function analyticsCellsSource(filters: AnalyticsFilters): RawBuilder<unknown> {
  assertDay(filters.from, 'from');
  assertDay(filters.to, 'to');
  if (filters.planId !== undefined) {
    return sql`
      SELECT ${dayOf} AS day, ${channelOf} AS channel, c.message_type::text AS message_type, ${countColumns}
      FROM crm_communications c
      WHERE c.plan_id = ${filters.planId}
        AND c.created_at >= ${startOf(sql`${filters.from}::date`)} AND c.created_at < ${startOf(sql`(${filters.to}::date + 1)`)}
        ${filters.channel === undefined ? sql`` : sql`AND c.channel::text = ${filters.channel}`}
        ${filters.messageType === undefined ? sql`` : sql`AND c.message_type::text = ${filters.messageType}`}
      GROUP BY 1, 2, 3`;
  }
  return sql`
    SELECT * FROM crm_analytics_daily a
    WHERE a.day BETWEEN ${filters.from}::date AND ${filters.to}::date
      ${filters.channel === undefined ? sql`` : sql`AND a.channel = ${filters.channel}`}
      ${filters.messageType === undefined ? sql`` : sql`AND a.message_type = ${filters.messageType}`}`;
}

const round = (value: number, digits = 4): number => {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
};
const ratio = (numerator: number, denominator: number): number | null => (denominator === 0 ? null : round(numerator / denominator));

const zero: AnalyticsCounts = Object.freeze({
  total: 0, sent: 0, delivered: 0, opened: 0, openedHuman: 0, clicked: 0, responded: 0, failed: 0, bounced: 0, cancelled: 0,
  responseCount: 0, responseTimeSumSeconds: 0,
});

function countsOf(row: CellRow): AnalyticsCounts {
  return {
    total: row.total, sent: row.sent, delivered: row.delivered, opened: row.opened, openedHuman: row.opened_human,
    clicked: row.clicked, responded: row.responded, failed: row.failed, bounced: row.bounced, cancelled: row.cancelled,
    responseCount: row.response_count, responseTimeSumSeconds: row.response_time_sum_seconds,
  };
}

function withRates(counts: AnalyticsCounts, median: number | null): AnalyticsMetrics {
  return {
    ...counts,
    responseTimeSumSeconds: round(counts.responseTimeSumSeconds, 3),
    deliveryRate: ratio(counts.delivered, counts.sent),
    openRate: ratio(counts.opened, counts.delivered),
    humanOpenRate: ratio(counts.openedHuman, counts.delivered),
    clickRate: ratio(counts.clicked, counts.delivered),
    responseRate: ratio(counts.responded, counts.delivered),
    avgResponseSeconds: counts.responseCount === 0 ? null : round(counts.responseTimeSumSeconds / counts.responseCount, 3),
    medianResponseSeconds: median === null ? null : round(median, 3),
  };
}

/** Every day from `from` to `to`, both included. */
function daysOf(from: string, to: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

/**
 * The cells matching `filters` with their counts and rates, ordered by day, channel and type
 * (the rows of the CSV export). Cells with a plan filter are computed from the communications.
 */
export async function getAnalyticsCells(db: Executor, filters: AnalyticsFilters): Promise<AnalyticsCell[]> {
  const { rows } = await sql<CellRow & { response_seconds: string }>`
    SELECT to_char(s.day, 'YYYY-MM-DD') AS day, s.channel, s.message_type,
      s.total, s.sent, s.delivered, s.opened, s.opened_human, s.clicked, s.responded, s.failed, s.bounced, s.cancelled,
      s.response_count, s.response_time_sum_seconds, array_to_string(s.response_seconds, ',') AS response_seconds
    FROM (${analyticsCellsSource(filters)}) s
    ORDER BY s.day, s.channel, s.message_type`.execute(db);
  return rows.map((row) => ({ day: row.day, channel: row.channel, messageType: row.message_type, ...withRates(countsOf(row), medianOf([secondsOf(row.response_seconds)])) }));
}

/** `1.5,20` → `[1.5, 20]`; `''` → `[]`. */
function secondsOf(text: string): number[] {
  return text === '' ? [] : text.split(',').map(Number);
}

/**
 * The median of the values of `lists` together (the mean of the two middle ones for an even
 * count, as PostgreSQL's `percentile_cont(0.5)`); `null` when there are none. A single list is
 * taken as sorted (the rollups keep it sorted).
 */
function medianOf(lists: readonly (readonly number[])[]): number | null {
  const count = lists.reduce((sum, list) => sum + list.length, 0);
  if (count === 0) return null;
  let sorted: ArrayLike<number>;
  if (lists.length === 1 && lists[0]) sorted = lists[0];
  else {
    const all = new Float64Array(count);
    let at = 0;
    for (const list of lists) {
      all.set(list, at);
      at += list.length;
    }
    sorted = all.sort();
  }
  const middle = Math.floor(count / 2);
  return count % 2 === 1 ? (sorted[middle] ?? null) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/**
 * Delivery, open (with and without machine opens), click-through and response rates and time
 * to response, overall, by channel, by message type and by day, and the funnel, for `filters`.
 * Without a plan filter it reads the rollups (fast at millions of communications); with one, the
 * communications of that plan. Time to response is from `sent_at` to `responded_at`. Two queries
 * run together: the counters added up by GROUPING SETS, and the response times for the medians.
 *
 * @example
 * const report = await getAnalyticsReport(db, { from: '2026-05-01', to: '2026-05-31', channel: 'email' });
 */
export async function getAnalyticsReport(db: Executor, filters: AnalyticsFilters): Promise<AnalyticsReport> {
  const source = analyticsCellsSource(filters);
  const sum = (name: (typeof counterNames)[number]) => sql`coalesce(sum(s.${sql.ref(name)}), 0)::int AS ${sql.ref(name)}`;
  const [sums, responses] = await Promise.all([
    // The counters added up in SQL, overall and by channel, message type and day (≤ 1 + 4 + 8 + days rows).
    sql<CellRow & { grouping: number }>`
      SELECT grouping(s.channel, s.message_type, s.day) AS grouping, s.channel, s.message_type, to_char(s.day, 'YYYY-MM-DD') AS day,
        ${sql.join(['total', 'sent', 'delivered', 'opened', 'opened_human', 'clicked', 'responded', 'failed', 'bounced', 'cancelled', 'response_count'].map((name) => sum(name as (typeof counterNames)[number])))},
        coalesce(sum(s.response_time_sum_seconds), 0)::float8 AS response_time_sum_seconds
      FROM (${source}) s
      GROUP BY GROUPING SETS ((), (s.channel), (s.message_type), (s.day))`.execute(db),
    // Every response time with its cell, as one string (`channel|type|day|s s s;…`): medians are
    // exact, and one text value is far cheaper to read than thousands of arrays.
    sql<{ responses: string | null }>`
      SELECT string_agg(s.channel || '|' || s.message_type || '|' || to_char(s.day, 'YYYY-MM-DD') || '|' || array_to_string(s.response_seconds, ' '), ';') AS responses
      FROM (${source}) s WHERE cardinality(s.response_seconds) > 0`.execute(db),
  ]);

  const times = { all: [] as number[][], channel: new Map<string, number[][]>(), message_type: new Map<string, number[][]>(), day: new Map<string, number[][]>() };
  const push = (map: Map<string, number[][]>, key: string, values: number[]) => {
    const list = map.get(key);
    if (list) list.push(values);
    else map.set(key, [values]);
  };
  for (const cell of (responses.rows[0]?.responses ?? '').split(';')) {
    const [channel = '', messageType = '', day = '', text = ''] = cell.split('|');
    if (text === '') continue;
    const values = text.split(' ').map(Number);
    times.all.push(values);
    push(times.channel, channel, values);
    push(times.message_type, messageType, values);
    push(times.day, day, values);
  }
  // grouping(): the bits of channel (4), message type (2) and day (1) left out of the group.
  const of = (bits: number) => sums.rows.filter((row) => row.grouping === bits);
  const metricsOf = (row: CellRow | undefined, lists: number[][] | undefined): AnalyticsMetrics => withRates(row ? countsOf(row) : zero, medianOf(lists ?? []));
  const all = of(7)[0];
  const overall = all ? countsOf(all) : zero;
  const byChannel = of(3)
    .filter((row) => row.channel !== 'none')
    .sort((a, b) => a.channel.localeCompare(b.channel))
    .map((row) => ({ channel: row.channel as MessageChannel, ...metricsOf(row, times.channel.get(row.channel)) }));
  const byMessageType = of(5)
    .sort((a, b) => a.message_type.localeCompare(b.message_type))
    .map((row) => ({ messageType: row.message_type, ...metricsOf(row, times.message_type.get(row.message_type)) }));
  const days = new Map(of(6).map((row) => [row.day, row]));
  const byDay = daysOf(filters.from, filters.to).map((day) => ({ day, ...metricsOf(days.get(day), times.day.get(day)) }));
  const stages = ['sent', 'delivered', 'opened', 'clicked', 'responded'] as const;
  const funnel = stages.map((stage, i) => ({
    stage,
    count: overall[stage],
    rateOfSent: ratio(overall[stage], overall.sent),
    rateOfPrevious: i === 0 ? ratio(overall.sent, overall.sent) : ratio(overall[stage], overall[stages[i - 1] ?? 'sent']),
  }));
  return {
    filters,
    source: filters.planId === undefined ? 'rollups' : 'communications',
    overall: metricsOf(all, times.all),
    byChannel,
    byMessageType,
    byDay,
    funnel,
  };
}

/**
 * How clients' preferences are spread: first-choice channel, time zones, opt-outs per channel,
 * quiet hours set, batching and languages. Reads only non-personal columns of
 * `crm_client_preferences` (never contact details).
 */
export async function getPreferenceDistribution(db: Executor): Promise<PreferenceDistribution> {
  const { rows } = await sql<{ kind: string; key: string | null; clients: number }>`
    SELECT 'clients' AS kind, NULL AS key, count(*)::int AS clients FROM crm_client_preferences
    UNION ALL SELECT 'first', coalesce(channels[1]::text, 'default'), count(*)::int FROM crm_client_preferences GROUP BY 2
    UNION ALL SELECT 'timezone', coalesce(timezone, 'default'), count(*)::int FROM crm_client_preferences GROUP BY 2
    UNION ALL SELECT 'opt_out', o::text, count(*)::int FROM crm_client_preferences, unnest(opt_outs) o GROUP BY 2
    UNION ALL SELECT 'quiet', NULL, count(*)::int FROM crm_client_preferences WHERE quiet_hours_start IS NOT NULL AND quiet_hours_end IS NOT NULL
    UNION ALL SELECT 'batching', NULL, count(*)::int FROM crm_client_preferences WHERE batching
    UNION ALL SELECT 'language', language, count(*)::int FROM crm_client_preferences GROUP BY 2`.execute(db);
  const of = (kind: string) => rows.filter((row) => row.kind === kind)
    .sort((a, b) => b.clients - a.clients || String(a.key).localeCompare(String(b.key)));
  const one = (kind: string) => rows.find((row) => row.kind === kind)?.clients ?? 0;
  return {
    clients: one('clients'),
    firstChoice: of('first').map((row) => ({ channel: row.key as MessageChannel | 'default', clients: row.clients })),
    timezones: of('timezone').map((row) => ({ timezone: row.key ?? 'default', clients: row.clients })),
    optOuts: of('opt_out').map((row) => ({ channel: row.key as MessageChannel, clients: row.clients })),
    quietHoursSet: one('quiet'),
    batching: one('batching'),
    languages: of('language').map((row) => ({ language: row.key ?? '', clients: row.clients })),
  };
}

/** A communication in the history export: ids, type, channel, status and timestamps only. */
export interface CommunicationExportRow {
  readonly id: string;
  readonly plan_id: string;
  readonly message_type: StoredMessageType;
  readonly channel: MessageChannel | null;
  readonly status: string;
  readonly urgency: string;
  readonly created_at: string;
  readonly sent_at: string | null;
  readonly delivered_at: string | null;
  readonly opened_at: string | null;
  readonly clicked_at: string | null;
  readonly responded_at: string | null;
  readonly failed_at: string | null;
  readonly bounced_at: string | null;
  readonly cancelled_at: string | null;
}

type ExportRow = CommunicationExportRow & { position: string };

/**
 * The communications matching `filters` (created in the range), oldest first, in keyset pages
 * of `pageSize` over `(created_at, id)`: each page is one indexed query, so millions of rows
 * stream in bounded memory. Timestamps are ISO 8601 UTC strings. No personal data.
 *
 * @example
 * for await (const page of exportCommunicationPages(db, filters)) for (const row of page) write(row);
 */
export async function* exportCommunicationPages(db: Executor, filters: AnalyticsFilters, pageSize = 5000): AsyncGenerator<CommunicationExportRow[]> {
  assertDay(filters.from, 'from');
  assertDay(filters.to, 'to');
  const iso = (column: string) => sql`to_char(${sql.ref(`c.${column}`)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${sql.ref(column)}`;
  const stamps = ['created_at', 'sent_at', 'delivered_at', 'opened_at', 'clicked_at', 'responded_at', 'failed_at', 'bounced_at', 'cancelled_at'];
  let after: { position: string; id: string } | null = null;
  for (;;) {
    const cursor: RawBuilder<unknown> = after === null ? sql`` : sql`AND (c.created_at, c.id) > (${after.position}::timestamptz, ${after.id}::uuid)`;
    const page: { rows: ExportRow[] } = await sql<ExportRow>`
      SELECT c.id, c.plan_id, c.message_type, c.channel, c.status, c.urgency, ${sql.join(stamps.map(iso))}, c.created_at::text AS position
      FROM crm_communications c
      WHERE c.created_at >= ${startOf(sql`${filters.from}::date`)} AND c.created_at < ${startOf(sql`(${filters.to}::date + 1)`)}
        ${filters.planId === undefined ? sql`` : sql`AND c.plan_id = ${filters.planId}`}
        ${filters.channel === undefined ? sql`` : sql`AND c.channel::text = ${filters.channel}`}
        ${filters.messageType === undefined ? sql`` : sql`AND c.message_type::text = ${filters.messageType}`}
        ${cursor}
      ORDER BY c.created_at, c.id
      LIMIT ${pageSize}`.execute(db);
    const rows = page.rows;
    if (rows.length === 0) return;
    const last: ExportRow | undefined = rows[rows.length - 1];
    if (last) after = { position: last.position, id: last.id };
    yield rows.map(({ position: _position, ...row }: ExportRow) => row);
    if (rows.length < pageSize) return;
  }
}
