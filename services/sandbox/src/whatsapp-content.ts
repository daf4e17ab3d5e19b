/**
 * The interactive and template parts of a Cloud API send request, checked as Meta checks them
 * and reduced to what the outbox keeps. Pure functions: a violation is returned (with the Graph
 * code Meta answers it with), never thrown.
 */

/** One reply button of an interactive `button` message. */
export interface SandboxReplyButton {
  readonly id: string;
  readonly title: string;
}

/** One row of an interactive `list` message. */
export interface SandboxListRow {
  readonly id: string;
  readonly title: string;
  readonly description: string | null;
}

/** One section of an interactive `list` message. */
export interface SandboxListSection {
  readonly title: string | null;
  readonly rows: readonly SandboxListRow[];
}

/** An interactive message as stored: reply buttons or a list. `header` is a text header's text. */
export type SandboxInteractive =
  | {
      readonly type: 'button';
      readonly header: string | null;
      readonly body: string;
      readonly footer: string | null;
      readonly buttons: readonly SandboxReplyButton[];
    }
  | {
      readonly type: 'list';
      readonly header: string | null;
      readonly body: string;
      readonly footer: string | null;
      /** The label of the button that opens the list. */
      readonly button: string;
      readonly sections: readonly SandboxListSection[];
    };

/** A template message as stored. */
export interface SandboxTemplate {
  readonly name: string;
  /** `language.code`, e.g. `en_US`. */
  readonly language: string;
  /** The `text` of each parameter of the `body` component, in order. */
  readonly bodyParameters: readonly string[];
  /** The `components` as sent (header and button parameters included). */
  readonly components: readonly unknown[];
}

/**
 * What Meta answers a bad parameter with: 100 (invalid parameter: wrong type or value),
 * 131008 (required parameter is missing), 131009 (parameter value is not valid: a length,
 * count or uniqueness limit).
 */
export type ContentErrorCode = 100 | 131008 | 131009;

/** A checked part: its stored form, or the Graph code and `error_data.details` to answer with. */
export type ContentResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: ContentErrorCode; readonly details: string };

/** Limits of interactive messages (Meta's "Interactive object" reference). */
export const INTERACTIVE_LIMITS = Object.freeze({
  bodyText: 1024,
  footerText: 60,
  headerText: 60,
  buttons: 3,
  buttonTitle: 20,
  buttonId: 256,
  listButton: 20,
  sections: 10,
  rows: 10,
  sectionTitle: 24,
  rowId: 200,
  rowTitle: 24,
  rowDescription: 72,
});

/** Template names Meta accepts: lower-case letters, digits and underscores. */
export const TEMPLATE_NAME = /^[a-z0-9_]{1,512}$/;
/** A template language code: `en`, `pt_BR`, `zh_HK`… */
export const TEMPLATE_LANGUAGE = /^[a-z]{2,3}(_[A-Z]{2,4})?$/;

type Fail = { readonly ok: false; readonly code: ContentErrorCode; readonly details: string };

const missing = (path: string): Fail => ({ ok: false, code: 131008, details: `The parameter ${path} is required.` });
const invalidValue = (details: string): Fail => ({ ok: false, code: 131009, details });
const invalidParam = (details: string): Fail => ({ ok: false, code: 100, details });
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
/** Length in characters (code points), as Meta counts them. */
const length = (text: string): number => [...text].length;

/**
 * A required string at `path`: missing or empty is 131008, another type 100, longer than
 * `max` characters 131009 (named `label` in the details, as Meta's "Button title length
 * invalid. Min length: 1, Max length: 20").
 */
function requiredText(value: unknown, path: string, label: string, max: number): ContentResult<string> {
  if (value === undefined || value === null || value === '') return missing(path);
  if (typeof value !== 'string') return invalidParam(`Param ${path} must be a string.`);
  if (length(value) > max) return invalidValue(`${label} length invalid. Min length: 1, Max length: ${max}`);
  return { ok: true, value };
}

/** An optional `{ text }` object (footer) at `path`: `null` when absent. */
function optionalTextObject(value: unknown, path: string, label: string, max: number): ContentResult<string | null> {
  if (value === undefined) return { ok: true, value: null };
  if (!isRecord(value)) return invalidParam(`Param ${path} must be an object.`);
  return requiredText(value.text, `${path}['text']`, label, max);
}

/** An optional header: only `{ type: 'text', text }` is supported by the sandbox. */
function optionalHeader(value: unknown): ContentResult<string | null> {
  if (value === undefined) return { ok: true, value: null };
  if (!isRecord(value)) return invalidParam("Param interactive['header'] must be an object.");
  if (value.type !== 'text') return invalidParam("Param interactive['header']['type'] must be text in the sandbox.");
  return requiredText(value.text, "interactive['header']['text']", 'Header text', INTERACTIVE_LIMITS.headerText);
}

/** An array at `path` of `min`–`max` items (missing: 131008; not an array: 100; count: 131009). */
function itemsOf(value: unknown, path: string, label: string, min: number, max: number): ContentResult<readonly unknown[]> {
  if (value === undefined || value === null) return missing(path);
  if (!Array.isArray(value)) return invalidParam(`Param ${path} must be an array.`);
  if (value.length < min || value.length > max) return invalidValue(`${label} count invalid. Min: ${min}, Max: ${max}`);
  return { ok: true, value };
}

function replyButtons(value: unknown): ContentResult<SandboxReplyButton[]> {
  const path = "interactive['action']['buttons']";
  const items = itemsOf(value, path, 'Buttons', 1, INTERACTIVE_LIMITS.buttons);
  if (!items.ok) return items;
  const buttons: SandboxReplyButton[] = [];
  for (const [index, item] of items.value.entries()) {
    const at = `${path}[${index}]`;
    if (!isRecord(item)) return invalidParam(`Param ${at} must be an object.`);
    if (item.type !== 'reply') return item.type === undefined ? missing(`${at}['type']`) : invalidParam(`Param ${at}['type'] must be reply.`);
    if (!isRecord(item.reply)) return missing(`${at}['reply']`);
    const id = requiredText(item.reply.id, `${at}['reply']['id']`, 'Button id', INTERACTIVE_LIMITS.buttonId);
    if (!id.ok) return id;
    const title = requiredText(item.reply.title, `${at}['reply']['title']`, 'Button title', INTERACTIVE_LIMITS.buttonTitle);
    if (!title.ok) return title;
    if (buttons.some((button) => button.id === id.value)) return invalidValue('Duplicate button id. Each button id must be unique within the message.');
    if (buttons.some((button) => button.title === title.value)) return invalidValue('Duplicate button title. Each button title must be unique within the message.');
    buttons.push({ id: id.value, title: title.value });
  }
  return { ok: true, value: buttons };
}

function listSections(value: unknown): ContentResult<SandboxListSection[]> {
  const path = "interactive['action']['sections']";
  const items = itemsOf(value, path, 'Sections', 1, INTERACTIVE_LIMITS.sections);
  if (!items.ok) return items;
  const sections: SandboxListSection[] = [];
  const ids = new Set<string>();
  for (const [index, item] of items.value.entries()) {
    const at = `${path}[${index}]`;
    if (!isRecord(item)) return invalidParam(`Param ${at} must be an object.`);
    let title: string | null = null;
    if (item.title !== undefined || items.value.length > 1) {
      const checked = requiredText(item.title, `${at}['title']`, 'Section title', INTERACTIVE_LIMITS.sectionTitle);
      if (!checked.ok) return checked;
      title = checked.value;
    }
    const rowItems = itemsOf(item.rows, `${at}['rows']`, 'Rows', 1, INTERACTIVE_LIMITS.rows);
    if (!rowItems.ok) return rowItems;
    const rows: SandboxListRow[] = [];
    for (const [rowIndex, row] of rowItems.value.entries()) {
      const rowAt = `${at}['rows'][${rowIndex}]`;
      if (!isRecord(row)) return invalidParam(`Param ${rowAt} must be an object.`);
      const id = requiredText(row.id, `${rowAt}['id']`, 'Row id', INTERACTIVE_LIMITS.rowId);
      if (!id.ok) return id;
      const rowTitle = requiredText(row.title, `${rowAt}['title']`, 'Row title', INTERACTIVE_LIMITS.rowTitle);
      if (!rowTitle.ok) return rowTitle;
      let description: string | null = null;
      if (row.description !== undefined) {
        const checked = requiredText(row.description, `${rowAt}['description']`, 'Row description', INTERACTIVE_LIMITS.rowDescription);
        if (!checked.ok) return checked;
        description = checked.value;
      }
      if (ids.has(id.value)) return invalidValue('Duplicate row id. Each row id must be unique within the message.');
      ids.add(id.value);
      rows.push({ id: id.value, title: rowTitle.value, description });
    }
    sections.push({ title, rows });
  }
  const total = sections.reduce((sum, section) => sum + section.rows.length, 0);
  if (total > INTERACTIVE_LIMITS.rows) return invalidValue(`Total row count invalid. Min: 1, Max: ${INTERACTIVE_LIMITS.rows}`);
  return { ok: true, value: sections };
}

/**
 * Checks the `interactive` object of a send request (`button` with reply buttons, or `list`)
 * against Meta's limits: body 1–1,024 characters, footer and text header ≤ 60; 1–3 buttons,
 * titles 1–20 and unique, ids ≤ 256 and unique; a list button label ≤ 20, 1–10 sections with
 * 1–10 rows in all, section and row titles ≤ 24, row ids ≤ 200 and unique, descriptions ≤ 72.
 *
 * @example
 * checkInteractive({ type: 'button', body: { text: 'Pick one' }, action: { buttons: [{ type: 'reply', reply: { id: 'a', title: 'A' } }] } })
 * // { ok: true, value: { type: 'button', header: null, body: 'Pick one', footer: null, buttons: [{ id: 'a', title: 'A' }] } }
 * checkInteractive({ type: 'button', body: { text: 'x' }, action: { buttons: [] } }) // { ok: false, code: 131009, … }
 */
export function checkInteractive(value: unknown): ContentResult<SandboxInteractive> {
  if (value === undefined || value === null) return missing('interactive');
  if (!isRecord(value)) return invalidParam('Param interactive must be an object.');
  if (value.type === undefined) return missing("interactive['type']");
  if (value.type !== 'button' && value.type !== 'list') return invalidParam("Param interactive['type'] must be one of {button, list} in the sandbox.");
  const header = optionalHeader(value.header);
  if (!header.ok) return header;
  if (!isRecord(value.body)) return value.body === undefined ? missing("interactive['body']") : invalidParam("Param interactive['body'] must be an object.");
  const body = requiredText(value.body.text, "interactive['body']['text']", 'Body text', INTERACTIVE_LIMITS.bodyText);
  if (!body.ok) return body;
  const footer = optionalTextObject(value.footer, "interactive['footer']", 'Footer text', INTERACTIVE_LIMITS.footerText);
  if (!footer.ok) return footer;
  if (!isRecord(value.action)) return value.action === undefined ? missing("interactive['action']") : invalidParam("Param interactive['action'] must be an object.");

  if (value.type === 'button') {
    const buttons = replyButtons(value.action.buttons);
    if (!buttons.ok) return buttons;
    return { ok: true, value: { type: 'button', header: header.value, body: body.value, footer: footer.value, buttons: buttons.value } };
  }
  const button = requiredText(value.action.button, "interactive['action']['button']", 'Button label', INTERACTIVE_LIMITS.listButton);
  if (!button.ok) return button;
  const sections = listSections(value.action.sections);
  if (!sections.ok) return sections;
  return { ok: true, value: { type: 'list', header: header.value, body: body.value, footer: footer.value, button: button.value, sections: sections.value } };
}

/** The text parameters of a `body` component. */
function bodyParametersOf(component: Record<string, unknown>, at: string): ContentResult<string[]> {
  if (component.parameters === undefined) return { ok: true, value: [] };
  if (!Array.isArray(component.parameters)) return invalidParam(`Param ${at}['parameters'] must be an array.`);
  const texts: string[] = [];
  for (const [index, parameter] of component.parameters.entries()) {
    const path = `${at}['parameters'][${index}]`;
    if (!isRecord(parameter)) return invalidParam(`Param ${path} must be an object.`);
    if (parameter.type !== 'text') return parameter.type === undefined ? missing(`${path}['type']`) : invalidParam(`Param ${path}['type'] must be text in the sandbox.`);
    if (parameter.text === undefined || parameter.text === null || parameter.text === '') return missing(`${path}['text']`);
    if (typeof parameter.text !== 'string') return invalidParam(`Param ${path}['text'] must be a string.`);
    texts.push(parameter.text);
  }
  return { ok: true, value: texts };
}

/**
 * Checks the `template` object of a send request: `name` matching `^[a-z0-9_]{1,512}$`,
 * `language.code` (e.g. `en_US`), and `components` whose `body` parameters are `text`. The
 * sandbox knows no template's wording, so any well-formed template is accepted.
 *
 * @example
 * checkTemplate({ name: 'vendors_ready', language: { code: 'en' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ada' }] }] })
 * // { ok: true, value: { name: 'vendors_ready', language: 'en', bodyParameters: ['Ada'], components: [...] } }
 */
export function checkTemplate(value: unknown): ContentResult<SandboxTemplate> {
  if (value === undefined || value === null) return missing('template');
  if (!isRecord(value)) return invalidParam('Param template must be an object.');
  if (value.name === undefined || value.name === null || value.name === '') return missing("template['name']");
  if (typeof value.name !== 'string' || !TEMPLATE_NAME.test(value.name)) {
    return invalidValue("Param template['name'] is not valid: it must match ^[a-z0-9_]{1,512}$.");
  }
  if (!isRecord(value.language)) return value.language === undefined ? missing("template['language']") : invalidParam("Param template['language'] must be an object.");
  const code = value.language.code;
  if (code === undefined || code === null || code === '') return missing("template['language']['code']");
  if (typeof code !== 'string' || !TEMPLATE_LANGUAGE.test(code)) return invalidValue("Param template['language']['code'] is not a valid language code.");
  const components = value.components ?? [];
  if (!Array.isArray(components)) return invalidParam("Param template['components'] must be an array.");
  let bodyParameters: string[] = [];
  for (const [index, component] of components.entries()) {
    const at = `template['components'][${index}]`;
    if (!isRecord(component)) return invalidParam(`Param ${at} must be an object.`);
    if (typeof component.type !== 'string') return missing(`${at}['type']`);
    if (component.type.toLowerCase() !== 'body') continue;
    const parameters = bodyParametersOf(component, at);
    if (!parameters.ok) return parameters;
    bodyParameters = parameters.value;
  }
  return { ok: true, value: { name: value.name, language: code, bodyParameters, components } };
}
