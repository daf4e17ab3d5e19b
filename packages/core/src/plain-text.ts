import type { JsonObject } from './validators';
import type { MessageType } from './enums';

/**
 * The title of each message type: the email subject and the WhatsApp heading of the plain-text
 * messages the engine sends until the templates issue brings real templates.
 */
export const messageTitles: Readonly<Record<MessageType, string>> = Object.freeze({
  welcome: 'Welcome to your event plan',
  budget_summary: 'Your budget summary is ready',
  vendor_options: 'Vendor options for your event',
  selection_confirmation: 'Your selection is confirmed',
  blueprint_delivery: 'Your event blueprint',
  error_notification: 'Something went wrong with your plan',
  reminder: 'A reminder about your event plan',
});

const display = (value: unknown): string =>
  typeof value === 'string' ? value : value === null || value === undefined ? '' : JSON.stringify(value);

/**
 * A request's variables as plain text: the client's name (`clientName`, trimmed, '' if none)
 * and every other variable as a `key: value` line.
 *
 * @example plainVariables({ clientName: ' Ada ', total: 18500 }) // { name: 'Ada', details: ['total: 18500'] }
 */
export function plainVariables(variables: JsonObject): { readonly name: string; readonly details: string[] } {
  return {
    name: display(variables.clientName).trim(),
    details: Object.entries(variables)
      .filter(([key]) => key !== 'clientName')
      .map(([key, value]) => `${key}: ${display(value)}`),
  };
}

/** The message type of a digest: the engine makes it, a request cannot ask for it. */
export const digestMessageType = 'digest' as const;
/** A message type as stored: a request's type, or a digest. */
export type StoredMessageType = MessageType | typeof digestMessageType;

/** One item of a digest, as its digest communication stores it in `variables.items`. */
export interface DigestItem {
  readonly communicationId: string;
  readonly messageType: MessageType;
  readonly variables: JsonObject;
}

/** The subject and heading of a digest of `count` items. */
export const digestTitle = (count: number): string => `${count} update${count === 1 ? '' : 's'} on your event plan`;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The items of a digest communication's variables (`{ clientName?, items: DigestItem[] }`), in
 * the order they arrived; malformed entries are skipped.
 *
 * @example digestItems({ items: [{ communicationId: 'c1', messageType: 'reminder', variables: {} }] }).length // 1
 */
export function digestItems(variables: JsonObject): DigestItem[] {
  const items = variables.items;
  if (!Array.isArray(items)) return [];
  return items.flatMap((item): DigestItem[] =>
    isObject(item) && typeof item.communicationId === 'string' && typeof item.messageType === 'string' && Object.hasOwn(messageTitles, item.messageType)
      ? [{ communicationId: item.communicationId, messageType: item.messageType as MessageType, variables: isObject(item.variables) ? item.variables : {} }]
      : [],
  );
}

/**
 * A digest message's variables: the client's name (from the latest item that has one) and the
 * items in arrival order. The inverse of {@link digestItems}.
 *
 * @example digestVariables([{ communicationId: 'c1', messageType: 'reminder', variables: { clientName: 'Ada' } }])
 * // { clientName: 'Ada', items: [{ communicationId: 'c1', messageType: 'reminder', variables: { clientName: 'Ada' } }] }
 */
export function digestVariables(items: readonly DigestItem[], clientName?: string): JsonObject {
  const name = clientName ?? [...items].reverse().map((item) => item.variables.clientName).find((value): value is string => typeof value === 'string');
  return {
    ...(name !== undefined && { clientName: name }),
    items: items.map(({ communicationId, messageType, variables }) => ({ communicationId, messageType, variables })),
  };
}
