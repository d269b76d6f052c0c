// The JSON shapes of API.md, built from the ledger state. Times leave as ISO-8601 strings.

import { activeHolds, totals } from "./ledger/draft";
import { currentSpend } from "./ledger/limits";
import { isLive, nextExpiry } from "./ledger/lots";
import { activeBlock } from "./ledger/rules";
import { thisMonth, type AutoRecharge } from "./ledger/recharge";
import type { Allowance, AllowancePlan, LedgerState } from "./ledger/types";
import type { AccountRecord } from "./store/store";

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function accountView(a: AccountRecord, state: LedgerState, now: number) {
  const t = totals(state, now);
  const spend = currentSpend(state.spend, now, a.timeZone);
  const expiry = nextExpiry(state.lots, now);
  const block = activeBlock(state);
  return {
    id: a.id,
    name: a.name,
    email: a.email,
    metadata: a.metadata,
    time_zone: a.timeZone,
    balance: t.balance,
    available: t.available,
    held: t.held,
    debt: t.debt,
    lots: state.lots
      .filter((lot) => isLive(lot, now))
      .map((lot) => ({
        id: lot.id,
        source: lot.source,
        amount: lot.amount,
        remaining: lot.remaining,
        expires_at: iso(lot.expiresAt),
        priority: lot.priority,
        created_at: iso(lot.createdAt),
      })),
    holds: activeHolds(state.holds, now).map((hold) => ({
      id: hold.id,
      amount: hold.amount,
      operation: hold.operation,
      expires_at: iso(hold.expiresAt),
      created_at: iso(hold.createdAt),
    })),
    limits: {
      daily: a.dailyLimit,
      monthly: a.monthlyLimit,
      spent_today: spend.day,
      spent_this_month: spend.month,
      time_zone: a.timeZone ?? "UTC",
    },
    low_balance: { threshold: a.lowBalanceThreshold, is_low: a.isLow },
    auto_recharge: autoRechargeView(state.autoRecharge, now, a.timeZone),
    allowance: allowanceView(state.allowance),
    blocked: block ? { reason: block.reason, since: iso(block.since) } : null,
    next_expiry: expiry ? { at: iso(expiry.at), amount: expiry.amount } : null,
    created_at: iso(a.createdAt),
  };
}

const planView = (plan: AllowancePlan) => ({
  amount: plan.amount,
  interval: plan.interval,
  rollover_max: plan.rolloverMax,
  rollover_expires_after_intervals: plan.rolloverExpiresAfterIntervals,
});

/** The allowance in force, its current period, and what the next period runs on (null: it ends). */
function allowanceView(allowance: Allowance | null) {
  if (allowance === null) return null;
  return {
    ...planView(allowance.plan),
    lot_id: allowance.lotId,
    current_period_start: iso(allowance.periodStart) as string,
    current_period_end: iso(allowance.periodEnd) as string,
    next_period: allowance.next === undefined ? planView(allowance.plan) : allowance.next.plan && planView(allowance.next.plan),
  };
}

/** API.md's auto_recharge state; `charged_this_month` is of the account's current month. */
function autoRechargeView(ar: AutoRecharge | null, now: number, timeZone: string | null) {
  if (ar === null) return null;
  const month = thisMonth(ar, now, timeZone);
  // Why the next crossing would charge nothing: no saved card yet (a checkout with
  // save_payment_method saves one), or this month's limit reached.
  const heldBack = ar.enabled && ar.card === null ? "no_payment_method" : month.heldBack === "monthly_limit_reached" ? "monthly_limit_reached" : null;
  const heldBackUntil = heldBack === "monthly_limit_reached" ? iso(month.heldBackUntil ?? null) : null;
  return {
    enabled: ar.enabled,
    threshold: ar.plan.threshold,
    package_id: ar.plan.packageId,
    credits: ar.plan.credits,
    price: { amount: ar.plan.amount, currency: ar.plan.currency },
    monthly_limit: ar.plan.monthlyLimit,
    charged_this_month: month.chargedThisMonth,
    has_payment_method: ar.card !== null,
    status: ar.status,
    disabled_reason: ar.disabledReason,
    held_back: heldBack,
    held_back_until: heldBackUntil,
    message: rechargeMessage(ar, heldBack, heldBackUntil),
    last_attempt_at: iso(ar.lastAttemptAt),
  };
}

function rechargeMessage(ar: AutoRecharge, heldBack: string | null, until: string | null): string | null {
  if (!ar.enabled) return "Auto-recharge is off.";
  if (ar.status === "disabled") {
    return ar.disabledReason === "authentication_required"
      ? "Auto-recharge stopped: the card needs its holder to confirm payments. Buy once with the card, then turn auto-recharge on again."
      : `Auto-recharge stopped after the card was declined (${ar.disabledReason ?? "unknown"}). Update the card, then turn auto-recharge on again.`;
  }
  if (heldBack === "no_payment_method") return "Auto-recharge starts working after the next checkout with save_payment_method: true.";
  if (heldBack === "monthly_limit_reached") return `This month's auto-recharge limit is reached; it charges again from ${until ?? "next month"}.`;
  if (ar.status === "in_flight") return "A top-up is being charged; no other is made until it is resolved.";
  return null;
}

export type AccountView = ReturnType<typeof accountView>;
