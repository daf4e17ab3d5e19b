import { round } from '../bench/stats';

/** First-third and last-third averages of a series and the growth between them. */
export interface Drift {
  readonly firstThird: number | null;
  readonly lastThird: number | null;
  /** (last − first) / first, in percent (null without enough samples). */
  readonly growthPercent: number | null;
  /** |growth| ≤ the tolerance. */
  readonly flat: boolean | null;
  /** Growth from the first to the last sample of the last third, in percent: near 0 once a series has levelled off. */
  readonly lastThirdGrowthPercent: number | null;
}

/** The tolerance of "flat": ±10 %. */
export const flatTolerancePercent = 10;

const mean = (values: readonly number[]) => (values.length === 0 ? null : values.reduce((sum, value) => sum + value, 0) / values.length);

/**
 * Compares the mean of the first third of `values` (in sampling order) with the mean of the last
 * third. Null entries (a sample that could not be read) are left out of their third.
 */
export function drift(values: readonly (number | null)[]): Drift {
  const third = Math.floor(values.length / 3);
  if (third === 0) return { firstThird: null, lastThird: null, growthPercent: null, flat: null, lastThirdGrowthPercent: null };
  const pick = (part: readonly (number | null)[]) => part.filter((value): value is number => value !== null);
  const lastPart = pick(values.slice(values.length - third));
  const [from, to] = [lastPart[0], lastPart.at(-1)];
  const lastThirdGrowthPercent = from === undefined || to === undefined || from === 0 ? null : round(((to - from) / from) * 100, 1);
  const first = mean(pick(values.slice(0, third)));
  const last = mean(lastPart);
  if (first === null || last === null || first === 0) return { firstThird: first, lastThird: last, growthPercent: null, flat: null, lastThirdGrowthPercent };
  const growthPercent = round(((last - first) / first) * 100, 1);
  return { firstThird: Math.round(first), lastThird: Math.round(last), growthPercent, flat: Math.abs(growthPercent) <= flatTolerancePercent, lastThirdGrowthPercent };
}
