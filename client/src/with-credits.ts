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
import { abortReason, holdForWork, type Usage, type WithCreditsOptions } from "./held-work.js";

export type { Usage, WithCreditsOptions };

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

export async function withCredits<T>(
  client: Credence,
  accountId: string,
  options: WithCreditsOptions,
  run: (context: RunContext) => Promise<RunOutcome<T>>,
): Promise<WithCreditsResult<T>> {
  const work = await holdForWork(client, accountId, options);
  const { hold, signal, capture, release } = work;

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
    outcome = await run({ signal, hold, report });
  } catch (err) {
    return settleFailure(err);
  } finally {
    work.detach();
  }
  if (signal.aborted) return settleFailure(abortReason(signal));

  const used = outcome.usage ?? reported;
  if (used === undefined) {
    await release();
    throw new TypeError("withCredits: run returned no usage and reported none; the hold was released.");
  }
  const captured = await capture(used);
  return { result: outcome.result, cost: captured.cost, hold, capture: captured };
}
