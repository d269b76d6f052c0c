// Small builders shared by the unit tests of the pure ledger rules.

import { expect } from "vitest";
import { periodKeys } from "../../durable-objects/ledger/limits";
import type { Charge, GrantInput } from "../../durable-objects/ledger/rules";
import type { LedgerError, LedgerSettings, LedgerState, Lot, Step } from "../../durable-objects/ledger/types";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** Tuesday 2026-11-24 12:00 UTC. */
export const T0 = Date.parse("2026-11-24T12:00:00.000Z");

export function ledger(
  over: Partial<Omit<LedgerState, "settings">> & { settings?: Partial<LedgerSettings> } = {},
  now = T0,
): LedgerState {
  const keys = periodKeys(now, over.settings?.timeZone ?? null);
  const { settings, ...rest } = over;
  return {
    debt: 0,
    lots: [],
    holds: [],
    spend: { dayKey: keys.dayKey, day: 0, monthKey: keys.monthKey, month: 0 },
    isLow: false,
    limitNotice: null,
    blocks: {},
    allowance: null,
    autoRecharge: null,
    ...rest,
    settings: { limits: { daily: null, monthly: null }, timeZone: null, lowBalanceThreshold: null, ...settings },
  };
}

export function lot(over: Partial<Lot> & { id: string; amount: number }): Lot {
  return {
    source: "grant",
    remaining: over.amount,
    expiresAt: null,
    priority: 0,
    createdAt: T0,
    reference: null,
    ...over,
  };
}

export function charge(amount: number, over: Partial<Charge> = {}): Charge {
  return { amount, operation: null, quantities: null, description: null, metadata: null, ...over };
}

export function grantInput(lotId: string, amount: number, over: Partial<GrantInput> = {}): GrantInput {
  return {
    lotId,
    amount,
    source: "grant",
    expiresAt: null,
    priority: 0,
    reference: null,
    description: null,
    metadata: null,
    ...over,
  };
}

/** The value of a step that must have succeeded. */
export function ok<R>(step: Step<R>): R {
  if (!step.outcome.ok) throw new Error(`expected success, got ${step.outcome.error.type}: ${step.outcome.error.message}`);
  return step.outcome.value;
}

/** The error of a step that must have been refused. */
export function refused(step: Step<unknown>): LedgerError {
  if (step.outcome.ok) throw new Error(`expected a refusal, got ${JSON.stringify(step.outcome.value)}`);
  return step.outcome.error;
}

/** Σ of the amounts of some entries (what the journal says the balance moved by). */
export function sumAmounts(step: Step<unknown>): number {
  return step.entries.reduce((sum, e) => sum + e.amount, 0);
}

/** Every entry's balance_after is the previous one's plus its amount, starting from `start`. */
export function expectBalanceChain(step: Step<unknown>, start: number): void {
  let running = start;
  for (const e of step.entries) {
    running += e.amount;
    expect(e.balanceAfter, `${e.kind} balance_after`).toBe(running);
  }
}
