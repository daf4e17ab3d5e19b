import type { JsonObject } from './validators';
import type { StoredMessageType } from './plain-text';

/**
 * What a client's inbound SMS or WhatsApp message means (issue 7): a keyword that changes their
 * subscription, a request for help, or an answer, possibly picking one of the options a message
 * offered. Pure: matching the reply to its client and communication happens in the database.
 */

/**
 * Opt-out keywords: the CTIA / Twilio Advanced Opt-Out set. Each opts the sender out of the
 * channel the reply came on.
 */
export const optOutKeywords: ReadonlySet<string> = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT']);
/** Keywords that opt a sender back in. */
export const optInKeywords: ReadonlySet<string> = new Set(['START', 'UNSTOP']);
/** Keywords that ask for the help text. */
export const helpKeywords: ReadonlySet<string> = new Set(['HELP', 'INFO']);

export type InboundReply =
  | { readonly kind: 'opt_out'; readonly keyword: string }
  | { readonly kind: 'opt_in'; readonly keyword: string }
  | { readonly kind: 'help'; readonly keyword: string }
  /** An answer. `selection`: the option number it picks (1-based), if it reads as one. */
  | { readonly kind: 'reply'; readonly selection: number | null };

/** Words for the first ten option numbers, as clients type them. */
const numberWords: Readonly<Record<string, number>> = Object.freeze({
  one: 1, first: 1, '1st': 1,
  two: 2, second: 2, '2nd': 2,
  three: 3, third: 3, '3rd': 3,
  four: 4, fourth: 4, '4th': 4,
  five: 5, fifth: 5, '5th': 5,
  six: 6, sixth: 6, '6th': 6,
  seven: 7, seventh: 7, '7th': 7,
  eight: 8, eighth: 8, '8th': 8,
  nine: 9, ninth: 9, '9th': 9,
  ten: 10, tenth: 10, '10th': 10,
});

/**
 * A selection as clients write it: the whole message is a number or a number word, optionally
 * after `option`, `choice`, `number`, `no.`, `#` or `I (choose|pick|want|take)`, and optionally
 * followed by `please`/`thanks` and punctuation. "2", "option 2", "#2", "Option #2.", "the second one",
 * "I'll take 3 please". A message that merely contains a number elsewhere ("call me at 5") is not one.
 */
const selectionPattern =
  /^(?:(?:i(?:'ll| will)?|we(?:'ll| will)?)\s+(?:choose|pick|want|take|go with|select)\s+)?(?:the\s+)?(?:(?:option|choice|number|no\.?|vendor)\s*)?#?\s*([0-9]{1,2}|[a-z0-9]+?)(?:\s+(?:one|option|choice))?\s*(?:,?\s*(?:please|pls|thanks|thank you))?\s*[.!)]*$/i;

/** Normalises a message for keyword matching: trimmed, surrounding punctuation removed, upper-cased. */
const keywordOf = (text: string): string => text.trim().replace(/^[\s"'“”.!?]+|[\s"'“”.!?]+$/g, '').toUpperCase();

/**
 * What a text reply means. Keywords match the whole message (case, surrounding spaces and
 * punctuation ignored), as carriers match them: "stop" and "Stop." opt out, "please stop
 * texting me" is an answer (a human should read it, not a robot). Anything else is an answer;
 * its `selection` is the option number it names, if it reads as a choice and is within
 * `optionCount` when that is given.
 *
 * @example parseInboundText('STOP') // { kind: 'opt_out', keyword: 'STOP' }
 * @example parseInboundText('option 2', 3) // { kind: 'reply', selection: 2 }
 * @example parseInboundText('the second one') // { kind: 'reply', selection: 2 }
 * @example parseInboundText('5', 3) // { kind: 'reply', selection: null }
 */
export function parseInboundText(text: string, optionCount?: number | null): InboundReply {
  const keyword = keywordOf(text);
  if (optOutKeywords.has(keyword)) return { kind: 'opt_out', keyword };
  if (optInKeywords.has(keyword)) return { kind: 'opt_in', keyword };
  if (helpKeywords.has(keyword)) return { kind: 'help', keyword };
  return { kind: 'reply', selection: withinOptions(selectionOf(text), optionCount) };
}

/** The option number a text names, or `null`. */
export function selectionOf(text: string): number | null {
  const match = selectionPattern.exec(text.trim().replace(/\s+/g, ' '));
  const token = match?.[1]?.toLowerCase();
  if (token === undefined) return null;
  const value = /^\d{1,2}$/.test(token) ? Number(token) : Object.hasOwn(numberWords, token) ? numberWords[token]! : null;
  return value !== null && value >= 1 ? value : null;
}

const withinOptions = (selection: number | null, optionCount?: number | null): number | null =>
  selection !== null && (optionCount === undefined || optionCount === null || selection <= optionCount) ? selection : null;

/**
 * How many options a message offers its client to choose from, or `null` when it asks for no
 * choice: a `vendor_options` message offers its `vendors` (the WhatsApp buttons or list and the
 * SMS "Reply 1-3"), any message may offer `options` (an array) in its variables.
 *
 * @example replyOptionCount('vendor_options', { vendors: [{ name: 'A' }, { name: 'B' }] }) // 2
 * @example replyOptionCount('welcome', {}) // null
 */
export function replyOptionCount(messageType: StoredMessageType, variables: JsonObject): number | null {
  const list = messageType === 'vendor_options' ? variables.vendors : variables.options;
  return Array.isArray(list) && list.length > 0 ? list.length : null;
}

/** Message types that ask the client a question, so that a reply is matched to them. */
export const replyAwaitingMessageTypes: readonly StoredMessageType[] = Object.freeze(['vendor_options']);

/**
 * Whether a message waits for an answer: it offers options ({@link replyOptionCount}), is of a
 * type that asks a question (`vendor_options`), or its request said so with
 * `metadata.expectsReply: true`.
 *
 * @example awaitsReply('reminder', {}, { expectsReply: true }) // true
 */
export function awaitsReply(messageType: StoredMessageType, variables: JsonObject, metadata: JsonObject): boolean {
  return replyAwaitingMessageTypes.includes(messageType) || replyOptionCount(messageType, variables) !== null || metadata.expectsReply === true;
}
