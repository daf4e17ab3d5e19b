import { InvalidCursorError } from './errors';

/** A position in the history's order `(created_at DESC, id DESC)`. */
export interface HistoryPosition {
  readonly createdAt: Date;
  readonly id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Encodes a position as an opaque, URL-safe cursor. */
export function encodeCursor(position: HistoryPosition): string {
  return Buffer.from(`${position.createdAt.toISOString()}|${position.id}`, 'utf8').toString('base64url');
}

/** Decodes a cursor from {@link encodeCursor}; throws {@link InvalidCursorError} on anything else. */
export function decodeCursor(cursor: string): HistoryPosition {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const [iso, id, ...rest] = text.split('|');
  const createdAt = new Date(iso ?? '');
  if (rest.length > 0 || id === undefined || !UUID.test(id) || Number.isNaN(createdAt.getTime())) {
    throw new InvalidCursorError();
  }
  if (createdAt.toISOString() !== iso) throw new InvalidCursorError();
  return { createdAt, id };
}
