import type { CommunicationStatus, MessageChannel, StoredMessageType } from '@crm/core';
import { decodeCursor, encodeCursor } from './cursor';
import type { Executor } from './communication-repository';
import type { CommunicationRow } from './schema';

/** Filters of {@link getCommunicationHistory}; every one is optional and they combine with AND. */
export interface HistoryQuery {
  readonly planId?: string;
  readonly clientId?: string;
  /** One channel or any of several. */
  readonly channel?: MessageChannel | readonly MessageChannel[];
  /** One status or any of several. */
  readonly status?: CommunicationStatus | readonly CommunicationStatus[];
  /** One message type or any of several. */
  readonly messageType?: StoredMessageType | readonly StoredMessageType[];
  /** Created at or after this moment. */
  readonly from?: Date;
  /** Created before this moment. */
  readonly to?: Date;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string | null;
  /**
   * Page size, 1 to 500.
   * @defaultValue 50
   */
  readonly limit?: number;
}

export interface HistoryPage {
  /** Newest first; ties on `created_at` broken by id, so the order is stable across pages. */
  readonly items: CommunicationRow[];
  /** Pass back as `cursor` for the next page; `null` on the last page. */
  readonly nextCursor: string | null;
}

const asList = <T>(value: T | readonly T[]): readonly T[] => (Array.isArray(value) ? value : [value as T]);

/**
 * One page of communications, newest first, with keyset pagination on `(created_at, id)`: a
 * row inserted while a client pages through never shifts or repeats what it sees.
 * Throws `InvalidCursorError` for a cursor this function did not produce.
 *
 * @example
 * let page = await getCommunicationHistory(db, { planId: 'plan-7', limit: 20 });
 * while (page.nextCursor) page = await getCommunicationHistory(db, { planId: 'plan-7', cursor: page.nextCursor });
 */
export async function getCommunicationHistory(db: Executor, query: HistoryQuery = {}): Promise<HistoryPage> {
  const limit = query.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new RangeError('limit must be an integer from 1 to 500');
  const after = query.cursor ? decodeCursor(query.cursor) : null;

  let select = db.selectFrom('crm_communications').selectAll();
  if (query.planId !== undefined) select = select.where('plan_id', '=', query.planId);
  if (query.clientId !== undefined) select = select.where('client_id', '=', query.clientId);
  if (query.channel !== undefined) select = select.where('channel', 'in', asList(query.channel));
  if (query.status !== undefined) select = select.where('status', 'in', asList(query.status));
  if (query.messageType !== undefined) select = select.where('message_type', 'in', asList(query.messageType));
  if (query.from !== undefined) select = select.where('created_at', '>=', query.from);
  if (query.to !== undefined) select = select.where('created_at', '<', query.to);
  if (after) {
    select = select.where((eb) => eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(after.createdAt, after.id)));
  }
  const rows = await select
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();

  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items,
    nextCursor: rows.length > limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null,
  };
}
