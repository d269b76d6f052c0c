// withCredits: the shortest correct path for metered work. Hold the estimate, run the work, capture what
// it really used, or release the hold when it throws or is aborted: credits are never spent on failed
// work, and the work never starts when the account cannot pay for the estimate.
//
//   const { result, cost } = await withCredits(client, userId, { operation: "chat", estimate: { tokens: 4000 } },
//     async ({ signal }) => {
//       const reply = await openai.chat.completions.create({ ... }, { signal });
//       return { result: reply, usage: { tokens: reply.usage!.total_tokens } };
//     });
import type { Capture, Credence, Hold } from "./client.js";

/** Quantities of a priced operation (e.g. {tokens: 1200}), or a plain amount of credits. */
export type Usage = Record<string, number> | number;

export interface WithCreditsOptions {
  /** The priced operation; without it, `estimate` and the reported usage are plain credit amounts. */
  operation?: string;
  /** What to hold before the work starts: quantities of `operation`, or an amount. */
  estimate: Usage;
  /** How long the hold lives if this process dies before capturing or releasing (default 900 s). */
  ttlSeconds?: number;
  /** Recorded on the capture's entry. */
  description?: string;
  /** Aborts the work (passed on to `run`) and releases the hold. */
  signal?: AbortSignal;
}

export interface RunContext {
  /** Aborted when the caller's signal aborts: pass it on to the work (fetch, the model SDK, …). */
  signal: AbortSignal;
  /** The hold placed for the estimate. */
  hold: Hold;
  /**
   * Reports the usage so far (e.g. from each streamed chunk, or the final usage chunk). If the work
   * then throws or is aborted, what was last reported is captured (the work up to there happened)
   * instead of the hold being released; without a report, a failure releases the whole hold.
   */
  report: (usage: Usage) => void;
}

export interface RunOutcome<T> {
  result: T;
  /**
   * What the work really used: quantities of the operation, or an amount (0: nothing billable).
   * Optional when `report` was called: the last report is captured.
   */
  usage?: Usage;
}

export interface WithCreditsResult<T> {
  result: T;
  /** The credits charged. */
  cost: number;
  hold: Hold;
  capture: Capture;
}

const abortReason = (signal: AbortSignal) =>
  signal.reason ?? new DOMException("The operation was aborted.", "AbortError");

function charge(operation: string | undefined, usage: Usage): { operation: string; quantities: Record<string, number> } | { amount: number } {
  if (typeof usage === "number") return { amount: usage };
  if (operation === undefined) throw new TypeError("withCredits: quantities need an operation; without one, give amounts.");
  return { operation, quantities: usage };
}

export async function withCredits<T>(
  client: Credence,
  accountId: string,
  options: WithCreditsOptions,
  run: (context: RunContext) => Promise<RunOutcome<T>>,
): Promise<WithCreditsResult<T>> {
  const outer = options.signal;
  if (outer?.aborted) throw abortReason(outer);
  const hold = await client.holds.create(
    accountId,
    { ...charge(options.operation, options.estimate), ...(options.ttlSeconds === undefined ? {} : { ttl_seconds: options.ttlSeconds }) },
    outer ? { signal: outer } : {},
  );

  const controller = new AbortController();
  const onAbort = () => controller.abort(abortReason(outer!));
  outer?.addEventListener("abort", onAbort, { once: true });
  const release = () =>
    // Best effort: if the release itself fails, the hold still expires at its TTL.
    client.holds.release(accountId, hold.hold_id).catch(() => undefined);
  // A capture is quantities for a hold placed for an operation, an amount otherwise. If it fails, the
  // hold is released (best effort): the same outcome as letting it expire, only sooner.
  const capture = async (used: Usage): Promise<Capture> => {
    try {
      if (typeof used !== "number" && options.operation === undefined) {
        throw new TypeError("withCredits: the hold was placed for an amount, so report the usage as an amount.");
      }
      return await client.holds.capture(accountId, hold.hold_id, {
        ...(typeof used === "number" ? { amount: used } : { quantities: used }),
        ...(options.description === undefined ? {} : { description: options.description }),
      });
    } catch (err) {
      await release();
      throw err;
    }
  };

  let reported: Usage | undefined;
  const report = (usage: Usage) => {
    reported = usage;
  };
  /** After a failure or an abort: capture what was reported, or release everything; then rethrow. */
  const settleFailure = async (err: unknown): Promise<never> => {
    if (reported === undefined) await release();
    else await capture(reported).catch(() => undefined);
    throw err;
  };

  let outcome: RunOutcome<T>;
  try {
    outcome = await run({ signal: controller.signal, hold, report });
  } catch (err) {
    return settleFailure(err);
  } finally {
    outer?.removeEventListener("abort", onAbort);
  }
  if (controller.signal.aborted) return settleFailure(abortReason(controller.signal));

  const used = outcome.usage ?? reported;
  if (used === undefined) {
    await release();
    throw new TypeError("withCredits: run returned no usage and reported none; the hold was released.");
  }
  const captured = await capture(used);
  return { result: outcome.result, cost: captured.cost, hold, capture: captured };
}
