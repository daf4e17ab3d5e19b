/**
 * The most events any half-open window of `windowMs` holds, over sorted event times: how a rate
 * limit test checks "never more than N in any window", whichever window one picks.
 *
 * @example busiestWindow([0, 100, 999, 1000, 1001], 1000) // 3 (100, 999, 1000)
 */
export function busiestWindow(sorted: readonly number[], windowMs: number): number {
  let most = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}
