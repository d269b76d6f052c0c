// Adding credits, and the one alert every change of the balance may raise. Shared by the rules that
// grant, buy, roll over and restore credits.

import type { Draft } from "./draft";
import { sub } from "./money";
import type { EntryDraft, LotSource } from "./types";

export interface GrantInput {
  lotId: string;
  amount: number;
  source: LotSource;
  expiresAt: number | null;
  priority: number;
  reference: string | null;
  description: string | null;
  metadata: Record<string, unknown> | null;
}

/**
 * Writes a new lot and its entry (`grant` unless said otherwise), the debt paid from it first.
 * `at` dates both when the credits arrived in the past (an allowance period caught up late).
 * Returns the debt paid.
 */
export function addLot(draft: Draft, input: GrantInput, kind: EntryDraft["kind"] = "grant", at: number = draft.now): number {
  const debtPaid = Math.min(draft.state.debt, input.amount);
  draft.state = { ...draft.state, debt: sub(draft.state.debt, debtPaid) };
  draft.putLot({
    id: input.lotId,
    source: input.source,
    amount: input.amount,
    remaining: sub(input.amount, debtPaid),
    expiresAt: input.expiresAt,
    priority: input.priority,
    createdAt: at,
    reference: input.reference,
  });
  draft.entry(kind, input.amount, {
    lotId: input.lotId,
    description: input.description,
    metadata: debtPaid > 0 ? { ...input.metadata, debt_paid: debtPaid } : input.metadata,
    createdAt: at,
  });
  return debtPaid;
}

/** Raises `balance.low` the moment the balance falls below the threshold, once per crossing. */
export function checkLowBalance(draft: Draft): void {
  const threshold = draft.state.settings.lowBalanceThreshold;
  const { balance } = draft.totals();
  const isLow = threshold !== null && balance < threshold;
  if (isLow && !draft.state.isLow) draft.event("balance.low", { balance, threshold });
  if (isLow !== draft.state.isLow) draft.state = { ...draft.state, isLow };
}

/**
 * What every change of the balance checks before its transaction ends: the low-balance alert. (Auto-
 * recharge is not here: only spending and expiry may raise a charge, recharge.ts checkCrossing.)
 */
export function afterBalanceChange(draft: Draft): void {
  checkLowBalance(draft);
}
