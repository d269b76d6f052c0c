import { beforeAll, describe, expect, it } from "vitest";
import { InsufficientCreditsError, streamWithCredits, type StreamWithCreditsOptions } from "../../client/src/index";
import { adminClient, openedAccount } from "./client-helpers";
import { account } from "./helpers";

const client = adminClient();

/** The shape of an OpenAI chat completion chunk, as far as metering cares. */
interface Chunk {
  choices: { delta: { content?: string } }[];
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
}
const text = (content: string): Chunk => ({ choices: [{ delta: { content } }] });
const usageChunk = (prompt: number, completion: number): Chunk => ({ choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion } });

/** 1 credit per 10 input tokens, 1 per output token (so partial counts show in the balance). */
const metering: Pick<StreamWithCreditsOptions<Chunk>, "operation" | "usage"> = {
  operation: "ws.chat",
  usage: (chunk) => (chunk.usage ? { input_tokens: chunk.usage.prompt_tokens, output_tokens: chunk.usage.completion_tokens } : undefined),
};
/** One output token per content chunk, on top of the prompt's 100 input tokens. */
const progress = (chunk: Chunk, soFar: Parameters<NonNullable<StreamWithCreditsOptions<Chunk>["progress"]>>[1]) => {
  const before = typeof soFar === "object" ? soFar : { input_tokens: 100, output_tokens: 0 };
  return chunk.choices[0]?.delta.content ? { ...before, output_tokens: (before.output_tokens ?? 0) + 1 } : before;
};
const estimate = { input_tokens: 100, output_tokens: 500 }; // 10 + 500 = 510 credits held

const opened = (credits: number) => openedAccount(client, "ws", credits);

/** Chunks as a model stream sends them, optionally cut (thrown) after `cutAfter` of them. */
async function* modelStream(chunks: Chunk[], opts: { cutAfter?: number; signal?: AbortSignal; onReturn?: () => void } = {}): AsyncGenerator<Chunk> {
  try {
    for (const [i, chunk] of chunks.entries()) {
      if (opts.cutAfter === i) throw new TypeError("terminated: the connection was reset");
      opts.signal?.throwIfAborted();
      await Promise.resolve();
      yield chunk;
    }
  } finally {
    opts.onReturn?.();
  }
}

async function readAll<C>(stream: AsyncIterable<C>): Promise<C[]> {
  const seen: C[] = [];
  for await (const chunk of stream) seen.push(chunk);
  return seen;
}

beforeAll(async () => {
  await client.prices.set("ws.chat", { rates: { input_tokens: { credits: 1, per: 10 }, output_tokens: { credits: 1, per: 1 } } });
});

describe("streamWithCredits", () => {
  it("passes every chunk through, holds the estimate while streaming, and captures the final usage chunk", async () => {
    const id = await opened(1000);
    const chunks = [text("Hel"), text("lo"), text("!"), usageChunk(120, 3)];
    let availableMidStream: number | undefined;
    const stream = await streamWithCredits(client, id, { ...metering, estimate, description: "a streamed chat" }, async function* () {
      yield* modelStream(chunks.slice(0, 1));
      availableMidStream = (await account(id)).available;
      yield* modelStream(chunks.slice(1));
    });
    expect(stream.hold.amount).toBe(510);
    expect(await readAll(stream)).toEqual(chunks);
    expect(availableMidStream).toBe(490);

    const settled = await stream.settled;
    expect(settled).toMatchObject({ cost: 15, complete: true, usage: { input_tokens: 120, output_tokens: 3 } });
    const after = await account(id);
    expect(after).toMatchObject({ balance: 985, available: 985, held: 0 });
  });

  it("a stream cut mid-way is charged what was counted up to the cut, and the reader gets the error", async () => {
    const id = await opened(1000);
    const chunks = [text("a"), text("b"), text("c"), text("d"), text("e"), usageChunk(100, 5)];
    const stream = await streamWithCredits(client, id, { ...metering, estimate, progress }, () => modelStream(chunks, { cutAfter: 3 }));
    const seen: Chunk[] = [];
    await expect(
      (async () => {
        for await (const chunk of stream) seen.push(chunk);
      })(),
    ).rejects.toThrow("connection was reset");
    expect(seen).toHaveLength(3);

    // 100 input tokens (10 credits) and the 3 output tokens delivered (3 credits): not the 510 held.
    expect(await stream.settled).toMatchObject({ cost: 13, complete: false, usage: { input_tokens: 100, output_tokens: 3 } });
    expect(await account(id)).toMatchObject({ balance: 987, available: 987, held: 0 });
  });

  it("a cut stream with no count and no usage chunk is released in full", async () => {
    const id = await opened(1000);
    const stream = await streamWithCredits(client, id, { ...metering, estimate }, () => modelStream([text("a"), text("b")], { cutAfter: 1 }));
    await expect(readAll(stream)).rejects.toThrow("connection was reset");
    expect(await stream.settled).toEqual({ cost: 0, usage: undefined, complete: false, capture: undefined });
    expect(await account(id)).toMatchObject({ balance: 1000, available: 1000, held: 0 });
  });

  it("a reader that stops early stops the model and pays for what it read", async () => {
    const id = await opened(1000);
    let modelStopped = false;
    const stream = await streamWithCredits(client, id, { ...metering, estimate, progress }, ({ signal }) =>
      modelStream([text("a"), text("b"), text("c"), text("d"), usageChunk(100, 4)], {
        signal,
        onReturn: () => {
          modelStopped = true;
        },
      }),
    );
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content === "b") break;
    }
    expect(modelStopped).toBe(true);
    // The break has waited for the capture: the balance is already final.
    expect(await account(id)).toMatchObject({ balance: 988, held: 0 });
    expect(await stream.settled).toMatchObject({ cost: 12, complete: false });
  });

  it("the caller's abort reaches the model through the signal, and what was counted is charged", async () => {
    const id = await opened(1000);
    const controller = new AbortController();
    const stream = await streamWithCredits(client, id, { ...metering, estimate, progress, signal: controller.signal }, ({ signal }) =>
      modelStream([text("a"), text("b"), text("c"), usageChunk(100, 3)], { signal }),
    );
    const seen: Chunk[] = [];
    await expect(
      (async () => {
        for await (const chunk of stream) {
          seen.push(chunk);
          if (seen.length === 2) controller.abort(new Error("user closed the tab"));
        }
      })(),
    ).rejects.toThrow("user closed the tab");
    expect(seen).toHaveLength(2);
    expect(await stream.settled).toMatchObject({ cost: 12, complete: false });
    expect(await account(id)).toMatchObject({ balance: 988, held: 0 });
  });

  it("cancel() on a stream nobody reads releases the hold", async () => {
    const id = await opened(1000);
    const stream = await streamWithCredits(client, id, { ...metering, estimate, progress }, () => modelStream([text("a"), usageChunk(100, 1)]));
    expect((await account(id)).held).toBe(510);
    expect(await stream.cancel()).toMatchObject({ cost: 0, complete: false });
    expect(await account(id)).toMatchObject({ balance: 1000, held: 0 });
  });
});

describe("streamWithCredits refusals and misuse", () => {
  it("never starts the stream when the estimate is not affordable", async () => {
    const id = await opened(100);
    let started = false;
    const attempt = streamWithCredits(client, id, { ...metering, estimate }, () => {
      started = true;
      return modelStream([]);
    });
    const err = await attempt.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientCreditsError);
    expect(err).toMatchObject({ required: 510, available: 100 });
    expect(started).toBe(false);
  });

  it("releases the hold when the stream cannot start", async () => {
    const id = await opened(1000);
    const refused = new Error("429 from the model provider");
    await expect(
      streamWithCredits(client, id, { ...metering, estimate }, async () => {
        throw refused;
      }),
    ).rejects.toBe(refused);
    expect(await account(id)).toMatchObject({ balance: 1000, held: 0 });
  });

  it("a stream that ends without reporting usage fails loudly and releases the hold", async () => {
    const id = await opened(1000);
    const stream = await streamWithCredits(client, id, { ...metering, estimate }, () => modelStream([text("a"), text("b")]));
    await expect(readAll(stream)).rejects.toThrow(/include_usage/);
    await expect(stream.settled).rejects.toBeInstanceOf(TypeError);
    expect(await account(id)).toMatchObject({ balance: 1000, held: 0 });
  });

  it("can be read once", async () => {
    const id = await opened(1000);
    const stream = await streamWithCredits(client, id, { ...metering, estimate }, () => modelStream([usageChunk(10, 0)]));
    await readAll(stream);
    expect(() => stream[Symbol.asyncIterator]()).toThrow(/read once/);
    expect((await stream.settled).cost).toBe(1);
  });
});
