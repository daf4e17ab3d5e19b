import Handlebars from 'handlebars';
import { messageTitles, type JsonObject } from '@crm/core';

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * An amount of money in a currency, for people: `money 18500 "USD"` → `$18,500.00`. A numeric
 * string counts as a number; anything else, or an unknown currency code, is shown as given.
 *
 * @example formatMoney(18500, 'USD') // '$18,500.00'
 */
export function formatMoney(amount: unknown, currency: unknown): string {
  const value = typeof amount === 'number' ? amount : typeof amount === 'string' && amount.trim() !== '' ? Number(amount) : Number.NaN;
  const code = typeof currency === 'string' ? currency.trim().toUpperCase() : '';
  const shown = amount === null || amount === undefined ? '' : String(amount);
  if (!Number.isFinite(value)) return [shown, code].filter(Boolean).join(' ');
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency: code }).format(value);
  } catch {
    // No or unknown currency code: the number alone, then the code as given.
    return [new Intl.NumberFormat('en-US').format(value), code].filter(Boolean).join(' ');
  }
}

/**
 * The title of a message type (a digest item's heading): `messageTitles`, or the type itself.
 *
 * @example messageTypeTitle('reminder') // 'A reminder about your event plan'
 */
export function messageTypeTitle(messageType: unknown): string {
  const type = typeof messageType === 'string' ? messageType : '';
  return Object.hasOwn(messageTitles, type) ? messageTitles[type as keyof typeof messageTitles] : type;
}

/** `eventName` → `Event name`, `due_date` → `Due date`. */
const label = (key: string): string => {
  const words = key.replace(/[_-]+/g, ' ').replace(/([a-z0-9])([A-Z])/g, '$1 $2').trim().toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
};

/** Keys that hold an amount when the variables also have a `currency`. */
const amountKeys = new Set(['total', 'price', 'amount', 'budget', 'cost']);

/**
 * A message's variables as `Label: value` lines for people (all but `clientName` and
 * `currency`): camelCase keys become words, amounts are formatted in the message's currency,
 * lists and objects are shown as JSON. The body of a digest item.
 *
 * @example variableLines({ clientName: 'Ada', dueDate: 'Friday', price: 2600, currency: 'USD' }) // ['Due date: Friday', 'Price: $2,600.00']
 */
export function variableLines(variables: unknown): string[] {
  if (!isObject(variables)) return [];
  const currency = variables.currency;
  return Object.entries(variables)
    .filter(([key]) => key !== 'clientName' && !(key === 'currency' && typeof currency === 'string'))
    .map(([key, value]) => {
      if (amountKeys.has(key) && typeof currency === 'string') return `${label(key)}: ${formatMoney(value, currency)}`;
      const shown = typeof value === 'string' ? value : value === null || value === undefined ? '' : JSON.stringify(value);
      return `${label(key)}: ${shown}`;
    });
}

/** The helpers every template may call; only these (and Handlebars' built-ins) compile. */
export const templateHelpers = Object.freeze({
  money: formatMoney,
  title: messageTypeTitle,
  details: variableLines,
});

/** A private Handlebars instance with {@link templateHelpers}; the global one stays untouched. */
export const handlebars: typeof Handlebars = (() => {
  const instance = Handlebars.create();
  for (const [name, helper] of Object.entries(templateHelpers)) instance.registerHelper(name, helper);
  return instance;
})();
