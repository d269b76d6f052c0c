// Recurring allowances with capped rollover (API.md, PUT /allowance). A period runs from one boundary
// of the account's calendar (calendar.ts) to the next; its `allowance` lot expires at the period's end.
// At that boundary, in this order: the unused part of the ending lot expires, of which up to
// rollover_max comes back as a `rollover` lot lasting rollover_expires_after_intervals periods; then the
// next period's lot is granted (paying any debt first). Each step is dated at the boundary, however
// late it is written, and happens once: the allowance's period only ever moves forward.

import { boundaryAfter, nextBoundary } from "./calendar";
import { addLot } from "./credit";
import type { Draft } from "./draft";
import { sub } from "./money";
import type { Allowance, AllowancePlan, Lot } from "./types";

/**
 * Allowance and rollover lots burn before every other lot (the API sets priorities from 0): they are
 * the credits that expire at the period's end, so a user spends them before what they paid for.
 */
export const ALLOWANCE_PRIORITY = -1;

/** Lot ids follow from the instant the lot began: one lot per period, whichever path wrote it. */
export const allowanceLotId = (periodStart: number) => `alw_${periodStart}`;
export const rolloverLotId = (boundary: number) => `rol_${boundary}`;

const iso = (ms: number) => new Date(ms).toISOString();

export function samePlan(a: AllowancePlan | null, b: AllowancePlan | null): boolean {
  if (a === null || b === null) return a === b;
  return a.amount === b.amount && a.interval === b.interval && a.rolloverMax === b.rolloverMax && a.rolloverExpiresAfterIntervals === b.rolloverExpiresAfterIntervals;
}

/** Starts a period at `at` under `plan`: its lot is granted in full, and lasts to the next boundary. */
function startPeriod(draft: Draft, plan: AllowancePlan, at: number, rolledOver: number): Allowance {
  const periodEnd = nextBoundary(at, plan.interval, draft.state.settings.timeZone);
  const lotId = allowanceLotId(at);
  const debtPaid = addLot(
    draft,
    {
      lotId,
      amount: plan.amount,
      source: "allowance",
      expiresAt: periodEnd,
      priority: ALLOWANCE_PRIORITY,
      reference: null,
      description: `Allowance for the ${plan.interval} from ${iso(at)}`,
      metadata: { period_start: iso(at), period_end: iso(periodEnd), interval: plan.interval },
    },
    "allowance",
    at,
  );
  draft.event(
    "allowance.granted",
    { lot_id: lotId, amount: plan.amount, interval: plan.interval, period_start: iso(at), period_end: iso(periodEnd), rolled_over: rolledOver, debt_paid: debtPaid },
    at,
  );
  return { plan, periodStart: at, periodEnd, lotId };
}

/**
 * Sets, changes or ends the allowance (null). A new allowance starts now with its full amount; a
 * change or an end takes effect at the current period's end. Setting what is already in force is a
 * no-op, so repeating the request grants nothing twice.
 */
export function applyAllowance(draft: Draft, plan: AllowancePlan | null): void {
  const current = draft.state.allowance;
  if (current === null) {
    if (plan === null) return;
    // startPeriod changes the draft's state (a new lot): read the state only once it has.
    const started = startPeriod(draft, plan, draft.now, 0);
    draft.state = { ...draft.state, allowance: started };
    return;
  }
  const pending = current.next === undefined ? current.plan : current.next.plan;
  if (samePlan(pending, plan)) return;
  const { next: _dropped, ...rest } = current;
  draft.state = { ...draft.state, allowance: samePlan(current.plan, plan) ? rest : { ...rest, next: { plan } } };
}

/** The period boundary at `at` (= the allowance's periodEnd): roll over, expire, start the next period. */
export function rollAllowance(draft: Draft, at: number): void {
  const ending = draft.state.allowance as Allowance;
  const tz = draft.state.settings.timeZone;
  const lot = draft.state.lots.find((l) => l.id === ending.lotId && l.remaining > 0);
  const unused = lot?.remaining ?? 0;
  const rolled = Math.min(unused, ending.plan.rolloverMax);
  if (lot) expireAllowanceLot(draft, lot, at, rolled);
  if (rolled > 0) {
    const expiresAt = boundaryAfter(at, ending.plan.interval, tz, ending.plan.rolloverExpiresAfterIntervals);
    addLot(
      draft,
      {
        lotId: rolloverLotId(at),
        amount: rolled,
        source: "rollover",
        expiresAt,
        priority: ALLOWANCE_PRIORITY,
        reference: ending.lotId,
        description: `Rolled over from the allowance of the ${ending.plan.interval} that ended ${iso(at)}`,
        metadata: { from_lot: ending.lotId, period_end: iso(at), expires_at: iso(expiresAt) },
      },
      "rollover",
      at,
    );
  }
  const plan = ending.next === undefined ? ending.plan : ending.next.plan;
  const next = plan === null ? null : startPeriod(draft, plan, at, rolled);
  draft.state = { ...draft.state, allowance: next };
}

function expireAllowanceLot(draft: Draft, lot: Lot, at: number, rolled: number): void {
  const lost = sub(lot.remaining, rolled);
  draft.putLot({ ...lot, remaining: 0 });
  draft.entry("expire", -lot.remaining, {
    lotId: lot.id,
    description:
      rolled > 0
        ? `${lot.remaining} unused allowance credits: ${rolled} rolled over, ${lost} expired`
        : `${lot.remaining} unused allowance credits expired`,
    metadata: { expired_at: iso(at), source: lot.source, rolled_over: rolled, expired: lost },
    createdAt: at,
  });
  if (lost > 0) draft.event("credits.expired", { lot_id: lot.id, amount: lost, source: lot.source, expired_at: iso(at), rolled_over: rolled }, at);
}
