import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import {
  CommunicationStatusSchema,
  communicationStatuses,
  ExternalIdSchema,
  MessageChannelSchema,
  messageChannels,
  type CommunicationStatus,
} from '@crm/core';
import { CommunicationRepository, InvalidCursorError, type CommunicationRow, type DeliveryLogRow } from '@crm/db';
import type { IngestDeps } from '../app';
import { IdParamsSchema } from '../routes/read';
import {
  count,
  DASHBOARD_PATH,
  fieldError,
  formErrors,
  html,
  invalidAttributes,
  options,
  page,
  raw,
  sendPage,
  timestamp,
  type FieldError,
  type SafeHtml,
} from './html';

// The operator's view of the communications: a search over the history (the API's
// `GET /api/crm/communications`, as a form) and one communication with its delivery log as a
// timeline. Neither shows an address, a phone number or a message body: the communication row
// has none, and free text that might echo one (a provider's error, an SMTP answer) is masked.

/** Where the search lives; a communication is at `${COMMUNICATIONS_PATH}/<id>`. */
export const COMMUNICATIONS_PATH = `${DASHBOARD_PATH}/communications`;
const STYLES = ['communications.css'];
/** Rows per page unless the query asks for another size. */
const DEFAULT_LIMIT = 50;
const DAY_MS = 86_400_000;

/** A form sends an empty field as `''`: that means "any". */
const blank = (value: unknown): unknown => (value === '' ? undefined : value);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(blank, schema.optional());
const day = z.iso.date();

/**
 * The search form's query: every field optional (empty is "any"); `from` and `to` are UTC days,
 * both included. Unknown parameters are ignored (a browser page, not an API).
 */
export const CommunicationSearchSchema = z
  .object({
    planId: optional(ExternalIdSchema),
    clientId: optional(ExternalIdSchema),
    channel: optional(MessageChannelSchema),
    status: optional(CommunicationStatusSchema),
    from: optional(day),
    to: optional(day),
    limit: optional(z.coerce.number().int().min(1).max(200)),
    cursor: optional(z.string().min(1).max(200)),
  })
  .superRefine((query, ctx) => {
    if (query.from !== undefined && query.to !== undefined && query.to < query.from) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'is before the “from” day' });
    }
  });
type CommunicationSearch = z.infer<typeof CommunicationSearchSchema>;

/** Messages a person can act on, for the fields whose zod message reads like a type error. */
const friendlyMessages: Record<string, string> = {
  channel: `must be one of ${messageChannels.join(', ')} (or any)`,
  status: 'must be one of the statuses in the list (or any)',
  from: 'must be a day as YYYY-MM-DD',
  to: 'must be a day as YYYY-MM-DD',
  limit: 'must be a whole number from 1 to 200',
  cursor: 'is not a page of this list',
};

/** The search's fields in the order of the form; anything else goes in the alert above it. */
const formFields = ['planId', 'clientId', 'channel', 'status', 'from', 'to'] as const;
type FormField = (typeof formFields)[number];

// --- formatting --------------------------------------------------------------------------------

const EMAIL = /[^\s@<>"'(),;:[\]]+@[^\s@<>"'(),;:[\]]+\.[A-Za-z]{2,}/g;
const PHONE = /\+\d[\d\s().-]{5,}\d/g;

/**
 * Free text (a provider's error, an SMTP answer) with anything that looks like an email address
 * or an international phone number masked: some providers echo the recipient.
 */
export const maskContacts = (text: string): string => text.replace(EMAIL, '[email]').replace(PHONE, '[phone]');

/** A value from a log row's `detail` with {@link maskContacts} applied to every string in it. */
function maskDeep(value: unknown): unknown {
  if (typeof value === 'string') return maskContacts(value);
  if (Array.isArray(value)) return value.map(maskDeep);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, maskDeep(inner)]));
  }
  return value;
}

/** The badge class of a status: done well, gone wrong, or still on its way. */
function statusKind(status: CommunicationStatus): 'ok' | 'bad' | 'wait' {
  if (status === 'failed' || status === 'bounced' || status === 'cancelled') return 'bad';
  if (status === 'pending' || status === 'scheduled' || status === 'batched' || status === 'queued' || status === 'sending') return 'wait';
  return 'ok';
}

const badge = (status: CommunicationStatus): SafeHtml => html`<span class="badge ${statusKind(status)}">${status}</span>`;
const timeOf = (value: Date | string): SafeHtml => html`<time datetime="${new Date(value).toISOString()}">${timestamp(value)}</time>`;
const communicationLink = (id: string): SafeHtml => html`<a href="${COMMUNICATIONS_PATH}/${encodeURIComponent(id)}">${id}</a>`;
const channelList = (channels: readonly string[]): string => (channels.length === 0 ? '–' : channels.join(' → '));

/** A latency in milliseconds, in the unit that reads best. */
function latency(ms: number): string {
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** A detail value as short text: strings as they are (masked), anything else as JSON. */
function text(value: unknown): string {
  if (typeof value === 'string') return maskContacts(value);
  return maskContacts(JSON.stringify(value) ?? '');
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const list = (value: unknown): string[] | undefined => (Array.isArray(value) ? value.map((v) => String(v)) : undefined);
const isUuid = (value: unknown): value is string => typeof value === 'string' && z.uuid().safeParse(value).success;

// --- search page ------------------------------------------------------------------------------

/** The raw value of each form field as the browser sent it, to write it back into the form. */
function echoOf(query: unknown): Partial<Record<FormField | 'limit', string>> {
  const source = (query ?? {}) as Record<string, unknown>;
  const echo: Partial<Record<FormField | 'limit', string>> = {};
  for (const field of [...formFields, 'limit'] as const) {
    const value = source[field];
    const first = Array.isArray(value) ? value[0] : value;
    if (typeof first === 'string') echo[field] = first;
  }
  return echo;
}

function textField(errors: readonly FieldError[], name: FormField, label: string, value: string | undefined, type: 'text' | 'date'): SafeHtml {
  const extra = type === 'text' ? raw(' autocomplete="off" spellcheck="false"') : raw('');
  return html`<div class="field"><label for="${name}">${label}</label><input id="${name}" name="${name}" type="${type}" value="${value ?? ''}"${extra}${invalidAttributes(errors, name)}>${fieldError(errors, name)}</div>`;
}

function selectField(errors: readonly FieldError[], name: FormField, label: string, values: readonly string[], current: string | undefined): SafeHtml {
  return html`<div class="field"><label for="${name}">${label}</label><select id="${name}" name="${name}"${invalidAttributes(errors, name)}>${options(values, current, 'any')}</select>${fieldError(errors, name)}</div>`;
}

/** The search form, with what was asked written back and each problem beside its field. */
function searchForm(echo: Partial<Record<FormField | 'limit', string>>, errors: readonly FieldError[]): SafeHtml {
  const others = errors.filter((e) => !formFields.some((f) => e.field === f || e.field.startsWith(`${f}.`)));
  const keepLimit = echo.limit !== undefined && echo.limit !== '' && !errors.some((e) => e.field === 'limit');
  return html`${errors.length > 0
    ? html`<div class="alert error" role="alert"><p>The search could not run: fix the marked ${errors.length === 1 ? 'field' : 'fields'}.</p>${others.length > 0
      ? html`<ul>${others.map((e) => html`<li>${e.field}: ${e.message}</li>`)}</ul>`
      : ''}</div>`
    : ''}
<form method="get" action="${COMMUNICATIONS_PATH}" class="filters" role="search" aria-label="Search communications">
${textField(errors, 'clientId', 'Client id', echo.clientId, 'text')}
${textField(errors, 'planId', 'Plan id', echo.planId, 'text')}
${selectField(errors, 'channel', 'Channel', messageChannels, echo.channel)}
${selectField(errors, 'status', 'Status', communicationStatuses, echo.status)}
${textField(errors, 'from', 'From (UTC day)', echo.from, 'date')}
${textField(errors, 'to', 'To (UTC day, included)', echo.to, 'date')}
${keepLimit ? html`<input type="hidden" name="limit" value="${echo.limit}">` : ''}
<div class="field actions"><button type="submit">Search</button></div>
<p class="hint search-reset"><a href="${COMMUNICATIONS_PATH}">Clear the search</a></p>
</form>`;
}

/** The query string of `search` (its non-empty filters) with `extra` on top. */
function queryOf(search: CommunicationSearch, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const field of formFields) {
    const value = search[field];
    if (value !== undefined) params.set(field, value);
  }
  if (search.limit !== undefined && search.limit !== DEFAULT_LIMIT) params.set('limit', String(search.limit));
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  const query = params.toString();
  return query === '' ? '' : `?${query}`;
}

function resultTable(rows: readonly CommunicationRow[], search: CommunicationSearch, nextCursor: string | null): SafeHtml {
  if (rows.length === 0) {
    return html`<p class="empty card" role="status">No communication matches${search.cursor !== undefined ? ' on this page' : ' this search'}.</p>`;
  }
  const body = rows.map(
    (row) => html`<tr>
<td><a href="${COMMUNICATIONS_PATH}/${row.id}">${timeOf(row.created_at)}</a></td>
<td class="id">${row.client_id}</td>
<td class="id">${row.plan_id}</td>
<td>${row.message_type}</td>
<td>${row.channel ?? '–'}</td>
<td>${badge(row.status)}</td>
<td>${channelList(row.channels_tried)}</td>
<td class="num">${count(row.attempt_count)}</td>
</tr>`,
  );
  const first = search.cursor !== undefined ? html`<li><a href="${COMMUNICATIONS_PATH}${queryOf({ ...search, cursor: undefined })}">First page</a></li>` : '';
  const next = nextCursor !== null ? html`<li><a href="${COMMUNICATIONS_PATH}${queryOf(search, { cursor: nextCursor })}" rel="next">Next page</a></li>` : '';
  return html`<div class="table-wrap">
<table class="communications">
<caption>${count(rows.length)} ${rows.length === 1 ? 'communication' : 'communications'}${search.cursor !== undefined ? ' (a later page)' : ''}, newest first</caption>
<thead><tr><th scope="col">Created</th><th scope="col">Client</th><th scope="col">Plan</th><th scope="col">Type</th><th scope="col">Channel</th><th scope="col">Status</th><th scope="col">Channels tried</th><th scope="col" class="num">Attempts</th></tr></thead>
<tbody>${body}</tbody>
</table>
</div>
${first !== '' || next !== '' ? html`<nav aria-label="Pages of results"><ul class="links pager">${first}${next}</ul></nav>` : ''}`;
}

// --- one communication ------------------------------------------------------------------------

const eventLabels: Record<string, string> = {
  created: 'Accepted',
  status_changed: 'Status changed',
  attempt_started: 'Attempt started',
  attempt_succeeded: 'Provider accepted',
  attempt_failed: 'Attempt failed',
  retry_scheduled: 'Retry scheduled',
  fallback: 'Fallback',
  cancelled: 'Cancelled',
  requeued: 'Requeued',
  webhook: 'Provider report',
  delivered: 'Delivered',
  opened: 'Opened',
  clicked: 'Clicked',
  unsubscribed: 'Unsubscribed',
  bounced: 'Bounced',
  responded: 'Client replied',
  'client.replied': 'Client replied',
};

/** What one log entry says in words, and the detail keys those words used up. */
interface Told {
  readonly says: SafeHtml | null;
  readonly used: readonly string[];
}

/** Milliseconds as a wait: `30 s`, `2.5 min`. */
const wait = (ms: number): string => (ms < 120_000 ? `${Math.round(ms / 1_000)} s` : `${(ms / 60_000).toFixed(1)} min`);

/**
 * The sentence of one delivery-log entry, from its event and the `detail` its producer writes
 * (strategy worker, delivery, provider webhooks, tracking, inbound replies).
 */
function tell(log: DeliveryLogRow): Told {
  const d = log.detail as Record<string, unknown>;
  switch (log.event as string) {
    case 'fallback': {
      const from = str(d.from);
      const to = str(d.to);
      if (from !== undefined && to !== undefined) {
        const code = d.code === null || d.code === undefined ? '' : `, code ${text(d.code)}`;
        const sendAt = str(d.sendAt);
        return {
          says: html`<strong>Fallback ${from} → ${to}</strong> (reason: ${text(d.reason ?? 'unknown')}${code})${sendAt !== undefined
            ? html`; waits until ${timeOf(sendAt)}${str(d.why) !== undefined ? html` (${text(d.why)})` : ''}`
            : ''}`,
          used: ['from', 'to', 'reason', 'code', 'sendAt', 'why'],
        };
      }
      const tried = list(d.tried);
      return {
        says: html`<strong>No channel left</strong>${tried ? html` after trying ${channelList(tried)}` : ''}${list(d.plan) ? html` (plan: ${channelList(list(d.plan)!)})` : ''}`,
        used: ['tried', 'plan'],
      };
    }
    case 'status_changed': {
      const plan = list(d.plan);
      const parts: (SafeHtml | string)[] = [];
      if (plan) parts.push(html`Channel plan: ${channelList(plan)}`);
      if (d.alsoEmail === true) parts.push('an email copy too (critical)');
      if (str(d.sendAt) !== undefined) parts.push(html`send at ${timeOf(str(d.sendAt)!)}${str(d.why) !== undefined ? html` (${text(d.why)})` : ''}`);
      if (isUuid(d.digestCommunicationId)) parts.push(html`went out in digest ${communicationLink(d.digestCommunicationId)}`);
      else if (str(d.digestId) !== undefined) parts.push(html`waits in digest ${text(d.digestId)}${str(d.flushAt) !== undefined ? html`, sent at ${timeOf(str(d.flushAt)!)}` : ''}`);
      return { says: parts.length > 0 ? html`${parts.map((part, i) => html`${i > 0 ? '; ' : ''}${part}`)}` : null, used: ['plan', 'alsoEmail', 'sendAt', 'why', 'digestId', 'flushAt', 'digestCommunicationId'] };
    }
    case 'created': {
      if (isUuid(d.copyOf)) return { says: html`Email copy of ${communicationLink(d.copyOf)}`, used: ['copyOf'] };
      const items = list(d.items);
      if (items) return { says: html`Digest of ${count(items.length)} ${items.length === 1 ? 'message' : 'messages'}`, used: ['items'] };
      return { says: null, used: [] };
    }
    case 'attempt_failed': {
      const action = str(d.action);
      const delay = num(d.delayMs);
      if (action === 'retry') return { says: html`Retry${delay !== undefined ? html` in ${wait(delay)}` : ''}${num(d.failedAttempt) !== undefined ? html` (attempt ${d.failedAttempt as number} failed)` : ''}`, used: ['action', 'delayMs', 'failedAttempt'] };
      if (action === 'wait_rate_limit') return { says: html`Rate limited: waits${delay !== undefined ? html` ${wait(delay)}` : ''} without spending an attempt`, used: ['action', 'delayMs', 'failedAttempt'] };
      if (action === 'fallback') return { says: html`Gives up on this channel (reason: ${text(d.reason ?? 'unknown')})`, used: ['action', 'reason'] };
      return { says: null, used: [] };
    }
    case 'webhook': {
      const status = str(d.status);
      const fallbackTo = str(d.fallbackTo);
      return {
        says: html`${log.provider ?? 'The provider'} reported <strong>${status ?? 'a status'}</strong>${str(d.at) !== undefined ? html` at ${timeOf(str(d.at)!)}` : ''}${d.moved === false
          ? ' (status unchanged)'
          : ''}${fallbackTo !== undefined ? html`; falls back to ${fallbackTo}` : ''}`,
        used: ['status', 'at', 'moved', 'fallbackTo'],
      };
    }
    case 'opened':
      return {
        says: html`${d.machine === true ? html`Likely a machine open${str(d.reason) !== undefined ? html` (${text(d.reason)})` : ''}` : 'Opened by a person'}${str(d.userAgentFamily) !== undefined ? html`; user agent: ${text(d.userAgentFamily)}` : ''}`,
        used: ['machine', 'reason', 'userAgentFamily'],
      };
    case 'clicked':
      return { says: str(d.url) !== undefined ? html`Link: <span class="url">${text(d.url)}</span>` : null, used: ['url'] };
    case 'unsubscribed':
      return { says: html`Unsubscribed from ${text(d.channel ?? 'email')}${str(d.method) !== undefined ? html` (${d.method === 'one_click' ? 'one-click' : text(d.method)})` : ''}`, used: ['channel', 'method'] };
    case 'responded':
    case 'client.replied':
      return {
        says: html`Reply on ${text(d.channel ?? log.channel ?? 'a channel')}${d.selection !== null && d.selection !== undefined ? html`: chose option ${text(d.selection)}` : ''}`,
        used: ['channel', 'selection', 'inboundId'],
      };
    case 'cancelled':
      return { says: str(d.reason) !== undefined ? html`Reason: ${text(d.reason)}` : null, used: ['reason'] };
    case 'attempt_succeeded': {
      const parts: string[] = [];
      if (str(d.response) !== undefined) parts.push(`server answered “${text(d.response)}”`);
      if (str(d.kind) !== undefined) parts.push(`${text(d.kind)} message`);
      if (str(d.approvedTemplate) !== undefined) parts.push(`approved template ${text(d.approvedTemplate)}${str(d.language) !== undefined ? ` (${text(d.language)})` : ''}`);
      if (str(d.textTemplate) !== undefined) parts.push(`text template ${text(d.textTemplate)}`);
      if (num(d.segments) !== undefined) parts.push(`${d.segments as number} ${(d.segments as number) === 1 ? 'segment' : 'segments'}${str(d.encoding) !== undefined ? ` (${text(d.encoding)})` : ''}`);
      if (num(d.templateVersion) !== undefined) parts.push(`template version ${d.templateVersion as number}`);
      if (num(d.attachments) !== undefined) parts.push(`${d.attachments as number} attachments`);
      if (d.resumed === true) parts.push('resumed after a crash');
      return {
        says: parts.length > 0 ? html`${parts.join('; ')}` : null,
        used: ['response', 'kind', 'approvedTemplate', 'language', 'textTemplate', 'segments', 'encoding', 'templateVersion', 'attachments', 'resumed'],
      };
    }
    default:
      return { says: null, used: [] };
  }
}

/** The entry's `detail` less what its sentence told, as compact JSON; `null` when nothing is left. */
function restOf(detail: Record<string, unknown>, used: readonly string[]): string | null {
  const rest = Object.fromEntries(Object.entries(detail).filter(([key]) => !used.includes(key)));
  return Object.keys(rest).length === 0 ? null : JSON.stringify(maskDeep(rest));
}

function timelineEntry(log: DeliveryLogRow): SafeHtml {
  const { says, used } = tell(log);
  const rest = restOf(log.detail as Record<string, unknown>, used);
  const change = log.to_status !== null
    ? html`<span class="change">${log.from_status !== null ? html`${badge(log.from_status)} → ` : '→ '}${badge(log.to_status)}</span>`
    : '';
  const facts: SafeHtml[] = [];
  if (log.channel !== null) facts.push(html`<div><dt>Channel</dt><dd>${log.channel}</dd></div>`);
  if (log.attempt !== null) facts.push(html`<div><dt>Attempt</dt><dd>${log.attempt}</dd></div>`);
  if (log.provider !== null) facts.push(html`<div><dt>Provider</dt><dd>${log.provider}</dd></div>`);
  if (log.provider_message_id !== null) facts.push(html`<div><dt>Provider message id</dt><dd class="id">${log.provider_message_id}</dd></div>`);
  if (log.provider_event_id !== null) facts.push(html`<div><dt>Provider event id</dt><dd class="id">${log.provider_event_id}</dd></div>`);
  if (log.error_code !== null || log.error_category !== null || log.error_message !== null) {
    facts.push(html`<div class="error"><dt>Error</dt><dd>${[log.error_code !== null ? `code ${log.error_code}` : null, log.error_category, log.error_message !== null ? maskContacts(log.error_message) : null]
      .filter((part) => part !== null)
      .join(' · ')}</dd></div>`);
  }
  if (log.latency_ms !== null) facts.push(html`<div><dt>Latency</dt><dd>${latency(log.latency_ms)}</dd></div>`);
  const kind = log.event === 'fallback' ? ' fallback' : log.error_code !== null || log.error_category !== null ? ' failure' : '';
  return html`<li class="entry${raw(kind)}">
<p class="entry-head">${timeOf(log.created_at)} <span class="event">${eventLabels[log.event] ?? log.event}</span> ${change}</p>
${says !== null ? html`<p class="entry-says">${says}</p>` : ''}
${facts.length > 0 ? html`<dl class="entry-facts">${facts}</dl>` : ''}
${rest !== null ? html`<p class="entry-detail"><span class="muted">Detail:</span> <code>${rest}</code></p>` : ''}
</li>`;
}

const stampColumns = [
  ['Scheduled', 'scheduled_at'],
  ['Queued', 'queued_at'],
  ['Sending', 'sending_at'],
  ['Sent', 'sent_at'],
  ['Delivered', 'delivered_at'],
  ['Opened', 'opened_at'],
  ['Clicked', 'clicked_at'],
  ['Responded', 'responded_at'],
  ['Failed', 'failed_at'],
  ['Cancelled', 'cancelled_at'],
  ['Bounced', 'bounced_at'],
] as const satisfies readonly (readonly [string, keyof CommunicationRow])[];

const fact = (term: string, value: SafeHtml | string | number, className = ''): SafeHtml =>
  html`<div${className === '' ? '' : raw(` class="${className}"`)}><dt>${term}</dt><dd>${value}</dd></div>`;

function summary(row: CommunicationRow): SafeHtml {
  const lastError = row.last_error !== null || row.last_error_code !== null
    ? [row.last_error_code !== null ? `code ${row.last_error_code}` : null, row.last_error_category, row.last_error !== null ? maskContacts(row.last_error) : null]
      .filter((part) => part !== null)
      .join(' · ')
    : null;
  const facts = [
    fact('Communication id', row.id, 'id'),
    fact('Client', row.client_id, 'id'),
    fact('Plan', row.plan_id, 'id'),
    fact('Type', row.message_type),
    fact('Urgency', row.urgency),
    fact('Status', badge(row.status)),
    fact('Channel', row.channel ?? '–'),
    row.requested_channel !== null ? fact('Requested channel', row.requested_channel) : null,
    fact('Channel plan', channelList(row.channel_plan)),
    fact('Channels tried', channelList(row.channels_tried)),
    fact('Attempts', `${count(row.attempt_count)} (${count(row.channel_attempts)} on this channel)`),
    row.provider_message_id !== null ? fact('Provider message id', row.provider_message_id, 'id') : null,
    row.strategy_reason !== null ? fact('Strategy reason', row.strategy_reason, 'wide') : null,
    row.failure_reason !== null ? fact('Failure reason', row.failure_reason) : null,
    lastError !== null ? fact('Last error', lastError, 'wide') : null,
    row.copy_of !== null ? fact('Email copy of', communicationLink(row.copy_of), 'id') : null,
    row.digest_id !== null ? fact('Digest', row.digest_id, 'id') : null,
    row.template_id !== null ? fact('Template', `${row.template_id}${row.template_version !== null ? ` v${row.template_version}` : ''}`, 'id') : null,
    row.attachment_ids.length > 0 ? fact('Attachments', count(row.attachment_ids.length)) : null,
    row.idempotency_key !== null ? fact('Idempotency key', row.idempotency_key, 'id') : null,
  ].filter((f): f is SafeHtml => f !== null);
  const times = [
    fact('Created', timeOf(row.created_at)),
    row.send_at !== null ? fact('Send at (asked)', timeOf(row.send_at)) : null,
    row.scheduled_for !== null ? fact('Scheduled for', timeOf(row.scheduled_for)) : null,
    row.next_attempt_at !== null ? fact('Next attempt', timeOf(row.next_attempt_at)) : null,
    ...stampColumns.map(([term, column]) => {
      const at = row[column] as Date | null;
      return at !== null ? fact(term, timeOf(at)) : null;
    }),
    fact('Updated', timeOf(row.updated_at)),
  ].filter((f): f is SafeHtml => f !== null);
  const variables = Object.keys(row.variables).length;
  return html`<section aria-labelledby="summary-heading">
<h2 id="summary-heading">Summary</h2>
<dl class="facts card">${facts}</dl>
<h3 id="times-heading">Status times</h3>
<dl class="facts card">${times}</dl>
<details class="variables card">
<summary>Template variables (${count(variables)})</summary>
<pre>${JSON.stringify(row.variables, null, 2)}</pre>
</details>
</section>`;
}

function detailPage(row: CommunicationRow, logs: readonly DeliveryLogRow[]): SafeHtml {
  const fallbacks = logs.filter((log) => log.event === 'fallback').length;
  return html`<ul class="links"><li><a href="${COMMUNICATIONS_PATH}?clientId=${encodeURIComponent(row.client_id)}">← Communications of client ${row.client_id}</a></li><li><a href="${COMMUNICATIONS_PATH}">All communications</a></li></ul>
${summary(row)}
<section aria-labelledby="timeline-heading">
<h2 id="timeline-heading">Timeline</h2>
<p class="hint">${count(logs.length)} ${logs.length === 1 ? 'entry' : 'entries'} of the delivery log, oldest first${fallbacks > 0 ? html`; ${count(fallbacks)} ${fallbacks === 1 ? 'fallback' : 'fallbacks'} (marked)` : ''}.</p>
${logs.length === 0 ? html`<p class="empty card">No delivery-log entry.</p>` : html`<ol class="timeline">${logs.map(timelineEntry)}</ol>`}
</section>`;
}

/** A page that only says what went wrong, with the way back to the search. */
function problemPage(reply: FastifyReply, status: 400 | 404, title: string, message: string): FastifyReply {
  const body = html`<p class="alert error" role="alert">${message}</p>
<ul class="links"><li><a href="${COMMUNICATIONS_PATH}">← Search communications</a></li></ul>`;
  return sendPage(reply, page({ screen: 'communications', title, body, styles: STYLES }), status);
}

/**
 * `GET /dashboard/communications`: the search (client, plan, channel, status, UTC days) over the
 * history, newest first and paged by cursor; a bad field is a 400 page with the problem beside it.
 * `GET /dashboard/communications/:id`: one communication, its summary and its delivery log as a
 * timeline (fallbacks marked); 400 for an id that is not a UUID, 404 for an unknown one.
 */
export const communicationPages: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  app.get(COMMUNICATIONS_PATH, async (request, reply) => {
    const echo = echoOf(request.query);
    const parsed = CommunicationSearchSchema.safeParse(request.query ?? {});
    const show = (body: SafeHtml, status: number) =>
      sendPage(reply, page({ screen: 'communications', title: 'Communications', body, styles: STYLES }), status);
    if (!parsed.success) {
      const errors = formErrors(
        parsed.error.issues.map((issue) => {
          const friendly = friendlyMessages[String(issue.path[0])];
          return issue.code !== 'custom' && friendly !== undefined ? { path: issue.path, message: friendly } : issue;
        }),
      );
      return show(html`${searchForm(echo, errors)}`, 400);
    }
    const search = parsed.data;
    let found;
    try {
      found = await CommunicationRepository.getHistory(deps.db, {
        ...(search.planId !== undefined && { planId: search.planId }),
        ...(search.clientId !== undefined && { clientId: search.clientId }),
        ...(search.channel !== undefined && { channel: search.channel }),
        ...(search.status !== undefined && { status: search.status }),
        ...(search.from !== undefined && { from: new Date(`${search.from}T00:00:00Z`) }),
        ...(search.to !== undefined && { to: new Date(Date.parse(`${search.to}T00:00:00Z`) + DAY_MS) }),
        ...(search.cursor !== undefined && { cursor: search.cursor }),
        limit: search.limit ?? DEFAULT_LIMIT,
      });
    } catch (error) {
      if (!(error instanceof InvalidCursorError)) throw error;
      return show(html`${searchForm(echo, [{ field: 'cursor', message: `${friendlyMessages.cursor!}: start again from the first page` }])}`, 400);
    }
    return show(html`${searchForm(echo, [])}
<section aria-labelledby="results-heading">
<h2 id="results-heading">Results</h2>
${resultTable(found.items, search, found.nextCursor)}
</section>`, 200);
  });

  app.get<{ Params: { id: string } }>(`${COMMUNICATIONS_PATH}/:id`, async (request, reply) => {
    const params = IdParamsSchema.safeParse(request.params);
    if (!params.success) {
      const shown = request.params.id.length > 80 ? `${request.params.id.slice(0, 80)}…` : request.params.id;
      return problemPage(reply, 400, 'Not a communication id', `“${maskContacts(shown)}” is not a communication id: a communication id is a UUID such as 0b5c4f0e-3c1a-4a8e-9f1d-2d7a6c1e9b42.`);
    }
    const { id } = params.data;
    const [row, logs] = await Promise.all([CommunicationRepository.findById(deps.db, id), CommunicationRepository.listLogs(deps.db, id)]);
    if (!row) return problemPage(reply, 404, 'Communication not found', `There is no communication ${id} (it may have been erased).`);
    return sendPage(reply, page({ screen: 'communications', title: `Communication ${row.message_type} to ${row.client_id}`, body: detailPage(row, logs), styles: STYLES }));
  });
};
