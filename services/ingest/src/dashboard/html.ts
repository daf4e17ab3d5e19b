import type { FastifyReply } from 'fastify';

/**
 * HTML that is already safe to write into a page: made only by {@link html} (which escapes
 * every value it is given) or {@link raw} (for markup this code wrote itself).
 */
export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** `text` with `& < > " '` escaped: safe in element content and in quoted attribute values. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** A value a template may hold: escaped unless it is {@link SafeHtml}; arrays are joined; null, undefined and false write nothing. */
export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function write(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(write).join('');
  return escapeHtml(String(value));
}

/**
 * A tagged template that escapes every interpolated value (so a client id, an error message or
 * a template variable can never become markup), except nested `html` results.
 *
 * @example html`<td>${row.clientId}</td>` // '<td>&lt;script&gt;…</td>' for a hostile id
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += write(value) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** Markup written by this code (never data): passed through as is. */
export const raw = (text: string): SafeHtml => new SafeHtml(text);

/** JSON for a `<script type="application/json">` block: `<`, `>` and `&` escaped so it can never close the element. */
export const jsonForScript = (value: unknown): SafeHtml =>
  raw(JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026'));

// --- formatting ------------------------------------------------------------------------------

/** A rate 0…1 as `12.3 %`, or `–` when there is nothing to divide by. */
export const percent = (rate: number | null): string => (rate === null ? '–' : `${(rate * 100).toFixed(1)} %`);
/** A count with thousands separators. */
export const count = (value: number): string => value.toLocaleString('en-US');
/** A duration in seconds, in the unit that reads best. */
export function duration(value: number | null): string {
  if (value === null) return '–';
  if (value < 120) return `${value.toFixed(0)} s`;
  if (value < 7_200) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3_600).toFixed(1)} h`;
}
/** A timestamp as `2026-12-03 07:41:05 UTC`. */
export const timestamp = (value: string | Date | null | undefined): string =>
  value === null || value === undefined ? '–' : `${new Date(value).toISOString().slice(0, 19).replace('T', ' ')} UTC`;

// --- pages -----------------------------------------------------------------------------------

/** Where the dashboard lives. */
export const DASHBOARD_PATH = '/dashboard';
/** Its static files (stylesheet, script, uPlot). */
export const ASSETS_PATH = `${DASHBOARD_PATH}/assets`;

/** The screens of the navigation, in order. */
export const screens = [
  { id: 'overview', title: 'Overview', path: DASHBOARD_PATH },
  { id: 'analytics', title: 'Channels & engagement', path: `${DASHBOARD_PATH}/analytics` },
  { id: 'communications', title: 'Communications', path: `${DASHBOARD_PATH}/communications` },
  { id: 'preferences', title: 'Preferences', path: `${DASHBOARD_PATH}/preferences` },
  { id: 'templates', title: 'Templates', path: `${DASHBOARD_PATH}/templates` },
] as const;
export type ScreenId = (typeof screens)[number]['id'];

/** The Content-Security-Policy of every dashboard page: our own script and styles only; frames only from the dashboard (template previews). */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export interface PageOptions {
  readonly screen: ScreenId;
  /** The page's own heading and `<title>`. */
  readonly title: string;
  readonly body: SafeHtml;
  /** Load the chart library (uPlot). @defaultValue false */
  readonly charts?: boolean;
  /** More of our stylesheets (file names in public/), after dashboard.css. */
  readonly styles?: readonly string[];
  /** More of our scripts (file names in public/), after dashboard.js. */
  readonly scripts?: readonly string[];
}

/**
 * A horizontal bar of a value 0…1 (an SVG: the CSP forbids inline styles), labelled for screen
 * readers by `label`. `kind` picks a colour class (a channel name, say).
 */
export function bar(value: number | null, label: string, kind = ''): SafeHtml {
  const width = value === null ? 0 : Math.max(0, Math.min(100, value * 100));
  return html`<svg class="bar ${kind}" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="${label}"><rect width="${width.toFixed(2)}" height="10"/></svg>`;
}

/**
 * A whole dashboard page: a skip link, the navigation (with `aria-current` on this screen), a
 * logout button and the page's body in `<main>`. No inline script or style (the CSP forbids
 * them): behaviour comes from `dashboard.js`, data from `<script type="application/json">`.
 */
export function page(options: PageOptions): SafeHtml {
  const nav = screens.map((s) =>
    html`<li><a href="${s.path}"${raw(s.id === options.screen ? ' aria-current="page"' : '')}>${s.title}</a></li>`,
  );
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${options.title} · crm-engine</title>
<link rel="stylesheet" href="${ASSETS_PATH}/dashboard.css">
${options.charts ? html`<link rel="stylesheet" href="${ASSETS_PATH}/uPlot.min.css">
<script src="${ASSETS_PATH}/uPlot.iife.min.js" defer></script>` : ''}
${(options.styles ?? []).map((name) => html`<link rel="stylesheet" href="${ASSETS_PATH}/${name}">`)}
<script src="${ASSETS_PATH}/dashboard.js" defer></script>
${(options.scripts ?? []).map((name) => html`<script src="${ASSETS_PATH}/${name}" defer></script>`)}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="${DASHBOARD_PATH}">crm-engine</a>
<nav aria-label="Dashboard"><ul>${nav}</ul></nav>
<form method="post" action="/logout" class="logout"><button type="submit">Log out</button></form>
</header>
<main id="main" tabindex="-1">
<h1>${options.title}</h1>
${options.body}
</main>
</body>
</html>
`;
}

/** Sends a dashboard page with its security headers; never cached (it shows live figures). */
export function sendPage(reply: FastifyReply, body: SafeHtml, status = 200): FastifyReply {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .send(body.text);
}

/** A problem with one form field, shown next to it. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** The id of the element holding a field's error (the field's `aria-describedby`). */
export const errorId = (field: string): string => `${field.replace(/[^A-Za-z0-9_-]/g, '-')}-error`;

/** The error of `field`, if any, as a `<p class="field-error">` with {@link errorId}. */
export function fieldError(errors: readonly FieldError[], field: string): SafeHtml {
  const messages = errors.filter((e) => e.field === field || e.field.startsWith(`${field}.`)).map((e) => e.message);
  return messages.length === 0 ? html`` : html`<p class="field-error" id="${errorId(field)}">${messages.join('; ')}</p>`;
}

/** The attributes that tie an input to its error: `aria-invalid` and `aria-describedby`, when it has one. */
export function invalidAttributes(errors: readonly FieldError[], field: string): SafeHtml {
  return errors.some((e) => e.field === field || e.field.startsWith(`${field}.`))
    ? html` aria-invalid="true" aria-describedby="${errorId(field)}"`
    : html``;
}

/** zod issues as form errors: the top-level field of each path, with zod's message. */
export function formErrors(issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[]): FieldError[] {
  return issues.map((issue) => ({ field: issue.path.map(String).join('.') || 'form', message: issue.message }));
}

/** `<option>`s of `values`, with `selected` on `current` (an empty first option reads `blank`). */
export function options(values: readonly string[], current: string | undefined, blank?: string): SafeHtml {
  return html`${blank !== undefined ? html`<option value="">${blank}</option>` : ''}${values.map(
    (value) => html`<option value="${value}"${raw(value === current ? ' selected' : '')}>${value}</option>`,
  )}`;
}

/**
 * A GET form's query without its blank fields (an empty `<select>` or text box submits `x=`),
 * so that optional schema fields read "not given". Repeated keys keep their last value.
 */
export function withoutBlanks(query: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof query !== 'object' || query === null) return out;
  for (const [key, value] of Object.entries(query)) {
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (typeof last === 'string' && last.trim() !== '') out[key] = last.trim();
  }
  return out;
}
