// streamWithCredits: withCredits for streamed work (a model's token stream). The hold is placed before
// the stream starts; the chunks pass through untouched; the usage comes from the chunk that reports it
// (OpenAI's final chunk with `stream_options: { include_usage: true }`). A stream cut mid-way, or left
// early by its reader, is charged what was counted up to there, or nothing.
//
//   const stream = await streamWithCredits(client, userId,
//     { operation: "chat", estimate: { tokens: 4000 }, usage: (c) => c.usage ? { tokens: c.usage.total_tokens } : undefined },
//     ({ signal }) => openai.chat.completions.create({ ..., stream: true, stream_options: { include_usage: true } }, { signal }));
//   for await (const chunk of stream) write(chunk.choices[0]?.delta?.content ?? "");
//   const { cost } = await stream.settled;
import type { Capture, Credence, Hold } from "./client.js";
import { abortReason, holdForWork, type HeldWork, type Usage, type WithCreditsOptions } from "./held-work.js";

export interface StreamWithCreditsOptions<C> extends WithCreditsOptions {
  /** The usage a chunk reports (e.g. OpenAI's final chunk with include_usage), else undefined. The last one wins. */
  usage: (chunk: C) => Usage | undefined;
  /**
   * A running count for a stream cut before its usage chunk, called with every chunk and the count so
   * far (e.g. one output token per content chunk). Without it, a cut stream that reported no usage is
   * released in full: its user pays nothing for the part they saw.
   */
  progress?: (chunk: C, soFar: Usage | undefined) => Usage | undefined;
}

export interface StreamSettlement {
  /** The credits charged (0 when the hold was released). */
  cost: number;
  /** What was captured: the usage chunk's, else the running count; undefined when released. */
  usage: Usage | undefined;
  /** True when the stream ran to its end; false when it was cut, aborted, or left early. */
  complete: boolean;
  /** The capture, or undefined when the hold was released. */
  capture: Capture | undefined;
}

export interface MeteredStream<C> extends AsyncIterable<C> {
  readonly hold: Hold;
  /**
   * Resolves once the stream has ended (or was cut, or its reader stopped, or cancel() was called) and
   * the hold was captured or released. Rejects only when the capture itself failed (the hold is then
   * released) or the stream ended without any usage.
   */
  readonly settled: Promise<StreamSettlement>;
  /** Stops the stream (aborting the work's signal) and settles: for a stream nobody will read to its end. */
  cancel(reason?: unknown): Promise<StreamSettlement>;
}

/**
 * Places the hold first (InsufficientCreditsError and the like are thrown before any work starts), then
 * calls `start` for the stream. If `start` throws, the hold is released and the error rethrown.
 */
export async function streamWithCredits<C>(
  client: Credence,
  accountId: string,
  options: StreamWithCreditsOptions<C>,
  start: (context: { signal: AbortSignal; hold: Hold }) => Promise<AsyncIterable<C>> | AsyncIterable<C>,
): Promise<MeteredStream<C>> {
  const work = await holdForWork(client, accountId, options);
  let source: AsyncIterable<C>;
  try {
    source = await start({ signal: work.signal, hold: work.hold });
  } catch (err) {
    work.detach();
    await work.release();
    throw err;
  }
  return new Metered(work, source, options);
}

class Metered<C> implements MeteredStream<C> {
  readonly settled: Promise<StreamSettlement>;
  private resolve!: (settlement: StreamSettlement) => void;
  private reject!: (err: unknown) => void;
  private settling: Promise<void> | undefined;
  private reported: Usage | undefined;
  private counted: Usage | undefined;
  private iterated = false;

  constructor(
    private readonly work: HeldWork,
    private readonly source: AsyncIterable<C>,
    private readonly options: StreamWithCreditsOptions<C>,
  ) {
    this.settled = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Whoever never awaits `settled` (a reader that only iterates) must not get an unhandled rejection:
    // the iteration throws the same error.
    this.settled.catch(() => undefined);
  }

  get hold(): Hold {
    return this.work.hold;
  }

  async cancel(reason?: unknown): Promise<StreamSettlement> {
    this.work.abort(reason);
    await this.settle(false);
    return this.settled;
  }

  [Symbol.asyncIterator](): AsyncIterator<C> {
    if (this.iterated) throw new TypeError("streamWithCredits: a metered stream can be read once.");
    this.iterated = true;
    return this.read();
  }

  private async *read(): AsyncGenerator<C> {
    let complete = false;
    try {
      for await (const chunk of this.source) {
        // Work that ignores its signal is stopped here, at its next chunk.
        if (this.work.signal.aborted) throw abortReason(this.work.signal);
        const usage = this.options.usage(chunk);
        if (usage !== undefined) this.reported = usage;
        if (this.options.progress) this.counted = this.options.progress(chunk, this.counted);
        yield chunk;
      }
      if (this.work.signal.aborted) throw abortReason(this.work.signal);
      complete = true;
    } finally {
      // A cut, an abort or a reader's `break`: stop the work (leaving the for-await above already told
      // the source to return), then charge what was counted. The reader's `break` waits for this.
      if (!complete) this.work.abort(new DOMException("The stream was left before its end.", "AbortError"));
      await this.settle(complete);
    }
    // Ran to the end: a capture failure, or a stream that never reported usage, is the reader's error too.
    await this.settled;
  }

  private settle(complete: boolean): Promise<void> {
    this.settling ??= (async () => {
      this.work.detach();
      const used = this.reported ?? this.counted;
      if (used === undefined) {
        await this.work.release();
        if (complete) this.reject(new TypeError("streamWithCredits: the stream ended without reporting usage (for OpenAI, ask for stream_options: { include_usage: true }); the hold was released."));
        else this.resolve({ cost: 0, usage: undefined, complete, capture: undefined });
        return;
      }
      try {
        const capture = await this.work.capture(used);
        this.resolve({ cost: capture.cost, usage: used, complete, capture });
      } catch (err) {
        this.reject(err);
      }
    })();
    return this.settling;
  }
}
