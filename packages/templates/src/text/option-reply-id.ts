/** The prefix of the ids of reply buttons and list rows that pick an option. */
const OPTION_PREFIX = 'option:';
const OPTION_ID = /^option:([1-9][0-9]{0,5})$/;

/**
 * The id of the WhatsApp reply button or list row that picks option `n` (1-based): `option:<n>`.
 * Meta returns it in the inbound message (`interactive.button_reply.id` / `list_reply.id`);
 * {@link optionNumberOfReplyId} reads it back.
 *
 * @throws RangeError when `n` is not a positive integer below 1,000,000.
 * @example optionReplyId(2) // 'option:2'
 */
export function optionReplyId(n: number): string {
  if (!Number.isInteger(n) || n < 1 || n >= 1_000_000) throw new RangeError(`optionReplyId: an option number is a positive integer, got ${String(n)}`);
  return `${OPTION_PREFIX}${n}`;
}

/**
 * The option number of a reply id made by {@link optionReplyId}, or `null` for any other id.
 *
 * @example optionNumberOfReplyId('option:2') // 2
 * @example optionNumberOfReplyId('option:02') // null
 */
export function optionNumberOfReplyId(id: string): number | null {
  if (typeof id !== 'string') return null;
  const match = OPTION_ID.exec(id);
  return match ? Number(match[1]) : null;
}
