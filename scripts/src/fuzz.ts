/**
 * `npm run fuzz -- [--runs 100000] [--seed N] [--route SUBSTRING] [--doc]`: every HTTP route of
 * ingest, fuzzed with fast-check (bodies, headers, query strings, path parameters, webhook
 * signatures, replays) on a database and a redis-server of the run's own. For every answer:
 * no 5xx, no stack trace or internal path, problem details (with a `code`) for a 4xx, the
 * route's content type on success, and nothing written for a rejected request.
 *
 * Prints the cases run per route, each failure with its shrunk counterexample and seed, and the
 * time; `--doc` writes the `fuzz` section of docs/reliability.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { readEnvironment } from '@crm/config';
import { Cleanup, machine } from './bench/infra';
import { runFuzz, type FuzzResult } from './fuzz/run';
import { openApiRoutes, startFuzzTarget } from './fuzz/target';

const root = resolve(__dirname, '..', '..');
const say = (line: string) => process.stdout.write(`${line}\n`);

/** The command line of `npm run fuzz`. */
export interface FuzzOptions {
  readonly runs: number;
  readonly seed: number;
  readonly doc: boolean;
  readonly route: string | null;
}

/** Parses `--runs N --seed N --route S --doc`; throws on anything else. */
export function parseFuzzOptions(argv: readonly string[]): FuzzOptions {
  let runs = 100_000;
  let seed = Date.now() % 2 ** 31;
  let doc = false;
  let route: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--doc') doc = true;
    else if ((arg === '--runs' || arg === '--seed') && value !== undefined && /^\d+$/.test(value)) {
      if (arg === '--runs') runs = Number(value);
      else seed = Number(value);
      i++;
    } else if (arg === '--route' && value !== undefined) {
      route = value;
      i++;
    } else throw new Error(`unknown or incomplete option ${arg ?? ''}; usage: npm run fuzz -- [--runs 100000] [--seed N] [--route SUBSTRING] [--doc]`);
  }
  return { runs, seed, doc, route };
}

/** What the fuzzing found and what was changed (written into the doc with the figures). */
export const fixedDefects: readonly string[] = [
  'A URL with a malformed percent-encoding (`GET /t/o/%`, any route) or a path parameter over 256 characters was answered by Fastify itself: ' +
    '`application/json` of its own shape, echoing the path. Now 400 (414) problem+json `validation_failed` (`frameworkErrors`, services/ingest/src/error-handler.ts; ' +
    'tracking.test.ts).',
  'A lone UTF-16 surrogate in a JSON string of a request (`variables`, `metadata`, on the single, batch and preview routes) passed validation and ' +
    'made PostgreSQL\'s jsonb refuse the insert: a 500. `StorableStringSchema` (packages/core) now refuses it with a 400 naming the field (communications.test.ts).',
  'A NUL character in a callback URL (`POST /api/crm/callbacks`) reached the insert: a 500. The URL is a `StorableStringSchema` now (callbacks.test.ts).',
  'A signed WhatsApp callback whose message text, message or status id, or button id held a NUL or a lone surrogate failed its insert: a 500, ' +
    'which Meta retries for days. Those characters become U+FFFD after the signature check; answered 200 and deduplicated (webhooks-inbound.test.ts).',
  'Bull Board\'s API (operator only) threw on a body or query value with a NUL (its validation splits messages on NUL): a 500; and its error handler ' +
    'answered error messages, with stack traces under NODE_ENV=development. A NUL is refused with a 400 problem+json before Bull Board, and its errors ' +
    'are answered as problem details without message or stack (services/ingest/src/operator.ts; bull-board.test.ts).',
];

/** `2xx 40 · 400 900 · 404 3`: the answers of one route, by status. */
export const statusLine = (statuses: Readonly<Record<string, number>>): string =>
  Object.entries(statuses).sort(([a], [b]) => Number(a) - Number(b)).map(([status, n]) => `${status}×${n}`).join(' ');

/** The `fuzz` section of docs/reliability.md. */
export function fuzzMarkdown(result: FuzzResult, missingFromOpenApi: readonly string[], machineLine: string, requestedRuns: number = result.runs): string {
  const failed = result.routes.filter((r) => r.failure);
  const lines = [
    `Run: \`npm run fuzz -- --runs ${requestedRuns} --seed ${result.seed}\` on ${machineLine}: **${result.runs.toLocaleString('en')} cases** over ` +
      `${result.routes.length} routes (every route Fastify registered, HEAD included) in ${(result.ms / 1000).toFixed(0)} s, ` +
      `**${failed.length} failing route${failed.length === 1 ? '' : 's'}**.`,
    '',
    'Each case is one generated request (path parameters, query string, headers, body; for webhooks also good, bad, missing and ' +
      'replayed signatures, valid signatures over garbage). Checked on every answer: status < 500; no stack frame, `.ts:` location, ' +
      '`node_modules` or internal path in the body; a 4xx is `application/problem+json` with a `code`; a success has the route\'s type ' +
      '(JSON, GIF, redirect to the signed URL, TwiML, HTML, CSV, PDF); a rejected request leaves the row count and last update of every ' +
      '`crm_*` table and the Redis key count as they were; a replayed webhook or idempotency-keyed request writes nothing more.',
    '',
    '| route | cases | ms | answers (status×count) | result |',
    '|---|---:|---:|---|---|',
    ...result.routes.map((r) => `| \`${r.route}\` | ${r.cases} | ${r.ms} | ${statusLine(r.statuses)} | ${r.failure ? `**failed** (seed ${r.failure.seed}, path ${r.failure.path}): ${r.failure.message.split('\n').slice(1).join(' ').replace(/\|/g, '\\|').slice(0, 200)}` : 'ok'} |`),
  ];
  lines.push(
    '',
    'Third-party routes mounted in ingest (Bull Board\'s API under `/admin/queues/`, Swagger UI under `/docs/`) answer their own JSON ' +
      'errors, so for them a JSON 4xx is accepted; everything else is checked the same. Statuses are counted over every case run, shrinking included.',
    '',
    'Defects this fuzzing found, each fixed with a regression test in the test file of its route:',
    '',
    ...fixedDefects.map((defect) => `- ${defect}`),
  );
  if (missingFromOpenApi.length > 0) lines.push('', `Registered but not in docs/openapi.json (Swagger UI, Bull Board internals and HEAD): ${missingFromOpenApi.length} routes.`);
  return lines.join('\n');
}

/** Replaces what is between the fuzz markers of docs/reliability.md (read right before writing). */
function writeDoc(section: string): void {
  const path = resolve(root, 'docs', 'reliability.md');
  const text = readFileSync(path, 'utf8');
  const start = '<!-- fuzz:start -->';
  const end = '<!-- fuzz:end -->';
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error('docs/reliability.md has no fuzz markers');
  writeFileSync(path, `${text.slice(0, from + start.length)}\n${section}\n${text.slice(to)}`);
}

async function main(): Promise<number> {
  const options = parseFuzzOptions(process.argv.slice(2));
  const env = readEnvironment();
  const cleanup = new Cleanup();
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(signal, () => void cleanup.run((line) => process.stderr.write(`${line}\n`)).finally(() => process.exit(code)));
  }
  const m = machine();
  const machineLine = `${m.cores} cores (${m.cpuModel}), ${m.ramGiB} GiB, Node ${m.node}, ${m.platform}, load ${m.loadAverage}`;
  say(`fuzz: seed ${options.seed}, ${options.runs} cases; machine: ${machineLine}`);
  const target = await startFuzzTarget({ databaseUrl: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres', cleanup });
  try {
    const registered = new Set(target.routes.map((r) => `${r.method} ${r.url.replace(/\*$/, ':token')}`));
    const documented = openApiRoutes(root);
    const undocumented = documented.filter((route) => !registered.has(route.replace(/:[a-zA-Z]+$/, (p) => (route.startsWith('GET /t/') || route.includes(' /u/') ? ':token' : p))));
    if (undocumented.length > 0) say(`documented in docs/openapi.json but not registered: ${undocumented.join(', ')}`);
    const missing = [...registered].filter((route) => !documented.includes(route));
    say(`${target.routes.length} routes registered (${documented.length} in docs/openapi.json)`);
    const result = await runFuzz(target, {
      runs: options.runs,
      seed: options.seed,
      only: options.route ? (route) => `${route.method} ${route.url}`.includes(options.route ?? '') : undefined,
      onRoute: (r) => {
        say(`${r.failure ? 'FAIL' : 'ok  '} ${r.route.padEnd(60)} ${String(r.cases).padStart(7)} cases ${String(r.ms).padStart(7)} ms  ${statusLine(r.statuses)}`);
        if (r.failure) say(`  ${r.failure.message}\n  counterexample (seed ${r.failure.seed}, path ${r.failure.path}):\n${r.failure.counterexample}`);
      },
    });
    const failed = result.routes.filter((r) => r.failure).length;
    say(`\n${result.runs} cases over ${result.routes.length} routes in ${(result.ms / 1000).toFixed(1)} s (seed ${result.seed}): ${failed} failing routes`);
    if (options.doc) {
      writeDoc(fuzzMarkdown(result, missing, machineLine, options.runs));
      say('wrote the fuzz section of docs/reliability.md');
    }
    return failed > 0 ? 1 : 0;
  } finally {
    await target.close();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`fuzz: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
