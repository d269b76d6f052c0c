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
    auto_recharge: autoRechargeView(state.autoRecharge, now, a.timeZone, t.available, block !== null),
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

type HeldBack = "no_payment_method" | "monthly_limit_reached" | "blocked" | "below_threshold";

/** Why no charge would go now (recharge.ts decides; this names it for the account body and the page). */
function heldBackOf(ar: AutoRecharge, available: number, blocked: boolean): HeldBack | null {
  if (!ar.enabled || ar.status === "disabled") return null;
  if (ar.card === null) return "no_payment_method";
  if (ar.heldBack === "monthly_limit_reached") return "monthly_limit_reached";
  if (blocked) return "blocked";
  if (ar.inFlight === null && available < ar.plan.threshold) return "below_threshold";
  return null;
}

/** API.md's auto_recharge state; `charged_this_month` is of the account's current month. */
function autoRechargeView(ar: AutoRecharge | null, now: number, timeZone: string | null, available: number, blocked: boolean) {
  if (ar === null) return null;
  const month = thisMonth(ar, now, timeZone);
  const heldBack = heldBackOf(ar, available, blocked);
  const heldBackUntil = heldBack === "monthly_limit_reached" ? iso(ar.heldBackUntil ?? null) : null;
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

function rechargeMessage(ar: AutoRecharge, heldBack: HeldBack | null, until: string | null): string | null {
  if (!ar.enabled) return "Auto-recharge is off.";
  if (ar.status === "disabled") {
    if (ar.disabledReason === "authentication_required") {
      return "Auto-recharge stopped: the card needs its holder to confirm payments. Buy once with the card, then turn auto-recharge on again.";
    }
    if (ar.disabledReason?.startsWith("card_unusable")) {
      return `Auto-recharge stopped: Stripe can no longer charge the saved card (${ar.disabledReason}). Buy once saving a card, then turn auto-recharge on again.`;
    }
    return `Auto-recharge stopped after the card was declined (${ar.disabledReason ?? "unknown"}). Update the card, then turn auto-recharge on again.`;
  }
  if (heldBack === "no_payment_method") return "Auto-recharge starts working after the next checkout with save_payment_method: true.";
  if (heldBack === "monthly_limit_reached") return `This month's auto-recharge limit is reached; it charges again from ${until ?? "next month"}.`;
  if (heldBack === "blocked") return "Spending on this account is blocked; auto-recharge charges nothing while it is.";
  if (heldBack === "below_threshold") {
    return `Available credits are already below the threshold (${ar.plan.threshold}): auto-recharge buys the next time spending takes them from at or above it to below it. Buy credits once to start.`;
  }
  if (ar.status === "in_flight") return "A top-up is being charged; no other is made until it is resolved.";
  return null;
}

export type AccountView = ReturnType<typeof accountView>;
