import type { Kysely } from 'kysely';
import type { CommunicationStatus, MessageChannel, StoredMessageType } from '@crm/core';
import type { Database } from '@crm/db';

/**
 * The analytics fixture: 20 communications with hand-set statuses and timestamps, shared by
 * the analytics tests of @crm/db and of ingest. The expected figures are worked out by hand in
 * those tests from the table below.
 *
 * | # | day   | channel  | type           | plan | what happened                                   |
 * |---|-------|----------|----------------|------|-------------------------------------------------|
 * | 1 | 05-10 | email    | budget_summary | a    | sent, delivered                                 |
 * | 2 | 05-10 | email    | budget_summary | a    | sent, opened (human open; no receipt)           |
 * | 3 | 05-10 | email    | budget_summary | a    | sent, delivered, opened (machine open only)     |
 * | 4 | 05-10 | email    | budget_summary | a    | sent, delivered, opened (machine), clicked      |
 * | 5 | 05-10 | email    | budget_summary | a    | bounced before sent                             |
 * | 6 | 05-10 | email    | budget_summary | a    | sent, delivered, opened (human), responded +600s|
 * | 7 | 05-10 | sms      | reminder       | a    | sent, delivered, responded +120s                |
 * | 8 | 05-10 | sms      | reminder       | a    | sent, failed                                    |
 * | 9 | 05-10 | sms      | reminder       | a    | failed before sent                              |
 * |10 | 05-10 | sms      | reminder       | a    | sent, delivered                                 |
 * |11 | 05-10 | whatsapp | vendor_options | b    | sent, delivered, opened (read, no flag), responded +300s |
 * |12 | 05-10 | whatsapp | vendor_options | b    | sent, delivered                                 |
 * |13 | 05-10 | whatsapp | vendor_options | b    | sent                                            |
 * |14 | 05-10 | —        | welcome        | a    | pending                                         |
 * |15 | 05-10 | —        | welcome        | a    | cancelled                                       |
 * |16 | 05-11 | email    | welcome        | b    | sent, delivered, opened (machine only)          |
 * |17 | 05-11 | email    | welcome        | b    | sent                                            |
 * |18 | 05-11 | sms      | reminder       | a    | sent, delivered, responded +60s                 |
 * |19 | 05-11 | sms      | reminder       | a    | sent, delivered                                 |
 * |20 | 05-01 | email    | welcome        | a    | sent, delivered (outside the range 05-10…05-11) |
 */
interface Spec {
  readonly day: string;
  readonly channel: MessageChannel | null;
  readonly type: StoredMessageType;
  readonly plan: 'plan-a' | 'plan-b';
  readonly status: CommunicationStatus;
  readonly stamps: readonly ('sent' | 'delivered' | 'opened' | 'clicked' | 'failed' | 'bounced' | 'cancelled')[];
  /** Seconds from sent to responded. */
  readonly respondedAfter?: number;
  /** `opened` log rows: `true` a likely machine open, `false` a human one. */
  readonly opens?: readonly boolean[];
}

export const analyticsFixture: readonly Spec[] = Object.freeze([
  { day: '2026-05-10', channel: 'email', type: 'budget_summary', plan: 'plan-a', status: 'delivered', stamps: ['sent', 'delivered'] },
  { day: '2026-05-10', channel: 'email', type: 'budget_summary', plan: 'plan-a', status: 'opened', stamps: ['sent', 'opened'], opens: [false] },
  { day: '2026-05-10', channel: 'email', type: 'budget_summary', plan: 'plan-a', status: 'opened', stamps: ['sent', 'delivered', 'opened'], opens: [true] },
  { day: '2026-05-10', channel: 'email', type: 'budget_summary', plan: 'plan-a', status: 'clicked', stamps: ['sent', 'delivered', 'opened', 'clicked'], opens: [true] },
  { day: '2026-05-10', channel: 'email', type: 'budget_summary', plan: 'plan-a', status: 'bounced', stamps: ['bounced'] },
  { day: '2026-05-10', channel: 'email', type: 'budget_summary', plan: 'plan-a', status: 'responded', stamps: ['sent', 'delivered', 'opened'], respondedAfter: 600, opens: [true, false] },
  { day: '2026-05-10', channel: 'sms', type: 'reminder', plan: 'plan-a', status: 'responded', stamps: ['sent', 'delivered'], respondedAfter: 120 },
  { day: '2026-05-10', channel: 'sms', type: 'reminder', plan: 'plan-a', status: 'failed', stamps: ['sent', 'failed'] },
  { day: '2026-05-10', channel: 'sms', type: 'reminder', plan: 'plan-a', status: 'failed', stamps: ['failed'] },
  { day: '2026-05-10', channel: 'sms', type: 'reminder', plan: 'plan-a', status: 'delivered', stamps: ['sent', 'delivered'] },
  { day: '2026-05-10', channel: 'whatsapp', type: 'vendor_options', plan: 'plan-b', status: 'responded', stamps: ['sent', 'delivered', 'opened'], respondedAfter: 300 },
  { day: '2026-05-10', channel: 'whatsapp', type: 'vendor_options', plan: 'plan-b', status: 'delivered', stamps: ['sent', 'delivered'] },
  { day: '2026-05-10', channel: 'whatsapp', type: 'vendor_options', plan: 'plan-b', status: 'sent', stamps: ['sent'] },
  { day: '2026-05-10', channel: null, type: 'welcome', plan: 'plan-a', status: 'pending', stamps: [] },
  { day: '2026-05-10', channel: null, type: 'welcome', plan: 'plan-a', status: 'cancelled', stamps: ['cancelled'] },
  { day: '2026-05-11', channel: 'email', type: 'welcome', plan: 'plan-b', status: 'opened', stamps: ['sent', 'delivered', 'opened'], opens: [true] },
  { day: '2026-05-11', channel: 'email', type: 'welcome', plan: 'plan-b', status: 'sent', stamps: ['sent'] },
  { day: '2026-05-11', channel: 'sms', type: 'reminder', plan: 'plan-a', status: 'responded', stamps: ['sent', 'delivered'], respondedAfter: 60 },
  { day: '2026-05-11', channel: 'sms', type: 'reminder', plan: 'plan-a', status: 'delivered', stamps: ['sent', 'delivered'] },
  { day: '2026-05-01', channel: 'email', type: 'welcome', plan: 'plan-a', status: 'delivered', stamps: ['sent', 'delivered'] },
] satisfies Spec[]);

/**
 * Inserts {@link analyticsFixture} (created at 09:00 UTC of its day, each later stamp a minute
 * after the one before, responses `respondedAfter` seconds after sent). Returns the ids, in order.
 */
export async function insertAnalyticsFixture(db: Kysely<Database>): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, spec] of analyticsFixture.entries()) {
    const created = new Date(`${spec.day}T09:00:00Z`).getTime() + i * 1000;
    const at = (minutes: number) => new Date(created + minutes * 60_000);
    const stamps: Record<string, Date> = {};
    spec.stamps.forEach((stamp, k) => { stamps[`${stamp}_at`] = at(k + 1); });
    if (spec.respondedAfter !== undefined) stamps.responded_at = new Date((stamps.sent_at ?? at(0)).getTime() + spec.respondedAfter * 1000);
    const row = await db
      .insertInto('crm_communications')
      .values({
        client_id: `client-${i + 1}`, plan_id: spec.plan, message_type: spec.type, status: spec.status, channel: spec.channel,
        created_at: new Date(created), updated_at: new Date(created), ...stamps,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    for (const machine of spec.opens ?? []) {
      await db.insertInto('crm_delivery_logs')
        .values({ communication_id: row.id, event: 'opened', channel: spec.channel, detail: JSON.stringify({ machine, reason: machine ? 'within_window' : 'none' }) })
        .execute();
    }
    ids.push(row.id);
  }
  return ids;
}
