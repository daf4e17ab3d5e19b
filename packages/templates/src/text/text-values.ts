import { smsSegments, type JsonObject, type JsonValue } from '@crm/core';

/**
 * Readers of a message's variables for the SMS and WhatsApp texts. Variables are untrusted JSON:
 * any may be missing or of the wrong type, so every reader returns an empty value (`''`, `[]`,
 * `null`) instead of throwing, and the text leaves that part out.
 */

/**
 * Control (Unicode category Cc, except the whitespace ones), format (Cf: zero-width spaces and
 * non-joiners, bidi marks, BOM; the zero-width joiner stays, emoji sequences need it) and
 * line/paragraph separator characters: never sent.
 */
const INVISIBLE = /(?![\t\n\v\f\r\u200d])[\p{Cc}\p{Cf}\u2028\u2029]/gu;

/**
 * A variable as one line of text: a string with control characters removed and every run of
 * whitespace (line breaks, tabs, no-break spaces) turned into one space, trimmed; a finite number
 * in its plain form when `numbers` is set; anything else `''`.
 *
 * @example lineText('  Hart &\n Osei  ') // 'Hart & Osei'
 * @example lineText(42) // '' (but '42' with `{ numbers: true }`)
 */
export function lineText(value: unknown, options: { readonly numbers?: boolean } = {}): string {
  if (typeof value === 'number') return options.numbers === true && Number.isFinite(value) ? String(value) : '';
  if (typeof value !== 'string') return '';
  return value.replace(INVISIBLE, '').replace(/\s+/g, ' ').trim();
}

/**
 * Typographic punctuation replaced by its GSM-7 look-alike (’ ‘ → ', “ ” → ", – — → -, … → ...),
 * so that "O’Brien" does not turn a whole SMS into UCS-2 (70 characters instead of 160). Letters
 * are never changed: "Zoë" stays "Zoë" and the text becomes UCS-2.
 *
 * @example gsmPunctuation('O’Brien – “Gala”…') // 'O\'Brien - "Gala"...'
 */
export function gsmPunctuation(text: string): string {
  return text
    .replace(/[\u2018\u2019\u201a\u201b\u2032]/g, "'")
    .replace(/[\u201c\u201d\u201e\u201f\u2033]/g, '"')
    .replace(/[\u2010-\u2015\u2212]/g, '-')
    .replace(/\u2026/g, '...');
}

/**
 * Whether `text` is GSM-7 (so it costs no UCS-2 switch in an SMS).
 *
 * @example isGsm7('€5') // true
 * @example isGsm7('₹5') // false
 */
export const isGsm7 = (text: string): boolean => smsSegments(text).encoding === 'GSM-7';

/**
 * What is appended to a shortened text: three dots, which GSM-7 has (the "…" character it has not).
 *
 * @example `${'The Fortieth'}${ELLIPSIS}` // 'The Fortieth...'
 */
export const ELLIPSIS = '...';

/** A word's trailing characters that should not stand before an ellipsis ("Hart &..." → "Hart..."). */
const trailingJoiners = /[\s,;:&+/\-–—(]+$/;
/** Small words that should not end a shortened text ("The Grand Ballroom at..." → "The Grand Ballroom..."). */
const trailingSmallWords = new Set(['a', 'an', 'and', 'at', 'by', 'de', 'for', 'in', 'of', 'on', 'or', 'the', 'to', 'with', 'von', 'van', 'y', 'et', 'und', '&', '+', '-']);

/**
 * `text` shortened to at most `max` UTF-16 units at a word boundary, with `...` appended when
 * anything was left out; words are never cut, and a small word ("at", "of", "the") or a joiner
 * ("&", ",") does not end it. `null` when not even the first word fits (the caller then keeps
 * the text whole, drops it, or uses {@link clampText} for a hard limit).
 *
 * @example shortenAtWord('The Fortieth Anniversary Celebration', 24) // 'The Fortieth...'
 * @example shortenAtWord('Lumen Studio', 20) // 'Lumen Studio'
 * @example shortenAtWord('Supercalifragilistic', 5) // null
 */
export function shortenAtWord(text: string, max: number, ellipsis: string = ELLIPSIS): string | null {
  if (text.length <= max) return text;
  const kept: string[] = [];
  for (const word of text.split(' ')) {
    if ([...kept, word].join(' ').replace(trailingJoiners, '').length + ellipsis.length > max) break;
    kept.push(word);
  }
  while (kept.length > 1 && trailingSmallWords.has((kept[kept.length - 1] ?? '').replace(trailingJoiners, '').toLowerCase())) kept.pop();
  const shown = kept.join(' ').replace(trailingJoiners, '');
  return shown === '' ? null : `${shown}${ellipsis}`;
}

/**
 * `text` within a hard limit of `max` UTF-16 units (a WhatsApp button or row title): shortened at
 * a word boundary when a word fits, else cut between characters (never inside a surrogate
 * pair), with `…` appended. For WhatsApp only, where Meta rejects a longer field.
 *
 * @example clampText('Harbourview Hall and Gardens', 20) // 'Harbourview Hall…'
 * @example clampText('Supercalifragilisticexpialidocious', 10) // 'Supercali…'
 */
export function clampText(text: string, max: number): string {
  if (text.length <= max) return text;
  const atWord = shortenAtWord(text, max, '…');
  if (atWord !== null) return atWord;
  let kept = '';
  for (const char of text) {
    if (kept.length + char.length + 1 > max) break;
    kept += char;
  }
  return `${kept}…`;
}

const HONORIFIC = /^(mr|mrs|ms|mx|miss|dr|prof|sir|dame)\.?$/i;

/**
 * The ways to address a person, longest first, ending with `''` (no name): the full name, then
 * the first name ("Amelia Hart" → "Amelia"; "Dr. Amelia Hart" → "Dr. Hart").
 *
 * @example personNameForms('Amelia Hart') // ['Amelia Hart', 'Amelia', '']
 * @example personNameForms('') // ['']
 */
export function personNameForms(name: string): string[] {
  if (name === '') return [''];
  const words = name.split(' ');
  const first = words.length > 1 && HONORIFIC.test(words[0] ?? '') ? `${words[0]} ${words[words.length - 1]}` : (words[0] ?? '');
  return unique([name, first, '']);
}

/**
 * `values` without repeats, in order.
 *
 * @example unique(['Ada', 'Ada', '']) // ['Ada', '']
 */
export const unique = (values: readonly string[]): string[] => [...new Set(values)];

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Amounts at or above this are shown as nothing: no budget has them, and they would fill an SMS. */
const MAX_AMOUNT = 1e15;

/**
 * An amount of money for a short text: `$18,500`, `€1,234.50` (cents only when there are any),
 * `INR 18,500` when `gsm` is set and the currency's symbol is not GSM-7 (so `₹` does not turn an
 * SMS into UCS-2). A number or numeric string is formatted; another non-empty string is shown as
 * given (`'$54 per guest'`); anything else, or an absurd amount, is `''`.
 *
 * @example moneyText(18500, 'USD') // '$18,500'
 * @example moneyText(2600.5, 'EUR') // '€2,600.50'
 * @example moneyText('$54 per guest', 'USD') // '$54 per guest'
 */
export function moneyText(amount: unknown, currency: unknown, options: { readonly gsm?: boolean } = {}): string {
  const given = lineText(amount);
  const value = typeof amount === 'number' ? amount : given !== '' && /^-?\d+(\.\d+)?$/.test(given) ? Number(given) : Number.NaN;
  if (!Number.isFinite(value)) return options.gsm === true ? gsmPunctuation(given) : given;
  if (Math.abs(value) >= MAX_AMOUNT) return '';
  const code = typeof currency === 'string' && /^[A-Za-z]{3}$/.test(currency.trim()) ? currency.trim().toUpperCase() : '';
  const digits = Number.isInteger(value) ? 0 : 2;
  const format = (display: 'symbol' | 'code'): string =>
    new Intl.NumberFormat('en-US', { style: 'currency', currency: code, currencyDisplay: display, minimumFractionDigits: digits, maximumFractionDigits: digits })
      .format(value)
      .replace(/[\u00a0\u202f]/g, ' ');
  const plain = new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
  if (code === '') return plain;
  try {
    const symbol = format('symbol');
    return options.gsm === true && !isGsm7(symbol) ? format('code') : symbol;
  } catch {
    // A code Intl does not know: the number, then the code as given.
    return `${plain} ${code}`;
  }
}

/**
 * The first of `keys` whose value is an absolute http(s) URL with no spaces, as given (a link is
 * never shortened or cut), or `''`.
 *
 * @example linkOf({ shortUrl: 'https://x.co/b7' }, ['shortUrl', 'url']) // 'https://x.co/b7'
 */
export function linkOf(variables: JsonObject, keys: readonly string[]): string {
  for (const key of keys) {
    const value = Object.hasOwn(variables, key) ? variables[key] : undefined;
    if (typeof value !== 'string') continue;
    const url = value.trim();
    if (!/^https?:\/\/[^\s]+$/i.test(url) || url.length > 2000) continue;
    try {
      if (['http:', 'https:'].includes(new URL(url).protocol)) return url;
    } catch {
      // Not a URL: try the next key.
    }
  }
  return '';
}

/**
 * A variable by name, own properties only (never one inherited from a prototype).
 *
 * @example variable({ total: 5 }, 'total') // 5
 * @example variable({}, 'toString') // undefined
 */
export const variable = (variables: JsonObject, key: string): JsonValue | undefined => (Object.hasOwn(variables, key) ? variables[key] : undefined);

/** One vendor of a `vendor_options` message, as the texts show it. */
export interface VendorOption {
  /** Its option number, 1-based: the position in `variables.vendors`. */
  readonly number: number;
  readonly name: string;
  /** `''` when not given. */
  readonly category: string;
  /** Formatted ({@link moneyText}); `''` when not given. */
  readonly price: string;
  /** An http(s) link, `''` when not given. */
  readonly url: string;
}

/**
 * The vendors of a `vendor_options` message. Every entry keeps its position as its option number
 * (the number a client replies with, as `replyOptionCount` in @crm/core counts them); an entry
 * that is not an object or has no name is shown as `Option N`.
 *
 * @example vendorsOf({ vendors: [{ name: 'Lumen Studio', price: 2600 }], currency: 'USD' })[0] // { number: 1, name: 'Lumen Studio', category: '', price: '$2,600', url: '' }
 */
export function vendorsOf(variables: JsonObject, options: { readonly gsm?: boolean } = {}): VendorOption[] {
  const vendors = variable(variables, 'vendors');
  if (!Array.isArray(vendors)) return [];
  const clean = (text: string): string => (options.gsm === true ? gsmPunctuation(text) : text);
  return vendors.map((vendor, index) => {
    const entry = isObject(vendor) ? vendor : {};
    const currency = variable(entry, 'currency') ?? variable(variables, 'currency');
    return {
      number: index + 1,
      name: clean(lineText(variable(entry, 'name'))) || `Option ${index + 1}`,
      category: clean(lineText(variable(entry, 'category'))),
      price: moneyText(variable(entry, 'price'), currency, options),
      url: linkOf(entry, ['url', 'link']),
    };
  });
}

/** One category of a budget. */
export interface BudgetCategory {
  readonly name: string;
  /** Formatted ({@link moneyText}); `''` when not given. */
  readonly amount: string;
  /** The amount as a number for ordering; `0` when not a number. */
  readonly value: number;
}

/**
 * The categories of a `budget_summary` message that have a name, in the given order; amounts
 * formatted in the message's `currency`.
 *
 * @example budgetCategoriesOf({ currency: 'USD', categories: [{ name: 'Venue', amount: 7200 }, 'junk'] }) // [{ name: 'Venue', amount: '$7,200', value: 7200 }]
 */
export function budgetCategoriesOf(variables: JsonObject, options: { readonly gsm?: boolean } = {}): BudgetCategory[] {
  const categories = variable(variables, 'categories');
  if (!Array.isArray(categories)) return [];
  const currency = variable(variables, 'currency');
  return categories.flatMap((category): BudgetCategory[] => {
    if (!isObject(category)) return [];
    const name = lineText(variable(category, 'name'));
    if (name === '') return [];
    const amount = variable(category, 'amount');
    return [{ name: options.gsm === true ? gsmPunctuation(name) : name, amount: moneyText(amount, currency, options), value: typeof amount === 'number' && Number.isFinite(amount) ? amount : 0 }];
  });
}

/**
 * A string variable as a clean line ({@link lineText}), with GSM-7 punctuation for SMS.
 *
 * @example textOf({ eventName: ' Gala ' }, 'eventName', true) // 'Gala'
 */
export function textOf(variables: JsonObject, key: string, gsm: boolean, options: { readonly numbers?: boolean } = {}): string {
  const text = lineText(variable(variables, key), options);
  return gsm ? gsmPunctuation(text) : text;
}
