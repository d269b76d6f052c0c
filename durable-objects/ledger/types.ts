// The ledger's data, as the pure rules see it. Times are UTC milliseconds; amounts are safe integers
// in the smallest credit unit. Nothing here knows about Cloudflare, SQL or HTTP.

export const LOT_SOURCES = [
  "purchase",
  "auto_recharge",
  "grant",
  "promo",
  "allowance",
  "rollover",
  "adjustment",
] as const;
export type LotSource = (typeof LOT_SOURCES)[number];

export interface Lot {
  id: string;
  source: LotSource;
  amount: number;
  remaining: number;
  /** null: never expires. */
  expiresAt: number | null;
  /** Lower burns first. */
  priority: number;
  createdAt: number;
  reference: string | null;
  /** Whether `credits.expiring` was raised for this lot (once, when it comes within 7 days of expiry). */
  expiringNotified?: boolean;
}

export type HoldStatus = "active" | "captured" | "released" | "expired";

export interface Hold {
  id: string;
  amount: number;
  status: HoldStatus;
  operation: string | null;
  createdAt: number;
  expiresAt: number;
}

export interface Limits {
  daily: number | null;
  monthly: number | null;
}

/** Credits spent (debits and captures) in the current calendar day and month of the account. */
export interface Spend {
  dayKey: string;
  day: number;
  monthKey: string;
  month: number;
}

export interface LedgerSettings {
  limits: Limits;
  /** IANA time zone for the limit calendar; null means UTC. */
  timeZone: string | null;
  lowBalanceThreshold: number | null;
}

/** Why spending is stopped: an operator's block, or an open payment dispute. */
export interface Block {
  reason: string;
  since: number;
}

export type AllowanceInterval = "day" | "week" | "month";

/** A recurring allowance as the operator set it (API.md, PUT /allowance). */
export interface AllowancePlan {
  amount: number;
  interval: AllowanceInterval;
  /** The most of a period's unused allowance that rolls over into the next; the rest expires. */
  rolloverMax: number;
  /** How many periods a rollover lot lasts (1: to the end of the period it rolled into). */
  rolloverExpiresAfterIntervals: number;
}

/** The allowance in force: its current period and lot, and what takes over at the period's end. */
export interface Allowance {
  plan: AllowancePlan;
  periodStart: number;
  periodEnd: number;
  /** This period's `allowance` lot. */
  lotId: string;
  /**
   * What the next period runs on: set by a change during the period (a plan, or null to end the
   * allowance at this period's end); absent when the plan goes on unchanged.
   */
  next?: { plan: AllowancePlan | null };
}

/** Everything a rule needs to decide; loaded by the object from its SQLite before each change. */
export interface LedgerState {
  debt: number;
  /** Lots that may still matter: remaining > 0 (some may be past their expiry until settled). */
  lots: readonly Lot[];
  /** Holds whose status is active (some may be past their expiry until settled). */
  holds: readonly Hold[];
  settings: LedgerSettings;
  spend: Spend;
  /** Whether the balance is below the low-balance threshold (so `balance.low` fires once per crossing). */
  isLow: boolean;
  /** The period ("daily:2026-11-24") whose limit was last reported reached, so it is reported once. */
  limitNotice: string | null;
  /**
   * Active spending blocks by who set them ("admin", "dispute:dp_…"): spending stops while any is
   * set, and each is lifted only by whoever set it, so closing a dispute never lifts an admin's block.
   */
  blocks: Readonly<Record<string, Block>>;
  /** The recurring allowance, or null when the account has none. */
  allowance: Allowance | null;
  /** Auto-recharge (recharge.ts), or null when it was never set. */
  autoRecharge: import("./recharge").AutoRecharge | null;
}

export type EntryKind =
  | "grant"
  | "debit"
  | "hold"
  | "capture"
  | "release"
  | "hold_expire"
  | "expire"
  | "allowance"
  | "rollover"
  | (string & {});

/** A journal entry before the object gives it an id and a sequence number. */
export interface EntryDraft {
  kind: EntryKind;
  /** Signed change of the balance: positive adds credits, negative spends them. */
  amount: number;
  balanceAfter: number;
  operation: string | null;
  quantities: Record<string, number> | null;
  holdId: string | null;
  lotId: string | null;
  /** For hold entries: the credits reserved or let go, which do not change the balance. */
  reserved: number | null;
  description: string | null;
  metadata: Record<string, unknown> | null;
  createdAt: number;
}

/** Every event an account raises (API.md, "Keys and outgoing events"): what webhook endpoints may subscribe to. */
export const EVENT_TYPES = [
  "balance.low",
  "spending_limit.reached",
  "hold.expired",
  "credits.expired",
  "credits.expiring",
  "allowance.granted",
  "auto_recharge.succeeded",
  "auto_recharge.failed",
  "auto_recharge.disabled",
  "purchase.completed",
  "purchase.refunded",
  "dispute.opened",
  "dispute.closed",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export interface EventDraft {
  type: EventType;
  data: Record<string, unknown>;
  createdAt: number;
}

export type LedgerErrorType =
  | "spending_blocked"
  | "insufficient_credits"
  | "spending_limit_exceeded"
  | "account_in_debt"
  | "hold_not_active"
  | "hold_not_found"
  | "zero_cost"
  | "invalid_request"
  /** An auto-recharge charge this account never sent (another deployment's, on a shared Stripe account). */
  | "unknown_charge";

export interface LedgerError {
  type: LedgerErrorType;
  message: string;
  details?: Record<string, unknown>;
}

export type Outcome<R> = { ok: true; value: R } | { ok: false; error: LedgerError };

/**
 * What one rule decided: the next state, exactly which rows changed, and its outcome. A refusal can
 * still carry writes: settling expiries that were already due is true whatever the outcome.
 */
export interface Step<R> {
  state: LedgerState;
  /** Lots whose row must be written (new or changed). */
  lots: Lot[];
  /** Holds whose row must be written (new or changed). */
  holds: Hold[];
  entries: EntryDraft[];
  events: EventDraft[];
  outcome: Outcome<R>;
}
