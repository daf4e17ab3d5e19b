import type { FastifyPluginAsync } from 'fastify';
import { digestMessageType, messageChannels, messageTypes } from '@crm/core';
import {
  getAnalyticsCells,
  getAnalyticsReport,
  getPreferenceDistribution,
  type AnalyticsFilters,
  type AnalyticsMetrics,
  type AnalyticsReport,
} from '@crm/db';
import type { IngestDeps } from '../app';
import { BULL_BOARD_PATH } from '../operator';
import { ProblemError } from '../problem';
import { AnalyticsQuerySchema, analyticsFiltersOf } from '../routes/analytics';
import {
  DASHBOARD_PATH, bar, count, duration, fieldError, formErrors, html, invalidAttributes, jsonForScript, options, page, percent,
  sendPage, withoutBlanks, type FieldError, type SafeHtml, type ScreenId,
} from './html';

/** The API routes mounted for the operator's session (see index.ts). */
const OPERATOR_API = `${DASHBOARD_PATH}/api/crm/analytics`;
const DAY_MS = 86_400_000;
const channelColors: Record<string, string> = { email: '#2f6fb0', whatsapp: '#1f8f4e', sms: '#c07a22' };

/** The filters a page was asked for, or the form errors that stopped it (with the last 30 days shown instead). */
function readFilters(query: unknown): { filters: AnalyticsFilters; form: Record<string, string>; errors: FieldError[] } {
  const form = withoutBlanks(query);
  const parsed = AnalyticsQuerySchema.safeParse(form);
  if (!parsed.success) return { filters: analyticsFiltersOf({}), form, errors: formErrors(parsed.error.issues) };
  try {
    return { filters: analyticsFiltersOf(parsed.data), form, errors: [] };
  } catch (error) {
    if (!(error instanceof ProblemError)) throw error;
    return { filters: analyticsFiltersOf({}), form, errors: error.errors.map((e) => ({ field: e.field, message: e.message })) };
  }
}

/** The query string of `filters` (for links to exports and other screens). */
function filterQuery(filters: AnalyticsFilters, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams({ from: filters.from, to: filters.to, ...extra });
  if (filters.channel) params.set('channel', filters.channel);
  if (filters.messageType) params.set('messageType', filters.messageType);
  if (filters.planId) params.set('planId', filters.planId);
  return params.toString();
}

/** The period form: from, to, channel, message type, plan; with quick ranges. Values shown are what was typed. */
function filterForm(action: string, form: Record<string, string>, filters: AnalyticsFilters, errors: readonly FieldError[]): SafeHtml {
  const value = (field: keyof AnalyticsFilters) => (errors.length > 0 ? form[field] : filters[field]) ?? '';
  const today = new Date().toISOString().slice(0, 10);
  const daysAgo = (days: number) => new Date(Date.parse(`${today}T00:00:00Z`) - (days - 1) * DAY_MS).toISOString().slice(0, 10);
  const quick = [7, 30, 90].map((days) => html`<li><a href="${action}?${new URLSearchParams({ from: daysAgo(days), to: today }).toString()}">Last ${days} days</a></li>`);
  return html`<form class="filters" method="get" action="${action}" aria-label="Period and filters" novalidate>
<div class="field"><label for="from">From (UTC)</label><input id="from" name="from" type="date" value="${value('from')}"${invalidAttributes(errors, 'from')}>${fieldError(errors, 'from')}</div>
<div class="field"><label for="to">To (UTC)</label><input id="to" name="to" type="date" value="${value('to')}"${invalidAttributes(errors, 'to')}>${fieldError(errors, 'to')}</div>
<div class="field"><label for="channel">Channel</label><select id="channel" name="channel"${invalidAttributes(errors, 'channel')}>${options(messageChannels, value('channel'), 'All channels')}</select>${fieldError(errors, 'channel')}</div>
<div class="field"><label for="messageType">Message type</label><select id="messageType" name="messageType"${invalidAttributes(errors, 'messageType')}>${options([...messageTypes, digestMessageType], value('messageType'), 'All types')}</select>${fieldError(errors, 'messageType')}</div>
<div class="field"><label for="planId">Plan id</label><input id="planId" name="planId" type="text" value="${value('planId')}" autocomplete="off" spellcheck="false"${invalidAttributes(errors, 'planId')}>${fieldError(errors, 'planId')}</div>
<button type="submit">Apply</button>
</form>
<ul class="links" aria-label="Quick periods">${quick}</ul>
${errors.length > 0 ? html`<p class="alert error" role="alert">The filters are not valid (see the fields above); showing the last 30 days instead.</p>` : ''}`;
}

type FigureName = keyof AnalyticsMetrics;

/**
 * One figure of the overview: `name` is its key in the analytics API's `overall`, and
 * `data-value` its exact value there (`null` as empty), so the figures can be checked against the API.
 */
function figure(overall: AnalyticsMetrics, label: string, name: FigureName, format: (value: number) => string, note?: string): SafeHtml {
  const value = overall[name] as number | null;
  return html`<div class="figure"><dt>${label}</dt><dd data-figure="${name}" data-value="${value ?? ''}">${value === null ? '–' : format(value)}${note ? html`<small>${note}</small>` : ''}</dd></div>`;
}

function figures(overall: AnalyticsMetrics): SafeHtml {
  const f = (label: string, name: FigureName, format: (value: number) => string, note?: string) => figure(overall, label, name, format, note);
  return html`<dl class="figures" aria-label="Figures of the period">
${f('Communications', 'total', count)}
${f('Sent', 'sent', count)}
${f('Delivered', 'delivered', count)}
${f('Delivery rate', 'deliveryRate', percent, 'delivered ÷ sent')}
${f('Open rate', 'openRate', percent, 'with machine opens')}
${f('Open rate (people)', 'humanOpenRate', percent, 'machine opens left out')}
${f('Click-through rate', 'clickRate', percent, 'clicked ÷ delivered')}
${f('Response rate', 'responseRate', percent, 'responded ÷ delivered')}
${f('Failed', 'failed', count, 'on every channel tried')}
${f('Bounced', 'bounced', count)}
${f('Cancelled', 'cancelled', count)}
${f('Time to response', 'avgResponseSeconds', duration, `median ${duration(overall.medianResponseSeconds)}`)}
</dl>`;
}

/** A uPlot chart drawn by dashboard.js from its JSON; the same figures as a table for screen readers and no-script. */
interface ChartSeries {
  readonly label: string;
  readonly color: string;
  readonly values: readonly number[];
}
function chart(id: string, title: string, days: readonly string[], series: readonly ChartSeries[]): SafeHtml {
  const data = { x: days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1_000), series };
  const head = series.map((s) => html`<th scope="col" class="num">${s.label}</th>`);
  const rows = days.map((day, i) => html`<tr><th scope="row">${day}</th>${series.map((s) => html`<td class="num">${count(s.values[i] ?? 0)}</td>`)}</tr>`);
  return html`<figure class="chart-figure">
<div class="chart" data-chart="${id}" role="img" aria-label="${title}: ${series.map((s) => s.label).join(', ')} per day, ${days[0] ?? ''} to ${days[days.length - 1] ?? ''}"></div>
<script type="application/json" id="${id}">${jsonForScript(data)}</script>
<details><summary>${title} as a table</summary><div class="table-wrap"><table><caption>${title}</caption><thead><tr><th scope="col">Day (UTC)</th>${head}</tr></thead><tbody>${rows}</tbody></table></div></details>
</figure>`;
}

function exportLinks(filters: AnalyticsFilters): SafeHtml {
  return html`<ul class="links" aria-label="Exports and tools">
<li><a href="${OPERATOR_API}/export.csv?${filterQuery(filters)}">CSV: daily figures by channel and type</a></li>
<li><a href="${OPERATOR_API}/export.csv?${filterQuery(filters, { rows: 'communications' })}">CSV: every communication</a></li>
<li><a href="${OPERATOR_API}/report.pdf?${filterQuery(filters)}">PDF report</a></li>
<li><a href="${BULL_BOARD_PATH}">Queues (Bull Board)</a></li>
</ul>`;
}

const periodLine = (report: AnalyticsReport): SafeHtml =>
  html`<p class="muted">${report.filters.from} to ${report.filters.to} (UTC, both days included)${report.filters.channel ? html`; channel ${report.filters.channel}` : ''}${report.filters.messageType ? html`; type ${report.filters.messageType}` : ''}${report.filters.planId ? html`; plan ${report.filters.planId}` : ''}. Figures from ${report.source === 'rollups' ? 'the daily rollups' : 'the communications'}.</p>`;

const metricHead = html`<th scope="col" class="num">Sent</th><th scope="col" class="num">Delivered</th><th scope="col" class="num">Delivery</th><th scope="col" class="num">Open</th><th scope="col" class="num">Open (people)</th><th scope="col" class="num">Click</th><th scope="col" class="num">Response</th><th scope="col" class="num">Failed</th><th scope="col" class="num">Time to response</th>`;
const metricCells = (m: AnalyticsMetrics): SafeHtml =>
  html`<td class="num">${count(m.sent)}</td><td class="num">${count(m.delivered)}</td><td class="num">${percent(m.deliveryRate)}</td><td class="num">${percent(m.openRate)}</td><td class="num">${percent(m.humanOpenRate)}</td><td class="num">${percent(m.clickRate)}</td><td class="num">${percent(m.responseRate)}</td><td class="num">${count(m.failed + m.bounced)}</td><td class="num">${duration(m.avgResponseSeconds)}</td>`;

/** Bars of labelled values with the printed value. */
function bars(label: string, items: readonly { name: string; value: number | null; text: string; kind?: string }[]): SafeHtml {
  return html`<ul class="bars" aria-label="${label}">${items.map((item) => html`<li><span>${item.name}</span>${bar(item.value, `${item.name}: ${item.text}`, item.kind)}<span class="value">${item.text}</span></li>`)}</ul>`;
}

async function overviewBody(deps: IngestDeps, query: unknown): Promise<{ body: SafeHtml; invalid: boolean }> {
  const { filters, form, errors } = readFilters(query);
  const report = await getAnalyticsReport(deps.db, filters);
  const days = report.byDay.map((d) => d.day);
  const body = html`${filterForm(DASHBOARD_PATH, form, filters, errors)}
${periodLine(report)}
${figures(report.overall)}
<h2>Per day</h2>
${chart('timeline-overall', 'Sent, delivered, opened and failed', days, [
  { label: 'sent', color: '#2f6fb0', values: report.byDay.map((d) => d.sent) },
  { label: 'delivered', color: '#1f8f4e', values: report.byDay.map((d) => d.delivered) },
  { label: 'opened', color: '#c07a22', values: report.byDay.map((d) => d.opened) },
  { label: 'failed', color: '#b42318', values: report.byDay.map((d) => d.failed + d.bounced) },
])}
<h2>Exports</h2>
${exportLinks(filters)}`;
  return { body, invalid: errors.length > 0 };
}

async function analyticsBody(deps: IngestDeps, query: unknown): Promise<{ body: SafeHtml; invalid: boolean }> {
  const { filters, form, errors } = readFilters(query);
  const [report, cells, preferences] = await Promise.all([getAnalyticsReport(deps.db, filters), getAnalyticsCells(deps.db, filters), getPreferenceDistribution(deps.db)]);
  const days = report.byDay.map((d) => d.day);
  const channels = filters.channel ? [filters.channel] : messageChannels;
  const sentPerChannel = channels.map((channel) => {
    const perDay = new Map<string, number>();
    for (const cell of cells) if (cell.channel === channel) perDay.set(cell.day, (perDay.get(cell.day) ?? 0) + cell.sent);
    return { label: channel, color: channelColors[channel] ?? '#555', values: days.map((day) => perDay.get(day) ?? 0) };
  });
  const byChannel = report.byChannel;
  const prefTotal = Math.max(1, preferences.clients);
  const share = (n: number) => ({ value: n / prefTotal, text: `${count(n)} (${percent(n / prefTotal)})` });
  const body = html`${filterForm(`${DASHBOARD_PATH}/analytics`, form, filters, errors)}
${periodLine(report)}
<h2 id="channels">Channel comparison</h2>
<div class="table-wrap"><table><caption>Figures by channel</caption><thead><tr><th scope="col">Channel</th>${metricHead}</tr></thead>
<tbody>${byChannel.length === 0 ? html`<tr><td colspan="10">No communication was routed in this period.</td></tr>` : byChannel.map((m) => html`<tr><th scope="row">${m.channel}</th>${metricCells(m)}</tr>`)}</tbody></table></div>
<div class="grid-2">
<section aria-labelledby="delivery-by-channel"><h3 id="delivery-by-channel">Delivery rate</h3>${bars('Delivery rate by channel', byChannel.map((m) => ({ name: m.channel, value: m.deliveryRate, text: percent(m.deliveryRate), kind: m.channel })))}</section>
<section aria-labelledby="opens-by-channel"><h3 id="opens-by-channel">Open rate (people)</h3>${bars('Open rate without machine opens by channel', byChannel.map((m) => ({ name: m.channel, value: m.humanOpenRate, text: percent(m.humanOpenRate), kind: m.channel })))}</section>
<section aria-labelledby="responses-by-channel"><h3 id="responses-by-channel">Response rate</h3>${bars('Response rate by channel', byChannel.map((m) => ({ name: m.channel, value: m.responseRate, text: percent(m.responseRate), kind: m.channel })))}</section>
</div>
<h2 id="timeline">Timeline</h2>
${chart('timeline-channels', 'Sent per channel', days, sentPerChannel)}
<h2 id="funnel">Engagement funnel</h2>
<div class="grid-2">
${bars('Funnel: share of sent', report.funnel.map((step) => ({ name: step.stage, value: step.rateOfSent, text: `${count(step.count)} · ${percent(step.rateOfSent)}` })))}
<div class="table-wrap"><table><caption>Funnel</caption><thead><tr><th scope="col">Stage</th><th scope="col" class="num">Count</th><th scope="col" class="num">Of sent</th><th scope="col" class="num">Of the step before</th></tr></thead>
<tbody>${report.funnel.map((step) => html`<tr><th scope="row">${step.stage}</th><td class="num">${count(step.count)}</td><td class="num">${percent(step.rateOfSent)}</td><td class="num">${percent(step.rateOfPrevious)}</td></tr>`)}</tbody></table></div>
</div>
<h2 id="types">By message type</h2>
<div class="table-wrap"><table><caption>Figures by message type</caption><thead><tr><th scope="col">Message type</th>${metricHead}</tr></thead>
<tbody>${report.byMessageType.map((m) => html`<tr><th scope="row">${m.messageType}</th>${metricCells(m)}</tr>`)}</tbody></table></div>
<h2 id="preferences">Preference distribution</h2>
<p class="muted">${count(preferences.clients)} clients with stored preferences (all time, not filtered); quiet hours set by ${count(preferences.quietHoursSet)}; digests allowed by ${count(preferences.batching)}.</p>
<div class="grid-2">
<section aria-labelledby="first-choice"><h3 id="first-choice">First-choice channel</h3>${bars('First-choice channel', preferences.firstChoice.map((c) => ({ name: c.channel, ...share(c.clients), kind: c.channel })))}</section>
<section aria-labelledby="opt-outs"><h3 id="opt-outs">Opted out</h3>${bars('Clients opted out, by channel', preferences.optOuts.map((c) => ({ name: c.channel, ...share(c.clients), kind: c.channel })))}</section>
<section aria-labelledby="zones"><h3 id="zones">Time zones (top 10)</h3>${bars('Time zones', preferences.timezones.slice(0, 10).map((z) => ({ name: z.timezone, ...share(z.clients) })))}</section>
<section aria-labelledby="languages"><h3 id="languages">Languages</h3>${bars('Languages', preferences.languages.slice(0, 10).map((l) => ({ name: l.language, ...share(l.clients) })))}</section>
</div>
<h2>Exports</h2>
${exportLinks(filters)}`;
  return { body, invalid: errors.length > 0 };
}

function screen(id: ScreenId, title: string, build: (deps: IngestDeps, query: unknown) => Promise<{ body: SafeHtml; invalid: boolean }>) {
  return { id, title, build };
}

/**
 * `GET /dashboard` (overview: the period's figures, a daily chart, exports) and
 * `GET /dashboard/analytics` (channel comparison, timeline per channel, funnel, message types,
 * preference distribution). Both take the analytics API's filters (`from`, `to`, `channel`,
 * `messageType`, `planId`) and read through the same queries, so their figures are the API's.
 * Bad filters answer 400 with the error by the field and the last 30 days below.
 */
export const overviewPages: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  for (const [path, s] of [
    [DASHBOARD_PATH, screen('overview', 'Overview', overviewBody)],
    [`${DASHBOARD_PATH}/analytics`, screen('analytics', 'Channels & engagement', analyticsBody)],
  ] as const) {
    app.get(path, async (request, reply) => {
      const { body, invalid } = await s.build(deps, request.query);
      return sendPage(reply, page({ screen: s.id, title: s.title, body, charts: true }), invalid ? 400 : 200);
    });
  }
};
