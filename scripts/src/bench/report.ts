import type { BenchReport } from './run';

const fmt = (value: number | undefined | null, digits = 0) => (value === undefined || value === null || Number.isNaN(value) ? '–' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

/** Latency in ms: one decimal below 100 ms, whole ms above. */
const ms = (value: number) => fmt(value, value < 100 ? 1 : 0);

/** The report as markdown: the comparison table, then the engine's other figures. */
export function markdown(report: BenchReport): string {
  const lines: string[] = [];
  const { baseline, engine } = report;
  lines.push('| pipeline | messages/s | p50 ms | p99 ms | vs baseline |', '|---|---|---|---|---|');
  if (baseline) lines.push(`| raw BullMQ, two hops (2 processes) | ${fmt(baseline.throughput)} | ${ms(baseline.latencyMs.p50)} | ${ms(baseline.latencyMs.p99)} | 100% |`);
  if (engine) {
    const ratio = engine.ratioToBaseline === null ? '–' : `${fmt(engine.ratioToBaseline * 100, 1)}%`;
    lines.push(`| engine, HTTP → sent (4 processes) | ${fmt(engine.throughput)} | ${ms(engine.latencyMs.p50)} | ${ms(engine.latencyMs.p99)} | ${ratio} |`);
  }
  lines.push('', '| engine figure | value |', '|---|---|');
  if (engine) {
    lines.push(`| throughput by wall clock (first POST → all sent) | ${fmt(engine.wallClockThroughput)} msg/s |`);
    lines.push(`| ingest while the workers ran (posting N) | ${fmt(engine.posting.requestsPerSecond)} requests/s |`);
    if (engine.failed > 0) lines.push(`| messages not sent (failed/bounced/cancelled) | ${engine.failed} |`);
  }
  const { ingest, redisMemory, statements, latencyAtLoad } = report;
  if (ingest) {
    lines.push(`| ingest alone, single POSTs, ${ingest.single.connections} connections | ${fmt(ingest.single.requestsPerSecond)} requests/s (p50 ${ms(ingest.single.latencyMs.p50)} ms, p99 ${ms(ingest.single.latencyMs.p99)} ms) |`);
    const batch = ingest.batch;
    if (batch?.available) lines.push(`| ingest alone, batches of ${batch.batchSize}, ${batch.requestsInFlight} in flight | ${fmt(batch.itemsPerSecond)} messages/s (p50 ${fmt(batch.latencyMs?.p50)} ms per batch) |`);
    else lines.push('| ingest alone, batch endpoint | not available (404) |');
  }
  if (statements) {
    const by = Object.entries(statements.byService).map(([service, s]) => `${service} ${fmt(s.statements, 2)}`).join(', ');
    lines.push(`| PostgreSQL statements per message | ${fmt(statements.perMessage.statements, 2)} (${by}); ${fmt(statements.perMessage.roundTrips, 2)} round trips |`);
    lines.push(`| PostgreSQL transactions per message | ${fmt(statements.transactionsPerMessage, 2)} |`);
  }
  if (redisMemory) {
    // used_memory is the whole server's: other clients freeing memory meanwhile can make it negative.
    const used = redisMemory.usedMemoryBytesPerMessage > 0 ? `${fmt(redisMemory.usedMemoryBytesPerMessage)} B` : 'no reading (other clients freed memory meanwhile)';
    lines.push(`| Redis memory per queued message (K=${redisMemory.k}) | ${fmt(redisMemory.keyBytesPerMessage)} B by MEMORY USAGE of the run's keys; ${used} by INFO used_memory |`);
  }
  if (engine) lines.push(`| Redis memory held per sent message after the run | ${fmt(engine.redisBytesHeldPerSentMessage)} B |`);
  if (latencyAtLoad) {
    const l = latencyAtLoad;
    lines.push(`| ingest answered at ${l.offeredRate} msg/s offered | ${fmt(l.acceptedRate)} requests/s (round trip p50 ${ms(l.ingestLatencyMs.p50)} ms, p99 ${ms(l.ingestLatencyMs.p99)} ms) |`);
    lines.push(`| accept → provider call at ${l.offeredRate} msg/s offered | p50 ${ms(l.acceptToProviderCallMs.p50)} ms, p99 ${ms(l.acceptToProviderCallMs.p99)} ms |`);
    lines.push(`| accept → sent at ${l.offeredRate} msg/s offered | p50 ${ms(l.acceptToSentMs.p50)} ms, p99 ${ms(l.acceptToSentMs.p99)} ms |`);
  }
  const { machine: m, durability: d } = report;
  lines.push(
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}, load ${m.loadAverage} at the start. ` +
      `PostgreSQL ${d.postgres.version.split(' ')[0]} synchronous_commit=${d.postgres.synchronous_commit}, fsync=${d.postgres.fsync}; ` +
      `Redis ${d.redis.version} appendonly=${d.redis.appendonly}, save="${d.redis.save}".`,
  );
  if (engine) lines.push(`Engine throughput: ${engine.throughputMethod}; baseline: ${baseline?.throughputMethod ?? '–'}.`);
  return lines.join('\n');
}
