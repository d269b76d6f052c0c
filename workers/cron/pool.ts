/**
 * Runs `work` over `items` with at most `limit` in flight, keeping the order of the results. A failure
 * is returned in its place, not thrown: one account's object failing must not stop the others.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<(R | Failure)[]> {
  const out: (R | Failure)[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = await work(items[i] as T);
      } catch (error) {
        out[i] = new Failure(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class Failure {
  constructor(readonly error: unknown) {}
}
