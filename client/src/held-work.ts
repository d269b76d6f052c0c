// What withCredits and streamWithCredits share: a hold placed for the estimate, captured with what the
// work really used or released, and the caller's signal linked to the work's own.
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
  /** Aborts the work (passed on to it) and releases the hold, or captures what was reported so far. */
  signal?: AbortSignal;
}

export const abortReason = (signal: AbortSignal): unknown =>
  signal.reason ?? new DOMException("The operation was aborted.", "AbortError");

function charge(operation: string | undefined, usage: Usage): { operation: string; quantities: Record<string, number> } | { amount: number } {
  if (typeof usage === "number") return { amount: usage };
  if (operation === undefined) throw new TypeError("withCredits: quantities need an operation; without one, give amounts.");
  return { operation, quantities: usage };
}

export interface HeldWork {
  hold: Hold;
  /** Aborted when the caller's signal aborts, or by abort(): the signal to hand to the work. */
  signal: AbortSignal;
  abort(reason?: unknown): void;
  /** Charges what the work used. If the capture fails, the hold is released (best effort) and it throws. */
  capture(used: Usage): Promise<Capture>;
  /** Gives the whole hold back. Best effort: if the release fails, the hold still expires at its TTL. */
  release(): Promise<void>;
  /** Stops following the caller's signal (once the work is over). */
  detach(): void;
}

/** Places the hold (throwing InsufficientCreditsError and the like before any work starts). */
export async function holdForWork(client: Credence, accountId: string, options: WithCreditsOptions): Promise<HeldWork> {
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
  const release = async () => {
    await client.holds.release(accountId, hold.hold_id).catch(() => undefined);
  };
  return {
    hold,
    signal: controller.signal,
    abort: (reason) => controller.abort(reason),
    release,
    detach: () => outer?.removeEventListener("abort", onAbort),
    // A capture is quantities for a hold placed for an operation, an amount otherwise. A failed capture
    // releases the hold: the same outcome as letting it expire, only sooner.
    capture: async (used) => {
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
    },
  };
}
