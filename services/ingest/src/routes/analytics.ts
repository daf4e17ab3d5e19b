import { Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import PDFDocument from 'pdfkit';
import { z } from 'zod';
import { digestMessageType, ExternalIdSchema, MessageChannelSchema, messageTypes } from '@crm/core';
import {
  exportCommunicationPages,
  getAnalyticsCells,
  getAnalyticsReport,
  getPreferenceDistribution,
  type AnalyticsCell,
  type AnalyticsFilters,
  type AnalyticsMetrics,
  type AnalyticsReport,
  type CommunicationExportRow,
  type PreferenceDistribution,
} from '@crm/db';
import type { IngestDeps } from '../app';
import { ProblemError } from '../problem';

/** Longest range one request may cover, in days (both ends included). */
export const ANALYTICS_MAX_DAYS = 732;
/** Days covered when `from` is not given (ending at `to`, today by default). */
export const ANALYTICS_DEFAULT_DAYS = 30;
const DAY_MS = 86_400_000;

/** A date `YYYY-MM-DD` that exists (UTC). */
const DaySchema = z.string().superRefine((value, ctx) => {
  const parsed = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T00:00:00Z`) : null;
  if (!parsed || Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== value) {
    ctx.addIssue({ code: 'custom', message: 'must be a date YYYY-MM-DD' });
  }
});

const filterFields = {
  from: DaySchema.optional(),
  to: DaySchema.optional(),
  channel: MessageChannelSchema.optional(),
  messageType: z.enum([...messageTypes, digestMessageType]).optional(),
  planId: ExternalIdSchema.optional(),
};

/** `GET /api/crm/analytics` and `…/report.pdf`: the filters. Days are UTC; both ends included. */
export const AnalyticsQuerySchema = z.strictObject(filterFields);
/** `GET /api/crm/analytics/export.csv`: the filters, and which rows (`cells` by default, or `communications`). */
export const AnalyticsExportQuerySchema = z.strictObject({ ...filterFields, rows: z.enum(['cells', 'communications']).default('cells') });

type FilterQuery = z.infer<typeof AnalyticsQuerySchema>;

/** The filters of a query, with the default range (the 30 days up to today) and the range checked. */
export function analyticsFiltersOf(query: FilterQuery, now = new Date()): AnalyticsFilters {
  const to = query.to ?? now.toISOString().slice(0, 10);
  const from = query.from ?? new Date(Date.parse(`${to}T00:00:00Z`) - (ANALYTICS_DEFAULT_DAYS - 1) * DAY_MS).toISOString().slice(0, 10);
  if (from > to) throw new ProblemError('validation_failed', 'to: is before from', [{ field: 'to', in: 'query', message: 'is before from' }]);
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS + 1;
  if (days > ANALYTICS_MAX_DAYS) {
    throw new ProblemError('validation_failed', `to: the range is longer than ${ANALYTICS_MAX_DAYS} days`, [
      { field: 'to', in: 'query', message: `must be at most ${ANALYTICS_MAX_DAYS} days after from` },
    ]);
  }
  return {
    from,
    to,
    ...(query.channel !== undefined && { channel: query.channel }),
    ...(query.messageType !== undefined && { messageType: query.messageType }),
    ...(query.planId !== undefined && { planId: query.planId }),
  };
}

// --- CSV -----------------------------------------------------------------------------------

/** A CSV field (RFC 4180): quoted when it holds a comma, quote or line break; empty for null. */
function csvField(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
const csvLine = (values: readonly (string | number | null)[]): string => `${values.map(csvField).join(',')}\r\n`;

/** Columns of the cells export: one row per day × channel × message type. */
export const cellCsvColumns = [
  'day', 'channel', 'message_type', 'total', 'sent', 'delivered', 'opened', 'opened_human', 'clicked', 'responded',
  'failed', 'bounced', 'cancelled', 'response_count', 'avg_response_seconds', 'median_response_seconds',
  'delivery_rate', 'open_rate', 'human_open_rate', 'click_rate', 'response_rate',
] as const;

function cellCsvValues(cell: AnalyticsCell): (string | number | null)[] {
  return [
    cell.day, cell.channel, cell.messageType, cell.total, cell.sent, cell.delivered, cell.opened, cell.openedHuman, cell.clicked,
    cell.responded, cell.failed, cell.bounced, cell.cancelled, cell.responseCount, cell.avgResponseSeconds, cell.medianResponseSeconds,
    cell.deliveryRate, cell.openRate, cell.humanOpenRate, cell.clickRate, cell.responseRate,
  ];
}

/** Columns of the communications export: ids, type, channel, status and timestamps; nothing personal. */
export const communicationCsvColumns = [
  'id', 'plan_id', 'message_type', 'channel', 'status', 'urgency', 'created_at', 'sent_at', 'delivered_at', 'opened_at',
  'clicked_at', 'responded_at', 'failed_at', 'bounced_at', 'cancelled_at',
] as const satisfies readonly (keyof CommunicationExportRow)[];

// --- PDF -----------------------------------------------------------------------------------

const percent = (rate: number | null): string => (rate === null ? '-' : `${(rate * 100).toFixed(1)} %`);
const seconds = (value: number | null): string => {
  if (value === null) return '-';
  if (value < 120) return `${value.toFixed(0)} s`;
  if (value < 7200) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
};

type Doc = InstanceType<typeof PDFDocument>;
const LEFT = 50;
const WIDTH = 495;

function heading(doc: Doc, text: string): void {
  if (doc.y > 680) doc.addPage();
  doc.moveDown(0.8).font('Helvetica-Bold').fontSize(13).fillColor('#111111').text(text, LEFT, doc.y).moveDown(0.3);
}

/** A table with a bold header row; columns share the width by `widths` (fractions). */
function table(doc: Doc, header: readonly string[], rows: readonly (readonly string[])[], widths: readonly number[]): void {
  const row = (cells: readonly string[], bold: boolean) => {
    if (doc.y > 740) doc.addPage();
    const y = doc.y;
    let x = LEFT;
    doc.font(bold ? 'Helvetica-Bold' : 'Helvetica').fontSize(9).fillColor('#111111');
    cells.forEach((cell, i) => {
      const w = (widths[i] ?? 0) * WIDTH;
      doc.text(cell, x + 2, y, { width: w - 4, lineBreak: false, align: i === 0 ? 'left' : 'right' });
      x += w;
    });
    doc.y = y + 15;
    doc.moveTo(LEFT, doc.y - 3).lineTo(LEFT + WIDTH, doc.y - 3).lineWidth(0.3).strokeColor('#bbbbbb').stroke();
  };
  row(header, true);
  for (const cells of rows) row(cells, false);
  doc.x = LEFT;
}

/** Horizontal bars, one per label, of values 0…1 (rates), with the value printed. */
function barChart(doc: Doc, title: string, bars: readonly { label: string; value: number | null }[], color: string): void {
  doc.moveDown(0.5);
  if (doc.y > 600) doc.addPage();
  doc.font('Helvetica-Bold').fontSize(10).fillColor('#111111').text(title, LEFT, doc.y).moveDown(0.3);
  const labelWidth = 110;
  const barWidth = WIDTH - labelWidth - 60;
  for (const bar of bars) {
    const y = doc.y;
    doc.font('Helvetica').fontSize(9).fillColor('#111111').text(bar.label, LEFT, y + 1, { width: labelWidth - 6, lineBreak: false });
    doc.rect(LEFT + labelWidth, y, barWidth, 11).fillColor('#eeeeee').fill();
    if (bar.value !== null && bar.value > 0) doc.rect(LEFT + labelWidth, y, Math.max(1, barWidth * Math.min(1, bar.value)), 11).fillColor(color).fill();
    doc.fillColor('#111111').text(percent(bar.value), LEFT + labelWidth + barWidth + 6, y + 1, { width: 54, lineBreak: false });
    doc.y = y + 16;
  }
  doc.x = LEFT;
  doc.moveDown(0.5);
}

/** A line chart of daily counts (one line per series) with its axis and legend. */
function lineChart(doc: Doc, title: string, days: readonly string[], series: readonly { name: string; color: string; values: readonly number[] }[]): void {
  if (doc.y > 520) doc.addPage();
  doc.font('Helvetica-Bold').fontSize(10).fillColor('#111111').text(title, LEFT, doc.y).moveDown(0.3);
  const top = doc.y;
  const height = 150;
  const left = LEFT + 35;
  const width = WIDTH - 35;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  doc.lineWidth(0.5).strokeColor('#888888').moveTo(left, top).lineTo(left, top + height).lineTo(left + width, top + height).stroke();
  doc.font('Helvetica').fontSize(7).fillColor('#555555');
  doc.text(String(max), LEFT, top - 3, { width: 32, align: 'right', lineBreak: false });
  doc.text('0', LEFT, top + height - 4, { width: 32, align: 'right', lineBreak: false });
  const x = (i: number) => left + (days.length <= 1 ? width / 2 : (i * width) / (days.length - 1));
  const y = (value: number) => top + height - (value / max) * height;
  for (const s of series) {
    doc.lineWidth(1.2).strokeColor(s.color);
    s.values.forEach((value, i) => (i === 0 ? doc.moveTo(x(i), y(value)) : doc.lineTo(x(i), y(value))));
    if (s.values.length === 1) doc.circle(x(0), y(s.values[0] ?? 0), 1.5);
    doc.stroke();
  }
  doc.fillColor('#555555');
  if (days.length > 0) {
    doc.text(days[0] ?? '', left, top + height + 3, { lineBreak: false });
    doc.text(days[days.length - 1] ?? '', left + width - 60, top + height + 3, { width: 60, align: 'right', lineBreak: false });
  }
  let legendX = left;
  const legendY = top + height + 15;
  for (const s of series) {
    doc.rect(legendX, legendY + 1, 8, 6).fillColor(s.color).fill();
    doc.fillColor('#111111').fontSize(8).text(s.name, legendX + 11, legendY, { lineBreak: false });
    legendX += 80;
  }
  doc.x = LEFT;
  doc.y = legendY + 18;
}

const metricColumns = ['Sent', 'Delivered', 'Delivery', 'Open', 'Human open', 'Click', 'Response', 'Avg resp.'];
const metricCells = (m: AnalyticsMetrics): string[] => [
  String(m.sent), String(m.delivered), percent(m.deliveryRate), percent(m.openRate), percent(m.humanOpenRate), percent(m.clickRate),
  percent(m.responseRate), seconds(m.avgResponseSeconds),
];

/** Draws the stakeholder report: title, period, filters, summary figures, tables and charts. */
function drawReport(doc: Doc, report: AnalyticsReport, preferences: PreferenceDistribution, generatedAt: Date): void {
  const { filters, overall } = report;
  doc.font('Helvetica-Bold').fontSize(20).fillColor('#111111').text('Communication analytics report', LEFT, 50);
  doc.font('Helvetica').fontSize(10).fillColor('#333333');
  doc.text(`Period: ${filters.from} to ${filters.to} (UTC, both days included)`);
  const applied = [
    `channel: ${filters.channel ?? 'all'}`, `message type: ${filters.messageType ?? 'all'}`, `plan: ${filters.planId ?? 'all'}`,
  ];
  doc.text(`Filters: ${applied.join('; ')}`);
  doc.text(`Generated: ${generatedAt.toISOString()}; figures from ${report.source === 'rollups' ? 'the daily rollups' : 'the communications'}`);

  heading(doc, 'Summary');
  const summary: [string, string][] = [
    ['Communications', String(overall.total)],
    ['Sent', String(overall.sent)],
    ['Delivered', String(overall.delivered)],
    ['Delivery rate', percent(overall.deliveryRate)],
    ['Open rate', percent(overall.openRate)],
    ['Open rate without machine opens', percent(overall.humanOpenRate)],
    ['Click-through rate', percent(overall.clickRate)],
    ['Response rate', percent(overall.responseRate)],
    ['Average time to response', seconds(overall.avgResponseSeconds)],
    ['Median time to response', seconds(overall.medianResponseSeconds)],
    ['Failed / bounced / cancelled', `${overall.failed} / ${overall.bounced} / ${overall.cancelled}`],
  ];
  table(doc, ['Figure', 'Value'], summary, [0.7, 0.3]);

  heading(doc, 'Funnel');
  table(doc, ['Stage', 'Count', 'Of sent', 'Of previous step'], report.funnel.map((step) => [
    step.stage, String(step.count), percent(step.rateOfSent), percent(step.rateOfPrevious),
  ]), [0.34, 0.22, 0.22, 0.22]);
  barChart(doc, 'Funnel (share of sent)', report.funnel.map((step) => ({ label: step.stage, value: step.rateOfSent })), '#2f6fb0');

  heading(doc, 'By channel');
  table(doc, ['Channel', ...metricColumns], report.byChannel.map((m) => [m.channel, ...metricCells(m)]), [0.16, 0.1, 0.1, 0.1, 0.1, 0.12, 0.1, 0.11, 0.11]);
  barChart(doc, 'Delivery rate by channel', report.byChannel.map((m) => ({ label: m.channel, value: m.deliveryRate })), '#3c8d5a');
  barChart(doc, 'Open rate by channel (without machine opens)', report.byChannel.map((m) => ({ label: m.channel, value: m.humanOpenRate })), '#c07a22');

  heading(doc, 'By message type');
  table(doc, ['Message type', ...metricColumns], report.byMessageType.map((m) => [m.messageType, ...metricCells(m)]), [0.2, 0.09, 0.1, 0.1, 0.1, 0.12, 0.09, 0.1, 0.1]);

  heading(doc, 'By day');
  lineChart(doc, 'Sent, delivered and opened per day', report.byDay.map((d) => d.day), [
    { name: 'sent', color: '#2f6fb0', values: report.byDay.map((d) => d.sent) },
    { name: 'delivered', color: '#3c8d5a', values: report.byDay.map((d) => d.delivered) },
    { name: 'opened', color: '#c07a22', values: report.byDay.map((d) => d.opened) },
  ]);

  heading(doc, 'Client preferences');
  doc.font('Helvetica').fontSize(9).fillColor('#111111');
  doc.text(`Clients with preferences: ${preferences.clients}; quiet hours set: ${preferences.quietHoursSet}; batching: ${preferences.batching}`);
  doc.moveDown(0.3);
  table(doc, ['First-choice channel', 'Clients'], preferences.firstChoice.map((c) => [c.channel, String(c.clients)]), [0.7, 0.3]);
  doc.moveDown(0.3);
  table(doc, ['Opted out of', 'Clients'], preferences.optOuts.map((c) => [c.channel, String(c.clients)]), [0.7, 0.3]);
  doc.moveDown(0.3);
  table(doc, ['Time zone (top 10)', 'Clients'], preferences.timezones.slice(0, 10).map((c) => [c.timezone, String(c.clients)]), [0.7, 0.3]);
}

/** Renders the report to a PDF in memory (a few pages: small). */
async function renderPdf(report: AnalyticsReport, preferences: PreferenceDistribution, generatedAt: Date): Promise<Buffer> {
  const doc = new PDFDocument({ size: 'A4', margin: 50, info: { Title: 'Communication analytics report', Author: 'crm-engine' } });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  drawReport(doc, report, preferences, generatedAt);
  doc.end();
  return done;
}

// --- routes --------------------------------------------------------------------------------

/**
 * `GET /api/crm/analytics`: delivery, open (with and without machine opens), click-through and
 * response rates and time to response, overall, by channel, by message type and by day, the
 * funnel and the distribution of preferences. Filters `from`, `to` (UTC days, both included;
 * the last 30 days by default), `channel`, `messageType`, `planId`.
 * `GET /api/crm/analytics/export.csv`: the same filters; streams one row per day × channel ×
 * message type with counts and rates, or with `rows=communications` the communications
 * themselves (ids, type, channel, status, timestamps; keyset pages, so millions of rows stream).
 * `GET /api/crm/analytics/report.pdf`: a report for stakeholders (summary table, funnel, charts).
 * All need an API key.
 */
export const analyticsRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const api = app.withTypeProvider<ZodTypeProvider>();

  const figures = {
    summary: 'Delivery and engagement figures',
    description:
      'Delivery, open (with and without machine opens), click-through and response rates and time to response: overall, by channel, ' +
      'by message type and by day; the funnel; the distribution of preferences. `from` and `to` are UTC days, both included (default: the last 30 days).',
    querystring: AnalyticsQuerySchema,
  };
  api.get('/api/crm/analytics', { schema: figures }, async (request) => {
    const filters = analyticsFiltersOf(request.query);
    const [report, preferences] = await Promise.all([getAnalyticsReport(deps.db, filters), getPreferenceDistribution(deps.db)]);
    return { ...report, preferences };
  });

  const csvExport = {
    summary: 'The figures as CSV',
    description: 'The same filters; one row per day × channel × message type with counts and rates, or with `rows=communications` one row per communication (ids, type, channel, status, timestamps), streamed.',
    querystring: AnalyticsExportQuerySchema,
    response: { 200: { description: 'A CSV download', content: { 'text/csv': { schema: z.unknown() } } } },
  };
  api.get('/api/crm/analytics/export.csv', { schema: csvExport }, async (request, reply) => {
    const { rows, ...query } = request.query;
    const filters = analyticsFiltersOf(query);
    const name = `crm-analytics-${rows}-${filters.from}-${filters.to}.csv`;
    reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}"`).header('cache-control', 'no-store');
    if (rows === 'cells') {
      // Bounded: days × channels × types. Read before the answer starts, so a failure is a problem response.
      const cells = await getAnalyticsCells(deps.db, filters);
      return reply.send(csvLine(cellCsvColumns) + cells.map((cell) => csvLine(cellCsvValues(cell))).join(''));
    }
    const pages = exportCommunicationPages(deps.db, filters);
    const first = await pages.next(); // the first page before the status line: an error here is still a 500 problem
    const log = request.log;
    async function* lines(): AsyncGenerator<string> {
      yield csvLine(communicationCsvColumns);
      let page = first;
      try {
        while (page.done !== true) {
          yield page.value.map((row) => csvLine(communicationCsvColumns.map((column) => row[column]))).join('');
          page = await pages.next();
        }
      } catch (error) {
        // The status line is gone: end the answer short (the client sees a truncated transfer).
        log.error({ err: error instanceof Error ? { name: error.name, message: error.message } : String(error) }, 'CSV export failed');
        throw error;
      }
    }
    return reply.send(Readable.from(lines()));
  });

  const pdfReport = {
    summary: 'A PDF report for stakeholders',
    description: 'The same filters as the figures: a summary table, the funnel and charts.',
    querystring: AnalyticsQuerySchema,
    response: { 200: { description: 'The report', content: { 'application/pdf': { schema: z.unknown() } } } },
  };
  api.get('/api/crm/analytics/report.pdf', { schema: pdfReport }, async (request, reply) => {
    const filters = analyticsFiltersOf(request.query);
    const [report, preferences] = await Promise.all([getAnalyticsReport(deps.db, filters), getPreferenceDistribution(deps.db)]);
    const pdf = await renderPdf(report, preferences, new Date());
    return reply
      .type('application/pdf')
      .header('content-disposition', `inline; filename="crm-analytics-${filters.from}-${filters.to}.pdf"`)
      .header('cache-control', 'no-store')
      .send(pdf);
  });
};
