/**
 * How many more operations the available credits pay for, at the operation's average cost in this
 * account's history (`credits / count`), or at `quoteCost` when there is no history. Integer
 * arithmetic: a float average such as 7/3 would make 35 / (7/3) come out as 14.999… → 14.
 * null means unlimited (the operation costs nothing).
 */
export function remainingOperations(
  available: number,
  history: { count: number; credits: number } | null,
  quoteCost: number,
): number | null {
  const [credits, count] = history && history.count > 0 ? [history.credits, history.count] : [quoteCost, 1];
  if (credits <= 0) return null;
  return Number((BigInt(Math.max(0, available)) * BigInt(count)) / BigInt(credits));
}
