import { readFileSync, writeFileSync } from 'node:fs';
import type { ChaosReport } from './run';

const fmt = (value: number) => value.toLocaleString('en-US');
const seconds = (ms: number | null) => (ms === null ? 'never (gave up waiting)' : `${(ms / 1000).toFixed(1)} s`);

/** The report as a markdown table, with the machine and what was (not) done. */
export function chaosMarkdown(report: ChaosReport): string {
  const { communications: c, duplicates: d, kills: k, machine: m } = report;
  const statuses = Object.entries(c.byStatus)
    .sort(([, a], [, b]) => b - a)
    .map(([status, n]) => `${status} ${fmt(n)}`)
    .join(', ');
  const lines = [
    '| figure | value |',
    '|---|---|',
    `| communications sent (HTTP batches, ⅓ each email / SMS / WhatsApp) | ${fmt(report.sent.accepted)} of ${fmt(report.sent.requested)} accepted (${fmt(report.sent.postRetries)} batch retries while Redis or PostgreSQL was down) |`,
    `| final at the end | ${fmt(c.final)} (${statuses}) |`,
    `| failed (final, the forced channel gave up: retries spent or its breaker open) | ${Object.entries(c.failedByChannel).map(([channel, n]) => `${channel} ${fmt(n)}`).join(', ') || 'none'} |`,
    `| **lost** (no row, or never enqueued and never finished) | **${fmt(c.lost)}** |`,
    `| **stuck** (not final at the end) | **${fmt(c.stuck)}** |`,
    `| **sends the sandbox saw twice** | **${fmt(d.total)}** (${fmt(d.communications)} communications; email ${d.byChannel.email}, SMS ${d.byChannel.sms}, WhatsApp ${d.byChannel.whatsapp}) |`,
    `| duplicates of communications no kill or PostgreSQL restart interrupted | ${fmt(d.unexplained)} |`,
    `| duplicates ≤ kills during a provider call | ${d.atMostOnePerKillDuringProviderCall ? 'yes' : 'no'} (${fmt(d.total)} vs ${k.duringProviderCall}: one kill interrupts every send its worker has in flight) |`,
    `| marked sent but never seen by the sandbox | ${fmt(c.sentUnseen)} |`,
    `| worker kills (SIGKILL, restarted at once) | ${k.total} (${Object.entries(k.byService).map(([s, n]) => `${s} ${n}`).join(', ') || 'none'}) |`,
    `| kills during a provider call (rows \`sending\` on the worker's channels) | ${k.duringProviderCall} (${fmt(k.rowsSendingAtKills)} distinct communications sending at those moments) |`,
    `| Redis restarts, empty | ${report.redis.restarts} (Redis ${report.redis.version}) |`,
    `| PostgreSQL restarts | ${report.postgres.restarts}: ${report.postgres.note} (PostgreSQL ${report.postgres.version}) |`,
    `| provider faults | ${report.faults.outage}; ${report.faults.errorRate} |`,
    `| chaos phase | ${seconds(report.chaosPhaseMs)} |`,
    `| time to drain (faults cleared → every communication final) | ${seconds(report.drainMs)} |`,
    `| target (0 lost, 0 stuck, every duplicate interrupted by a kill during its provider call) | ${report.target.met ? 'met' : `**missed**: ${report.target.misses.join('; ')}`} |`,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}, ${m.platform}, load ${m.loadAverage} at the start. Run ${report.startedAt}.`,
  ];
  return lines.join('\n');
}

/** Replaces what is between `<!-- chaos:start -->` and `<!-- chaos:end -->` in `path` (read right before writing). */
export function writeChaosSection(path: string, report: ChaosReport, command: string): void {
  const start = '<!-- chaos:start -->';
  const end = '<!-- chaos:end -->';
  const text = readFileSync(path, 'utf8');
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${path} has no ${start} … ${end} section`);
  const body = [
    '',
    `\`${command}\`: the engine as five processes (sandbox, ingest, strategy, email and messaging workers) on a database,`,
    'queue prefix and redis-server of its own. While the communications are posted, a random worker is SIGKILLed and restarted',
    'at once, the private Redis is killed and started again empty (the reconciler re-enqueues from PostgreSQL), the WhatsApp',
    'stand-in is down and the SMTP server refuses a share of emails with 451. Then the faults are cleared and the run waits',
    'until every communication is final. Duplicates are counted in the sandbox (SMTP mailbox by communication id, SMS and',
    'WhatsApp outboxes). A kill "during a provider call" is one at which a row was `sending` on that worker\'s channels:',
    'the one window where a send can be doubled (docs/delivery.md). A worker runs many jobs at once, so one kill can double',
    'several sends; the run checks that every duplicate belongs to a communication that was `sending` at a kill.',
    '',
    chaosMarkdown(report),
    '',
  ].join('\n');
  writeFileSync(path, `${text.slice(0, from + start.length)}${body}${text.slice(to)}`);
}
