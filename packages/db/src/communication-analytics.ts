import { sql } from 'kysely';
import type { MessageChannel, MessageType } from '@crm/core';
import type { Executor } from './communication-repository';

export interface AnalyticsQuery {
  /** Communications created at or after this moment. */
  readonly from: Date;
  /** …and before this one. */
  readonly to: Date;
  readonly planId?: string;
}

/**
 * Counts and rates for a group of communications. A status implies the ones before it on the
 * main line, so a message that was opened counts as delivered even without a delivery receipt
 * (email has none), and a click counts as an open (images may be blocked).
 */
export interface EngagementMetrics {
  readonly total: number;
  /** Accepted by the provider (reached `sent`). */
  readonly sent: number;
  readonly delivered: number;
  readonly opened: number;
  readonly clicked: number;
  readonly responded: number;
  readonly failed: number;
  readonly bounced: number;
  readonly cancelled: number;
  /** delivered ÷ sent; `null` when nothing was sent. */
  readonly deliveryRate: number | null;
  /** opened ÷ delivered. */
  readonly openRate: number | null;
  /** clicked ÷ delivered (click-through rate). */
  readonly clickRate: number | null;
  /** responded ÷ delivered. */
  readonly responseRate: number | null;
}

export interface Analytics {
  readonly from: Date;
  readonly to: Date;
  readonly overall: EngagementMetrics;
  /** Only communications that were routed to a channel. */
  readonly byChannel: readonly (EngagementMetrics & { readonly channel: MessageChannel })[];
  readonly byMessageType: readonly (EngagementMetrics & { readonly messageType: MessageType })[];
}

interface GroupRow {
  channel: MessageChannel | null;
  message_type: MessageType | null;
  grouped_by: 'all' | 'channel' | 'message_type';
  total: number;
  sent: number;
  delivered: number;
  opened: number;
  clicked: number;
  responded: number;
  failed: number;
  bounced: number;
  cancelled: number;
  delivery_rate: number | null;
  open_rate: number | null;
  click_rate: number | null;
  response_rate: number | null;
}

/**
 * Delivery, open, click and response counts and rates over a date range, overall, per channel
 * and per message type: one SQL statement (GROUPING SETS), the rates computed in SQL.
 *
 * @example
 * const { overall, byChannel } = await getCommunicationAnalytics(db, { from: weekAgo, to: now });
 */
export async function getCommunicationAnalytics(db: Executor, query: AnalyticsQuery): Promise<Analytics> {
  const planFilter = query.planId === undefined ? sql`` : sql`AND plan_id = ${query.planId}`;
  const { rows } = await sql<GroupRow>`
    SELECT g.*,
      round(g.delivered::numeric / nullif(g.sent, 0), 4)::float8 AS delivery_rate,
      round(g.opened::numeric / nullif(g.delivered, 0), 4)::float8 AS open_rate,
      round(g.clicked::numeric / nullif(g.delivered, 0), 4)::float8 AS click_rate,
      round(g.responded::numeric / nullif(g.delivered, 0), 4)::float8 AS response_rate
    FROM (
      SELECT channel, message_type,
        CASE WHEN grouping(channel, message_type) = 3 THEN 'all'
             WHEN grouping(channel) = 0 THEN 'channel' ELSE 'message_type' END AS grouped_by,
        count(*)::int AS total,
        count(*) FILTER (WHERE sent_at IS NOT NULL OR delivered_at IS NOT NULL OR opened_at IS NOT NULL
                              OR clicked_at IS NOT NULL OR responded_at IS NOT NULL)::int AS sent,
        count(*) FILTER (WHERE delivered_at IS NOT NULL OR opened_at IS NOT NULL
                              OR clicked_at IS NOT NULL OR responded_at IS NOT NULL)::int AS delivered,
        count(*) FILTER (WHERE opened_at IS NOT NULL OR clicked_at IS NOT NULL)::int AS opened,
        count(*) FILTER (WHERE clicked_at IS NOT NULL)::int AS clicked,
        count(*) FILTER (WHERE responded_at IS NOT NULL)::int AS responded,
        count(*) FILTER (WHERE status = 'failed')::int AS failed,
        count(*) FILTER (WHERE status = 'bounced')::int AS bounced,
        count(*) FILTER (WHERE status = 'cancelled')::int AS cancelled
      FROM crm_communications
      WHERE created_at >= ${query.from} AND created_at < ${query.to} ${planFilter}
      GROUP BY GROUPING SETS ((), (channel), (message_type))
    ) g`.execute(db);

  const metrics = (row: GroupRow | undefined): EngagementMetrics => ({
    total: row?.total ?? 0,
    sent: row?.sent ?? 0,
    delivered: row?.delivered ?? 0,
    opened: row?.opened ?? 0,
    clicked: row?.clicked ?? 0,
    responded: row?.responded ?? 0,
    failed: row?.failed ?? 0,
    bounced: row?.bounced ?? 0,
    cancelled: row?.cancelled ?? 0,
    deliveryRate: row?.delivery_rate ?? null,
    openRate: row?.open_rate ?? null,
    clickRate: row?.click_rate ?? null,
    responseRate: row?.response_rate ?? null,
  });
  const byChannel = rows
    .filter((row) => row.grouped_by === 'channel' && row.channel !== null)
    .map((row) => ({ channel: row.channel as MessageChannel, ...metrics(row) }))
    .sort((a, b) => a.channel.localeCompare(b.channel));
  const byMessageType = rows
    .filter((row) => row.grouped_by === 'message_type')
    .map((row) => ({ messageType: row.message_type as MessageType, ...metrics(row) }))
    .sort((a, b) => a.messageType.localeCompare(b.messageType));
  return { from: query.from, to: query.to, overall: metrics(rows.find((row) => row.grouped_by === 'all')), byChannel, byMessageType };
}
