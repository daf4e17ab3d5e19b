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
