// The ledger's rules. Each takes the loaded state and a request and returns a Step: the next state,
// the rows to write and the outcome. They never read a clock or a database: `now` and new ids come in.

import { Draft, type Totals } from "./draft";
import { addSpend, currentSpend, limitBreach, limitBreaches, type LimitBreach } from "./limits";
import { burnAroundHolds, holdsCovered } from "./cover";
import { applyAllowance } from "./allowance";
import { addLot, afterBalanceChange, checkLowBalance, type GrantInput } from "./credit";
import { settleInto } from "./expiry";
import { availableBefore, checkCrossing, configureRecharge, newerCard, type RechargePlan, type SavedCard } from "./recharge";
import { burn } from "./lots";
import { add, negate, sub } from "./money";
import { DEFAULT_CAPTURE_OVERRUN_MAX_PERCENT, overrunAllowance, splitCapture } from "./overrun";
import type { AllowancePlan, Block, Hold, LedgerError, LedgerState, Step } from "./types";

// The building blocks other rule modules share, where they have always been found.
export { addLot, afterBalanceChange, checkLowBalance, settleInto, type GrantInput };

function spendNow(draft: Draft) {
  return currentSpend(draft.state.spend, draft.now, draft.state.settings.timeZone);
}

function refusal(type: LedgerError["type"], message: string, amount: number, t: Totals, extra = {}): LedgerError {
  return { type, message, details: { required: amount, available: t.available, ...extra } };
}

/** Raises `spending_limit.reached` for the breached period, once per period (a day, a month). */
function reportLimit(draft: Draft, breach: LimitBreach): void {
  const spend = spendNow(draft);
  const key = `${breach.period}:${breach.period === "daily" ? spend.dayKey : spend.monthKey}`;
  // Notices of both current periods are kept (and older ones dropped) so each is reported once.
  const notices = (draft.state.limitNotice?.split(",") ?? []).filter(
    (n) => n === `daily:${spend.dayKey}` || n === `monthly:${spend.monthKey}`,
  );
  if (notices.includes(key)) return;
  draft.state = { ...draft.state, limitNotice: [...notices, key].join(",") };
  draft.event("spending_limit.reached", { period: breach.period, limit: breach.limit, committed: breach.committed });
}

/** Debits and holds must cost something: a 0-credit charge would let work run unpaid and unseen. */
function zeroCost(amount: number): LedgerError | null {
  if (amount >= 1) return null;
  return {
    type: "zero_cost",
    message: "This charge costs 0 credits: debits and holds must cost at least 1 (check the quantities, or capture a hold with 0 instead).",
    details: { field: "quantities" },
  };
}

/** The block spending is refused for: the earliest set, so the reason shown does not flicker. */
export function activeBlock(state: LedgerState): Block | null {
  // Runs on every debit and almost always finds nothing: no array is made to find that out.
  let first: Block | null = null;
  for (const key in state.blocks) {
    const block = state.blocks[key] as Block;
    if (first === null || block.since < first.since) first = block;
  }
  return first;
}

/**
 * The checks before credits can be committed, in the order the contract fixes: a block, then debt,
 * then limits, then funds. A limit refusal is reported as an event once per period.
 */
export function checkSpendable(draft: Draft, amount: number): LedgerError | null {
  const t = draft.totals();
  const block = activeBlock(draft.state);
  if (block) {
    return refusal("spending_blocked", `Spending on this account is blocked: ${block.reason}.`, amount, t, {
      reason: block.reason,
      since: new Date(block.since).toISOString(),
    });
  }
  if (t.balance < 0) {
    return refusal("account_in_debt", `The account owes ${t.debt} credits; add credits before spending.`, amount, t, { debt: t.debt });
  }
  const breach = limitBreach(draft.state.settings.limits, spendNow(draft), t.held, amount);
  if (breach) {
    reportLimit(draft, breach);
    return refusal(
      "spending_limit_exceeded",
      `This would pass the ${breach.period} spending limit of ${breach.limit} (${breach.committed} already spent or held).`,
      amount,
      t,
      { period: breach.period, limit: breach.limit, spent: breach.committed },
    );
  }
  if (amount > t.available) {
    return refusal("insufficient_credits", `This costs ${amount} credits but ${t.available} are available.`, amount, t);
  }
  return null;
}

/**
 * Burns `amount` around the credits active holds need; a capture (whose work is done) then takes
 * what it must from any lot, and only what no lot holds becomes debt. Returns that debt.
 */
function spendCredits(draft: Draft, amount: number, around: ReturnType<typeof burnAroundHolds>): number {
  let { lots, changed } = around;
  let debt = 0;
  if (around.shortfall > 0) {
    const rest = burn(lots, around.shortfall, draft.now);
    // A lot changed by both passes is written once, in its final state.
    changed = [...new Map([...changed, ...rest.changed].map((l) => [l.id, l])).values()];
    lots = rest.lots;
    debt = rest.shortfall;
  }
  draft.putLots(lots, changed);
  draft.state = { ...draft.state, debt: add(draft.state.debt, debt), spend: addSpend(spendNow(draft), amount) };
  return debt;
}

export interface Charge {
  amount: number;
  operation: string | null;
  quantities: Record<string, number> | null;
  description: string | null;
  metadata: Record<string, unknown> | null;
}

export function settle(state: LedgerState, now: number): Step<Totals> {
  const draft = new Draft(state, now);
  settleInto(draft);
  return draft.done(draft.totals());
}

/** Adds a lot. Debt is paid first: the lot keeps only what is left after the debt. */
export function grant(state: LedgerState, input: GrantInput, now: number): Step<Totals & { lotId: string; debtPaid: number }> {
  const draft = new Draft(state, now);
  settleInto(draft);
  if (input.expiresAt !== null && input.expiresAt <= now) {
    return draft.refuse({ type: "invalid_request", message: "expires_at must be in the future.", details: { field: "expires_at" } });
  }
  const debtPaid = addLot(draft, input);
  afterBalanceChange(draft);
  return draft.done({ ...draft.totals(), lotId: input.lotId, debtPaid });
}

export function debit(state: LedgerState, charge: Charge, now: number): Step<Totals> {
  const draft = new Draft(state, now);
  settleInto(draft);
  const refused = zeroCost(charge.amount) ?? checkSpendable(draft, charge.amount);
  if (refused) return draft.refuse(refused);
  const around = burnAroundHolds(draft.state.lots, charge.amount, draft.state.holds, now);
  if (around.shortfall > 0) {
    // Only when an overrun already left holds short: what is left is theirs.
    const t = draft.totals();
    return draft.refuse(
      refusal("insufficient_credits", `Only ${around.burned} credits are not needed by active holds.`, charge.amount, { ...t, available: around.burned }),
    );
  }
  const before = availableBefore(draft);
  spendCredits(draft, charge.amount, around);
  draft.entry("debit", negate(charge.amount), charge);
  afterBalanceChange(draft);
  checkCrossing(draft, before);
  return draft.done(draft.totals());
}

export interface HoldInput extends Charge {
  holdId: string;
  ttlMs: number;
}

export function placeHold(state: LedgerState, input: HoldInput, now: number): Step<Totals & { hold: Hold }> {
  const draft = new Draft(state, now);
  settleInto(draft);
  const refused = zeroCost(input.amount) ?? checkSpendable(draft, input.amount);
  if (refused) return draft.refuse(refused);
  const hold: Hold = {
    id: input.holdId,
    amount: input.amount,
    status: "active",
    operation: input.operation,
    createdAt: now,
    expiresAt: now + input.ttlMs,
  };
  if (!holdsCovered(draft.state.lots, [...draft.state.holds, hold], now, hold.expiresAt)) {
    return draft.refuse(
      refusal(
        "insufficient_credits",
        `Some of the available credits expire before ${new Date(hold.expiresAt).toISOString()}, when this hold would end: hold less, or for a shorter ttl_seconds.`,
        input.amount,
        draft.totals(),
        { reason: "credits_expire_before_hold_ends" },
      ),
    );
  }
  const before = availableBefore(draft);
  draft.putHold(hold);
  draft.entry("hold", 0, { ...input, holdId: hold.id, reserved: hold.amount });
  // The balance is unchanged (no balance.low), but available fell: the next action needs the top-up.
  checkCrossing(draft, before);
  return draft.done({ ...draft.totals(), hold });
}

function findActiveHold(draft: Draft, holdId: string): Hold | LedgerError {
  const hold = draft.state.holds.find((h) => h.id === holdId);
  if (!hold) return { type: "hold_not_found", message: `No hold ${holdId} on this account.` };
  if (hold.status !== "active") {
    return { type: "hold_not_active", message: `Hold ${holdId} is already ${hold.status}.`, details: { status: hold.status } };
  }
  return hold;
}

export interface CaptureResult extends Totals {
  /** What was charged. */
  cost: number;
  /** Computed cost above the hold's overrun allowance, not charged. */
  uncharged: number;
  released: number;
  overrun: number;
}

/**
 * Captures a hold with the actual cost, once. The work already happened, so a capture never fails:
 * it is charged up to the hold plus the overrun allowance (overrun.ts), the charge counts toward the
 * spending limits, and what the credits cannot cover becomes debt.
 */
export function captureHold(
  state: LedgerState,
  holdId: string,
  charge: Charge,
  now: number,
  overrunMaxPercent = DEFAULT_CAPTURE_OVERRUN_MAX_PERCENT,
): Step<CaptureResult> {
  const draft = new Draft(state, now);
  settleInto(draft);
  const hold = findActiveHold(draft, holdId);
  if (!("status" in hold)) return draft.refuse(hold);
  const limits = draft.state.settings.limits;
  const allowance = overrunAllowance(hold.amount, overrunMaxPercent);
  const { charged, uncharged } = splitCapture(charge.amount, hold.amount, allowance, limits, spendNow(draft), draft.totals().held);
  const before = availableBefore(draft);
  draft.putHold({ ...hold, status: "captured" });
  const around = burnAroundHolds(draft.state.lots, charged, draft.state.holds, now);
  const overrun = spendCredits(draft, charged, around);
  // An overrun is allowed past a limit (the work happened), but the limit has then been reached.
  for (const passed of limitBreaches(limits, spendNow(draft), draft.totals().held, 0)) reportLimit(draft, passed);
  draft.entry("capture", negate(charged), {
    ...charge,
    operation: charge.operation ?? hold.operation,
    holdId: hold.id,
    reserved: hold.amount,
    metadata: uncharged > 0 ? { ...charge.metadata, computed_cost: charge.amount, uncharged } : charge.metadata,
  });
  afterBalanceChange(draft);
  checkCrossing(draft, before);
  return draft.done({ ...draft.totals(), cost: charged, uncharged, released: Math.max(0, hold.amount - charged), overrun });
}

/**
 * Sets, changes (from the next boundary) or ends (null, at the next boundary) the recurring allowance.
 * A first allowance is granted at once, for the period up to the next boundary.
 */
export function setAllowance(state: LedgerState, plan: AllowancePlan | null, now: number): Step<Totals> {
  const draft = new Draft(state, now);
  settleInto(draft);
  applyAllowance(draft, plan);
  afterBalanceChange(draft);
  return draft.done(draft.totals());
}

/**
 * Sets or turns off auto-recharge. Setting it never charges by itself, even below the threshold: a
 * charge needs a crossing by spending or expiry (recharge.ts).
 */
export function setAutoRecharge(
  state: LedgerState,
  input: { enabled: boolean; plan: RechargePlan; card?: SavedCard | null },
  now: number,
): Step<Totals> {
  const draft = new Draft(state, now);
  settleInto(draft);
  draft.state = {
    ...draft.state,
    autoRecharge: configureRecharge(draft.state.autoRecharge, input.enabled, input.plan, now, draft.state.settings.timeZone, input.card),
  };
  return draft.done(draft.totals());
}

/**
 * A checkout saved a card (the Stripe webhook, or the charged ⇒ credited pass): auto-recharge charges
 * it from the next crossing on, unless a card saved later is already known. Saving never charges by
 * itself: the checkout that saved the card may not have landed yet. Nothing to do while auto-recharge
 * was never set: the Worker keeps the card in D1 and hands it over when it is.
 */
export function saveCard(state: LedgerState, card: SavedCard, now: number): Step<{ saved: boolean }> {
  const draft = new Draft(state, now);
  settleInto(draft);
  const ar = draft.state.autoRecharge;
  const kept = ar ? newerCard(ar.card, card) : null;
  if (!ar || kept !== card) return draft.done({ saved: false });
  draft.state = { ...draft.state, autoRecharge: { ...ar, card } };
  return draft.done({ saved: true });
}

export function releaseHold(state: LedgerState, holdId: string, now: number): Step<Totals & { released: number }> {
  const draft = new Draft(state, now);
  settleInto(draft);
  const hold = findActiveHold(draft, holdId);
  if (!("status" in hold)) return draft.refuse(hold);
  draft.putHold({ ...hold, status: "released" });
  draft.entry("release", 0, { holdId: hold.id, reserved: hold.amount, operation: hold.operation });
  return draft.done({ ...draft.totals(), released: hold.amount });
}
