// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- autocannon ships no types: its declaration, for the test compilation too
/// <reference path="./autocannon.d.ts" />
import autocannon from 'autocannon';
import { round } from '../bench/stats';

/** What one autocannon run at one offered rate measured. */
export interface RateStep {
  /** Offered rate (autocannon `overallRate`), requests/s. */
  readonly rate: number;
  readonly seconds: number;
  readonly connections: number;
  /** Requests answered / duration. */
  readonly achievedRate: number;
  readonly answered: number;
  /** Round trip of the 2xx answers, in ms (autocannon's histogram, 1 ms resolution). */
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly mean: number };
  /** Connection errors (timeouts included), timeouts, and answers other than 2xx. */
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly statusCodes: Record<string, number>;
  readonly passed: boolean;
  /** Why the step failed (null when it passed). */
  readonly failure: string | null;
}

export interface Target {
  readonly url: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  /** The body of request number `sequence`. */
  readonly body: (sequence: number) => string;
}

/** Requests per second each connection is given: the rate is spread over rate / 50 connections. */
export const perConnectionRate = 50;

/**
 * Connections for an offered rate: autocannon lets each connection send its share of a second
 * back to back, then wait for the next second, so every connection is a request in flight at the
 * top of each second. One connection per 50 requests/s (at most `max`) keeps that burst in
 * proportion to the rate instead of opening `max` at once at low rates.
 */
export function connectionsFor(rate: number, max: number): number {
  return Math.max(1, Math.min(max, Math.ceil(rate / perConnectionRate)));
}

/** The criteria every step and the hold must meet. */
export const criteria = { p99Ms: 100, minAchievedShare: 0.95 } as const;

/**
 * Offers `rate` requests/s to `target` for `seconds` with autocannon (`overallRate`, spread over
 * at most `connections` keep-alive connections), and judges the step: p99 < 100 ms, no error,
 * no timeout, no non-2xx answer, and at least 95 % of the offered rate answered.
 */
export function runStep(target: Target, options: { rate: number; seconds: number; connections: number; next: () => number; onTick?: () => void }): Promise<RateStep> {
  const connections = connectionsFor(options.rate, options.connections);
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        connections,
        duration: options.seconds,
        overallRate: options.rate,
        // autocannon paces each connection per second; a server that cannot keep up shows as a
        // rate not reached, so its latencies are reported as measured, not corrected.
        ignoreCoordinatedOmission: true,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path: target.path,
            headers: { 'content-type': 'application/json', ...target.headers },
            setupRequest: (request) => ({ ...request, body: target.body(options.next()) }),
          },
        ],
      },
      (error, result) => {
        if (error) return reject(error);
        const answered = result.requests.total;
        const achievedRate = round(answered / Math.max(0.001, result.duration));
        const latency = result.latency;
        const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, Number(count)]));
        const problems = [
          latency.p99 >= criteria.p99Ms && `p99 ${latency.p99} ms ≥ ${criteria.p99Ms} ms`,
          result.errors > 0 && `${result.errors} errors (${result.timeouts} timeouts)`,
          result.non2xx > 0 && `${result.non2xx} non-2xx answers (${Object.entries(statusCodes).filter(([code]) => !code.startsWith('2')).map(([code, count]) => `${count}× ${code}`).join(', ')})`,
          achievedRate < options.rate * criteria.minAchievedShare && `answered ${achievedRate}/s of ${options.rate}/s offered`,
        ].filter((problem): problem is string => typeof problem === 'string');
        resolve({
          rate: options.rate,
          seconds: round(result.duration, 1),
          connections,
          achievedRate,
          answered,
          latencyMs: { p50: latency.p50, p90: latency.p90, p99: latency.p99, max: latency.max, mean: round(latency.mean, 2) },
          errors: result.errors,
          timeouts: result.timeouts,
          non2xx: result.non2xx,
          statusCodes,
          passed: problems.length === 0,
          failure: problems.length === 0 ? null : problems.join('; '),
        });
      },
    );
    if (options.onTick) instance.on('tick', options.onTick);
  });
}

export interface RampOptions {
  readonly start: number;
  readonly step: number;
  readonly stepSeconds: number;
  readonly holdSeconds: number;
  readonly max: number;
  readonly connections: number;
  /** Seconds at the start rate before the ramp (not judged): JIT, pools and caches warm up. */
  readonly warmupSeconds: number;
}

export interface RampResult {
  readonly steps: readonly RateStep[];
  /** Highest rate whose step passed (null: not even the start rate). */
  readonly highestPassingRate: number | null;
  /** True when every step up to --max passed: the limit lies beyond it. */
  readonly reachedMax: boolean;
  /** Each hold tried, highest first: the first passing one is the result. */
  readonly holds: readonly RateStep[];
  /** The rate held for --hold-seconds with every criterion met (null: none). */
  readonly heldRate: number | null;
}

/**
 * Rising rates from `start` by `step` until a step fails or `max` is passed; then holds the
 * highest passing rate for `holdSeconds`. A hold that fails is retried one step lower (three
 * holds at most), so the result is a rate that was held, not only reached.
 */
export async function ramp(target: Target, options: RampOptions, report: (line: string) => void, check: () => void): Promise<RampResult> {
  let sequence = 0;
  const next = () => sequence++;
  if (options.warmupSeconds > 0) {
    report(`  warm-up: ${options.start}/s for ${options.warmupSeconds} s`);
    await runStep(target, { rate: options.start, seconds: options.warmupSeconds, connections: options.connections, next });
    check();
  }
  const steps: RateStep[] = [];
  let highestPassingRate: number | null = null;
  let reachedMax = false;
  for (let rate = options.start; ; rate += options.step) {
    if (rate > options.max) {
      reachedMax = true;
      break;
    }
    const step = await runStep(target, { rate, seconds: options.stepSeconds, connections: options.connections, next });
    check();
    steps.push(step);
    report(`  ${describe(step)}`);
    if (!step.passed) break;
    highestPassingRate = rate;
  }
  const holds: RateStep[] = [];
  let heldRate: number | null = null;
  for (let rate = highestPassingRate; rate !== null && rate >= options.start && holds.length < 3; rate -= options.step) {
    report(`  hold: ${rate}/s for ${options.holdSeconds} s…`);
    const hold = await runStep(target, { rate, seconds: options.holdSeconds, connections: options.connections, next });
    check();
    holds.push(hold);
    report(`  hold ${describe(hold)}`);
    if (hold.passed) {
      heldRate = rate;
      break;
    }
  }
  return { steps, highestPassingRate, reachedMax, holds, heldRate };
}

/** One line about a step. */
export function describe(step: RateStep): string {
  const verdict = step.passed ? 'pass' : `FAIL (${step.failure})`;
  return `${step.rate}/s offered for ${step.seconds} s: ${step.achievedRate}/s answered, p50 ${step.latencyMs.p50} ms, p99 ${step.latencyMs.p99} ms, max ${step.latencyMs.max} ms, errors ${step.errors}, non-2xx ${step.non2xx}: ${verdict}`;
}
