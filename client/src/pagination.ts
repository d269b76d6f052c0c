// Cursor pagination: `for await (const entry of client.entries.list(id))` follows `next_cursor` page by
// page, fetching the next page only when the loop gets there.

export interface Page<T> {
  data: T[];
  next_cursor?: string | null;
}

export class PageIterator<T> implements AsyncIterable<T> {
  constructor(private readonly fetchPage: (cursor: string | undefined) => Promise<Page<T>>, private readonly startCursor?: string) {}

  /** One page (the first, or the one at `cursor`), with its next_cursor. */
  page(cursor: string | undefined = this.startCursor): Promise<Page<T>> {
    return this.fetchPage(cursor);
  }

  /** Every page in turn. */
  async *pages(): AsyncGenerator<Page<T>> {
    let cursor = this.startCursor;
    const seen = new Set<string>();
    for (;;) {
      const page = await this.fetchPage(cursor);
      yield page;
      const next = page.next_cursor ?? undefined;
      // A cursor seen before would loop forever: stop instead.
      if (!next || seen.has(next)) return;
      seen.add(next);
      cursor = next;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for await (const page of this.pages()) yield* page.data;
  }

  /** Every item of every page, up to `max` (default 10 000), in one array. */
  async toArray(max = 10_000): Promise<T[]> {
    const all: T[] = [];
    for await (const item of this) {
      all.push(item);
      if (all.length >= max) break;
    }
    return all;
  }
}
