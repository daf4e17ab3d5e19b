import type { LightMyRequestResponse } from 'fastify';
import { testEnvironment } from '@crm/testing';
import { Cleanup } from '../src/bench/infra';
import { problemsOf, runFuzz } from '../src/fuzz/run';
import { startFuzzTarget, type FuzzTarget } from '../src/fuzz/target';
import { parseFuzzOptions } from '../src/fuzz';

// The short version of `npm run fuzz`: a few thousand generated requests over every route of
// ingest, with a fixed seed (printed with any failure, to replay it with `npm run fuzz -- --seed`).
const SEED = 20_261_203;
const RUNS = 5_000;

let target: FuzzTarget;
beforeAll(async () => {
  target = await startFuzzTarget({ databaseUrl: testEnvironment().DATABASE_URL, cleanup: new Cleanup() });
}, 60_000);
afterAll(() => target?.close());

describe('npm run fuzz (short version)', () => {
  it(`answers every route's generated requests without a 5xx, a leak, a non-problem 4xx or a write on rejection (seed ${SEED})`, async () => {
    expect(target.routes.length).toBeGreaterThan(50);
    for (const path of ['/api/crm/communications', '/webhooks/twilio/status', '/webhooks/whatsapp', '/t/o/*', '/u/*', '/dashboard', '/login']) {
      expect(target.routes.map((route) => route.url)).toContain(path);
    }
    const result = await runFuzz(target, { runs: RUNS, seed: SEED, minPerRoute: 10 });
    const failures = result.routes.filter((route) => route.failure).map((route) =>
      `${route.route} (seed ${route.failure?.seed}, path ${route.failure?.path}):\n${route.failure?.message}\ncounterexample:\n${route.failure?.counterexample}`,
    );
    process.stdout.write(`fuzz: seed ${SEED}, ${result.runs} cases over ${result.routes.length} routes in ${result.ms} ms\n`);
    expect(failures).toEqual([]);
    expect(result.runs).toBeGreaterThanOrEqual(RUNS);
  }, 120_000);

  it('catches what it is meant to catch: a 5xx, a stack trace, a 4xx that is not problem details', () => {
    const route = { method: 'GET', url: '/api/crm/communications' };
    const request = { method: 'GET', url: '/api/crm/communications', headers: {}, replay: false };
    const response = (statusCode: number, type: string, body: string) => ({ statusCode, headers: { 'content-type': type }, body }) as unknown as LightMyRequestResponse;
    expect(problemsOf(route, request, response(200, 'application/json', '{"items":[]}'))).toEqual([]);
    expect(problemsOf(route, request, response(500, 'application/problem+json', '{"code":"internal"}'))).toEqual([expect.stringContaining('answered 500')]);
    expect(problemsOf(route, request, response(400, 'application/json', '{"error":"x"}'))).toEqual([expect.stringContaining('not application/problem+json')]);
    expect(problemsOf(route, request, response(400, 'application/problem+json', '{"detail":"x"}'))).toEqual([expect.stringContaining('has no code')]);
    const stack = 'TypeError: x\n    at handler (/srv/app/services/ingest/src/routes/read.ts:10:5)';
    expect(problemsOf(route, request, response(400, 'application/problem+json', JSON.stringify({ code: 'x', detail: stack }).replace(/\\n/g, '\n')))).toEqual(
      expect.arrayContaining([expect.stringContaining('a stack frame'), expect.stringContaining('.ts:')]),
    );
  });

  it('reads its options', () => {
    expect(parseFuzzOptions(['--runs', '500', '--seed', '9', '--doc'])).toEqual({ runs: 500, seed: 9, doc: true, route: null });
    expect(() => parseFuzzOptions(['--runs'])).toThrow(/usage/);
  });
});
