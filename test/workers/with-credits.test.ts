import { beforeAll, describe, expect, it } from "vitest";
import { InsufficientCreditsError, withCredits } from "../../client/src/index";
import { adminClient, openedAccount } from "./client-helpers";
import { account, flush } from "./helpers";

const client = adminClient();

const opened = (credits: number) => openedAccount(client, "wc", credits);

beforeAll(async () => {
  await client.prices.set("wc.chat", { rates: { tokens: { credits: 1, per: 10 } } });
});

describe("withCredits", () => {
  it("holds the estimate while the work runs, then captures the usage it reports", async () => {
    const id = await opened(1000);
    const { result, cost, capture } = await withCredits(client, id, { operation: "wc.chat", estimate: { tokens: 4000 }, description: "a chat" }, async ({ signal, hold }) => {
      expect(signal.aborted).toBe(false);
      expect(hold.amount).toBe(400);
      expect((await account(id)).available).toBe(600);
      return { result: "hello", usage: { tokens: 1234 } };
    });
    expect(result).toBe("hello");
    expect(cost).toBe(124);
    expect(capture.balance).toBe(876);
    const after = await account(id);
    expect(after.balance).toBe(876);
    expect(after.available).toBe(876);
    expect(after.held).toBe(0);
  });

  it("works with plain amounts", async () => {
    const id = await opened(100);
    const { cost } = await withCredits(client, id, { estimate: 30 }, async () => ({ result: null, usage: 12 }));
    expect(cost).toBe(12);
    expect((await account(id)).balance).toBe(88);
  });

  it("releases the hold when run throws, and rethrows its error", async () => {
    const id = await opened(1000);
    const boom = new Error("model unavailable");
    await expect(
      withCredits(client, id, { operation: "wc.chat", estimate: { tokens: 4000 } }, async () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    const after = await account(id);
    expect(after.balance).toBe(1000);
    expect(after.available).toBe(1000);
    expect(after.held).toBe(0);
    await flush(id);
    expect(await client.entries.list(id, { kind: "debit" }).toArray()).toEqual([]);
  });

  it("aborts the work and releases the hold when the caller's signal aborts", async () => {
    const id = await opened(1000);
    const controller = new AbortController();
    let sawAbort = false;
    const outcome = withCredits(client, id, { operation: "wc.chat", estimate: { tokens: 4000 }, signal: controller.signal }, ({ signal }) =>
      new Promise<{ result: null; usage: number }>((_resolve, reject) => {
        signal.addEventListener("abort", () => {
          sawAbort = true;
          reject(signal.reason);
        });
        queueMicrotask(() => controller.abort(new Error("user went away")));
      }),
    );
    await expect(outcome).rejects.toThrow("user went away");
    expect(sawAbort).toBe(true);
    const after = await account(id);
    expect(after.available).toBe(1000);
    expect(after.held).toBe(0);
  });

  it("releases the hold when aborted even if run ignores the signal and returns", async () => {
    const id = await opened(1000);
    const controller = new AbortController();
    await expect(
      withCredits(client, id, { operation: "wc.chat", estimate: { tokens: 100 }, signal: controller.signal }, async () => {
        controller.abort(new Error("cancelled"));
        return { result: 1, usage: { tokens: 100 } };
      }),
    ).rejects.toThrow("cancelled");
    expect((await account(id)).available).toBe(1000);
  });

  it("never starts the work when the estimate is not affordable", async () => {
    const id = await opened(10);
    let ran = false;
    await expect(
      withCredits(client, id, { operation: "wc.chat", estimate: { tokens: 4000 } }, async () => {
        ran = true;
        return { result: 1, usage: { tokens: 1 } };
      }),
    ).rejects.toBeInstanceOf(InsufficientCreditsError);
    expect(ran).toBe(false);
  });
});

describe("withCredits with streamed usage", () => {
  it("captures the final usage chunk a stream reports", async () => {
    const id = await opened(1000);
    const { result, cost } = await withCredits(client, id, { operation: "wc.chat", estimate: { tokens: 4000 } }, async ({ report }) => {
      let text = "";
      for (const chunk of ["Hel", "lo", "!"]) text += chunk;
      report({ tokens: 2000 }); // the final chunk's usage
      return { result: text };
    });
    expect(result).toBe("Hello!");
    expect(cost).toBe(200);
    expect((await account(id)).balance).toBe(800);
  });

  it("a stream cut mid-way captures what was reported before the cut, and rethrows", async () => {
    const id = await opened(1000);
    const cut = new TypeError("stream cut");
    await expect(
      withCredits(client, id, { operation: "wc.chat", estimate: { tokens: 4000 } }, async ({ report }) => {
        report({ tokens: 300 });
        report({ tokens: 700 });
        throw cut;
      }),
    ).rejects.toBe(cut);
    const after = await account(id);
    expect(after.balance).toBe(930);
    expect(after.available).toBe(930);
    expect(after.held).toBe(0);
  });
});

describe("withCredits misuse", () => {
  it("releases the hold when run reports no usage, or quantities for an amount hold", async () => {
    const id = await opened(100);
    await expect(withCredits(client, id, { estimate: 30 }, async () => ({ result: 1 }))).rejects.toBeInstanceOf(TypeError);
    await expect(withCredits(client, id, { estimate: 30 }, async () => ({ result: 1, usage: { tokens: 5 } }))).rejects.toBeInstanceOf(TypeError);
    const after = await account(id);
    expect(after.available).toBe(100);
    expect(after.held).toBe(0);
  });
});
