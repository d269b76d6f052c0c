// Auto-recharge as pure rules (API.md, "When auto-recharge charges a card").
//
// A charge is raised only by a crossing: spending (a debit, a capture, a hold) or an expiry that takes
// `available` from at or above the threshold to below it. Nothing else raises one: not a refund or a
// dispute (a clawback), not a block, not the debt a clawback leaves, not a card being saved, not the
// setting being turned on. One crossing raises at most one charge, and at most one is in flight.
//
// Raising is not sending. The object's alarm sends a charge, and before it sends (the first try and
// every retry) it asks `prepareRecharge` again, from the state as it is then: auto-recharge on, a card
// saved, not blocked, `available < threshold`, the month's limit not reached. If any of that no longer
// holds, nothing is sent and the crossing is over. The try is sent under a key fixed by (attempt, try),
// so a crashed alarm retried later cannot charge twice; credits land only when Stripe says the payment
// succeeded (the webhook, or the cron's charged ⇒ credited pass).

import { nextBoundary } from "./calendar";
import { Draft } from "./draft";
import { periodKeys } from "./limits";
import type { LedgerState, Step } from "./types";

/** Declines that may pass (insufficient funds, a processing error) are tried this many times in all. */
export const MAX_TRIES = 3;
/** Pause before the 2nd and 3rd try of a declined charge. */
export const RETRY_AFTER_MS = [6 * 3_600_000, 24 * 3_600_000] as const;
/** When Stripe could not be reached, the same try goes again after this, doubling each time up to the cap. */
export const UNREACHABLE_RETRY_MS = 30_000;
export const UNREACHABLE_RETRY_MAX_MS = 3_600_000;

export interface RechargePlan {
  threshold: number;
  packageId: string;
  /** What the package gives and costs, as it was when auto-recharge was set (re-read on each change). */
  credits: number;
  amount: number;
  currency: string;
  /** Money charged per calendar month at most (the package's currency, smallest unit); null: no cap. */
  monthlyLimit: number | null;
}

/** What one attempt buys: fixed when it is sent, so every try of it asks Stripe for the same thing. */
export interface RechargeTerms {
  /** Sent as the PaymentIntent's metadata: the webhook credits only charges whose reference this object made. */
  ref: string;
  packageId: string;
  credits: number;
  amount: number;
  currency: string;
}

export interface Attempt {
  /** 1, 2, 3 …: with the try, names the Stripe idempotency key. */
  number: number;
  tries: number;
  /** When the alarm should ask Stripe (again); null while Stripe has the current try. */
  nextTryAt: number | null;
  since: number;
  /** Fixed by the first send; absent until then (and on attempts stored before terms were kept). */
  terms?: RechargeTerms;
  /** How many times in a row Stripe could not be reached for this try (the wait doubles). */
  unreachable?: number;
}

/** The saved card auto-recharge charges off-session (from a checkout with save_payment_method). */
export interface SavedCard {
  customer: string;
  paymentMethod: string;
  /** When Stripe created the payment that saved it (ms): the latest save wins, whatever order events come in. */
  savedAt: number;
}

/** The card to keep of two: the one saved last (a card known before `savedAt` existed counts as oldest). */
export function newerCard(kept: SavedCard | null, offered: SavedCard | null | undefined): SavedCard | null {
  if (offered === undefined) return kept;
  if (offered === null || kept === null) return offered;
  return (offered.savedAt ?? 0) >= (kept.savedAt ?? 0) ? offered : kept;
}

export interface AutoRecharge {
  enabled: boolean;
  plan: RechargePlan;
  /** null: no saved card yet; auto-recharge starts working at the next crossing after a card is saved. */
  card: SavedCard | null;
  status: "idle" | "in_flight" | "disabled";
  disabledReason: string | null;
  attempts: number;
  inFlight: Attempt | null;
  monthKey: string;
  chargedThisMonth: number;
  lastAttemptAt: number | null;
  /** A crossing that found this month's limit reached ("monthly_limit_reached"): it is charged at `heldBackUntil`. */
  heldBack: string | null;
  /** When a charge held back by the monthly limit may go (the next month's start): the alarm wakes then. */
  heldBackUntil?: number | null;
  /**
   * The charges this account sent (the last KEPT_SENT), with what each buys: an outcome is applied
   * only to a charge named here, with its amount and currency, and credits the credits recorded here
   * (never what a PaymentIntent's metadata says), once.
   */
  sent?: SentCharge[];
}

export interface SentCharge extends RechargeTerms {
  attempt: number;
  /** Its success was credited: a second PaymentIntent naming the same charge credits nothing. */
  credited: boolean;
}

/** How many sent charges are remembered for outcomes that arrive late (a month of daily top-ups). */
export const KEPT_SENT = 40;

/** The charge `ref` names, if this account sent it. */
export function sentCharge(ar: AutoRecharge | null, ref: string): SentCharge | null {
  return ar?.sent?.find((c) => c.ref === ref) ?? null;
}

/**
 * The Stripe idempotency key of a try: the same try never makes a second PaymentIntent. It is named by
 * the attempt's random reference, so no other deployment sharing the Stripe account (with an account
 * of the same id) can ever use it; attempts sent before references kept the old name.
 */
export const rechargeKey = (accountId: string, attempt: Attempt) =>
  attempt.terms ? `auto_recharge:${attempt.terms.ref}:${attempt.tries}` : `auto_recharge:${accountId}:${attempt.number}:${attempt.tries}`;

/**
 * Whether an outcome naming (attempt, ref) is about the try in flight: its reference must be the
 * attempt's; an outcome without one counts only for an attempt sent before references existed.
 */
export function isCurrentCharge(ar: AutoRecharge, attempt: number, ref: string | null): boolean {
  const current = ar.inFlight;
  if (!current || current.number !== attempt) return false;
  return ref === null ? current.terms === undefined : current.terms?.ref === ref;
}

/** The counters of the account's current month (money charged starts again from 0 in a new month). */
export function thisMonth(ar: AutoRecharge, now: number, timeZone: string | null): AutoRecharge {
  const { monthKey } = periodKeys(now, timeZone);
  if (monthKey === ar.monthKey) return ar;
  return { ...ar, monthKey, chargedThisMonth: 0 };
}

const withRecharge = (state: LedgerState, autoRecharge: AutoRecharge): LedgerState => ({ ...state, autoRecharge });

/**
 * Sets auto-recharge (or turns it off). Turning it off, or changing what it buys, cancels a retry that
 * is waiting (a try Stripe already has still ends as Stripe says: its credits land if it succeeded). Turning it on again after
 * it was disabled clears the reason. A crossing held back by the monthly limit is looked at again at
 * once under the new plan (a higher limit lets it go), and dropped when auto-recharge is turned off.
 */
export function configureRecharge(
  current: AutoRecharge | null,
  enabled: boolean,
  plan: RechargePlan,
  now: number,
  timeZone: string | null,
  offeredCard?: SavedCard | null,
): AutoRecharge {
  const card = newerCard(current?.card ?? null, offeredCard);
  const base: AutoRecharge = current ?? {
    enabled,
    plan,
    card,
    status: "idle",
    disabledReason: null,
    attempts: 0,
    inFlight: null,
    monthKey: periodKeys(now, timeZone).monthKey,
    chargedThisMonth: 0,
    lastAttemptAt: null,
    heldBack: null,
  };
  const waiting = base.inFlight !== null && base.inFlight.nextTryAt !== null;
  // A retry waiting to buy what the plan no longer says (another package, price or currency) ends
  // with the change: the next crossing buys what the plan says now.
  const terms = base.inFlight?.terms;
  const otherPlan = terms !== undefined && (terms.packageId !== plan.packageId || terms.amount !== plan.amount || terms.currency !== plan.currency || terms.credits !== plan.credits);
  const inFlight = waiting && (!enabled || otherPlan) ? null : base.inFlight;
  const held = enabled && base.heldBack === "monthly_limit_reached";
  return {
    ...thisMonth(base, now, timeZone),
    enabled,
    plan,
    card,
    inFlight,
    status: inFlight ? "in_flight" : "idle",
    disabledReason: null,
    heldBack: held ? base.heldBack : null,
    heldBackUntil: held ? now : null,
  };
}

/** Why no charge may be sent now (null: it may). The same checks raise a charge and send it. */
export type HeldReason = "off" | "disabled" | "no_payment_method" | "blocked" | "above_threshold" | "monthly_limit_reached";

/** `amount`: what the charge would take (a retry's, fixed at its first send; else the plan's). */
export function whyNotCharge(draft: Draft, ar: AutoRecharge, amount: number = ar.plan.amount): HeldReason | null {
  if (!ar.enabled) return "off";
  if (ar.status === "disabled") return "disabled";
  if (ar.card === null) return "no_payment_method";
  for (const _ in draft.state.blocks) return "blocked";
  if (draft.totals().available >= ar.plan.threshold) return "above_threshold";
  const month = thisMonth(ar, draft.now, draft.state.settings.timeZone);
  if (ar.plan.monthlyLimit !== null && month.chargedThisMonth + amount > ar.plan.monthlyLimit) return "monthly_limit_reached";
  return null;
}

/** A crossing found this month's limit reached: it waits for the next month's start. */
function holdBack(draft: Draft, ar: AutoRecharge): AutoRecharge {
  const heldBackUntil = nextBoundary(draft.now, "month", draft.state.settings.timeZone);
  return { ...thisMonth(ar, draft.now, draft.state.settings.timeZone), heldBack: "monthly_limit_reached", heldBackUntil };
}

/**
 * `available` now, for checkCrossing after a change; nothing is computed for an account without
 * auto-recharge (the debit of most accounts pays nothing for it).
 */
export const availableBefore = (draft: Draft): number => (draft.state.autoRecharge?.enabled ? draft.totals().available : 0);

/**
 * Called by the rules that spend (debit, capture, hold) and by expiry, with `available` as it was just
 * before their change: a fall from at or above the threshold to below it is a crossing, and raises one
 * charge (due now) unless one is already in flight or anything says no charge may go.
 */
export function checkCrossing(draft: Draft, before: number): void {
  const ar = draft.state.autoRecharge;
  if (!ar?.enabled || ar.inFlight !== null || ar.heldBack !== null) return;
  if (!(before >= ar.plan.threshold && draft.totals().available < ar.plan.threshold)) return;
  const why = whyNotCharge(draft, ar);
  if (why === "monthly_limit_reached") draft.state = withRecharge(draft.state, holdBack(draft, ar));
  if (why !== null) return;
  const attempt: Attempt = { number: ar.attempts + 1, tries: 1, nextTryAt: draft.now, since: draft.now };
  draft.state = withRecharge(draft.state, {
    ...thisMonth(ar, draft.now, draft.state.settings.timeZone),
    status: "in_flight",
    attempts: attempt.number,
    inFlight: attempt,
    lastAttemptAt: draft.now,
  });
}

/** When the object must wake for auto-recharge by itself: a held-back crossing's month, or a try's time. */
export function rechargeWakeAt(ar: AutoRecharge | null): number | null {
  if (!ar) return null;
  if (ar.inFlight) return ar.inFlight.nextTryAt;
  return ar.heldBack === "monthly_limit_reached" ? (ar.heldBackUntil ?? null) : null;
}

/** A try to send to Stripe now, with what it buys and the key it goes under. */
export interface RechargeSend {
  attempt: Attempt & { terms: RechargeTerms };
  card: SavedCard;
}

/**
 * The alarm's question before it calls Stripe: is a try due, and may it still be sent? A held-back
 * crossing whose month has come becomes a charge if everything still allows it; a due try goes only
 * if everything still allows it. Anything that no longer allows it ends the crossing: nothing is sent,
 * and auto-recharge is idle again (a crossing still held back by the limit waits for the next month).
 */
export function prepareRecharge(state: LedgerState, now: number, ref: string): Step<RechargeSend | null> {
  const draft = new Draft(state, now);
  if (!draft.state.autoRecharge) return draft.done(null);
  let ar = thisMonth(draft.state.autoRecharge, now, draft.state.settings.timeZone);
  if (ar.inFlight === null && ar.heldBack === "monthly_limit_reached" && (ar.heldBackUntil ?? Infinity) <= now) {
    const why = whyNotCharge(draft, ar);
    ar = why === "monthly_limit_reached" ? holdBack(draft, ar) : { ...ar, heldBack: null, heldBackUntil: null };
    if (why === null) {
      ar = { ...ar, status: "in_flight", attempts: ar.attempts + 1, lastAttemptAt: now, inFlight: { number: ar.attempts + 1, tries: 1, nextTryAt: now, since: now } };
    }
    draft.state = withRecharge(draft.state, ar);
  }
  const due = ar.inFlight;
  if (!due || due.nextTryAt === null || due.nextTryAt > now) return draft.done(null);
  const why = whyNotCharge(draft, ar, due.terms?.amount);
  if (why !== null) {
    const ended: AutoRecharge = { ...ar, inFlight: null, status: ar.status === "disabled" ? "disabled" : "idle" };
    draft.state = withRecharge(draft.state, why === "monthly_limit_reached" ? holdBack(draft, ended) : ended);
    return draft.done(null);
  }
  // The first send fixes what the attempt buys, and remembers the charge before Stripe can answer.
  const terms = due.terms ?? { ref, packageId: ar.plan.packageId, credits: ar.plan.credits, amount: ar.plan.amount, currency: ar.plan.currency };
  const sent = due.terms ? ar.sent : [...(ar.sent ?? []), { ...terms, attempt: due.number, credited: false }].slice(-KEPT_SENT);
  const attempt = { ...due, terms };
  draft.state = withRecharge(draft.state, { ...ar, inFlight: attempt, ...(sent ? { sent } : {}) });
  return draft.done({ attempt, card: ar.card as SavedCard });
}

/** The current try of the current attempt, or null when `attempt`/`tries` name another. */
function currentTry(state: LedgerState, attempt: number, tries: number): { ar: AutoRecharge; current: Attempt } | null {
  const ar = state.autoRecharge;
  const current = ar?.inFlight;
  if (!ar || !current || current.number !== attempt || current.tries !== tries) return null;
  return { ar, current };
}

/** Stripe accepted the try (a PaymentIntent exists): wait for its outcome, do not send it again. */
export function rechargeSent(state: LedgerState, attempt: number, tries: number): LedgerState {
  const found = currentTry(state, attempt, tries);
  if (!found) return state;
  return withRecharge(state, { ...found.ar, inFlight: { ...found.current, nextTryAt: null, unreachable: 0 } });
}

/** Stripe could not be reached: the same try (same key) goes again later, the wait doubling up to an hour. */
export function rechargeUnreachable(state: LedgerState, attempt: number, tries: number, now: number): LedgerState {
  const found = currentTry(state, attempt, tries);
  if (!found) return state;
  const times = (found.current.unreachable ?? 0) + 1;
  const wait = Math.min(UNREACHABLE_RETRY_MAX_MS, UNREACHABLE_RETRY_MS * 2 ** Math.min(times - 1, 20));
  return withRecharge(state, { ...found.ar, inFlight: { ...found.current, unreachable: times, nextTryAt: now + wait } });
}

/**
 * The month's charges carried to another calendar when the account's time zone changes, as the
 * spending counters are (limits.ts rezoneSpend): what was charged this month stays charged.
 */
export function rezoneRecharge(ar: AutoRecharge | null, now: number, from: string | null, to: string | null): AutoRecharge | null {
  if (!ar || from === to) return ar;
  const current = thisMonth(ar, now, from);
  return { ...current, monthKey: periodKeys(now, to).monthKey };
}
