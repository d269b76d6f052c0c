// Model-based test of the payment event stream (issue 20), against the pure rules.
//
// A run draws a random interleaving of what happens around one account: checkouts paid (one of them
// saving the card), another deployment's session, refunds (partial, full, failed), inquiries and
// disputes opened and closed won or lost, spending that crosses the auto-recharge threshold, the
// object's alarm sending charges that Stripe accepts or declines, blocks, auto-recharge turned off and
// on, time passing, and the charged ⇒ credited pass. Stripe's events go to a log; each is delivered
// any number of times, in any order, or never (until the pass reads the log).
//
// The harness does what the Worker and the object do with each event, in the same order of steps:
// D1's facts only ever move forward (workers/stripe/claims.ts), a landed purchase's account is told
// all of them (ledger/claims.ts), a session credits only if it was sold here and once per key
// (workers/stripe/events.ts), and the alarm decides before each send (ledger/recharge.ts).
//
// After every step: each paid session credited at most once and a foreign one never; no purchase
// clawed back beyond its credits; charges raised ≤ crossings by spending; no charge sent while
// blocked, off, without a card or with available ≥ threshold; balance = Σ journal. After the pass at
// the end: each paid session credited exactly once, and each dispute in the state its furthest event
// says (open: blocked and clawed back; lost: clawed back, unblocked; won and inquiries: neither).

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DISPUTE_RANK, disputeStatus, NO_FACTS, applyClaims, type ClaimFacts, type DisputeStatus, type PurchaseClaims } from "../../durable-objects/ledger/claims";
import { totals } from "../../durable-objects/ledger/draft";
import * as payments from "../../durable-objects/ledger/purchases";
import * as recharge from "../../durable-objects/ledger/recharge";
import * as rules from "../../durable-objects/ledger/rules";
import type { LedgerState, Step } from "../../durable-objects/ledger/types";
import { HOUR, ledger } from "./fixtures";

const START = Date.parse("2026-11-10T12:00:00.000Z");
const CREDITS = 1000;
const PAID = 500;
const PLAN: recharge.RechargePlan = { threshold: 300, packageId: "pack", credits: CREDITS, amount: PAID, currency: "usd", monthlyLimit: 5 * PAID };
const SESSIONS = 3;

type StripeEvent =
  | { id: string; type: "checkout.session.completed"; session: string; sold: boolean }
  | { id: string; type: "payment_intent.succeeded"; pi: string; saveCard: boolean; recharge: { attempt: number; ref: string } | null }
  | { id: string; type: "payment_intent.payment_failed"; pi: string; attempt: number; tries: number; ref: string }
  | { id: string; type: "charge.refunded"; pi: string; cumulative: number; at: number }
  | { id: string; type: "refund"; pi: string; refund: string; amount: number; failedAt: number | null }
  | { id: string; type: "dispute"; pi: string; dispute: string; stripeStatus: string };

/** Each kind of event without its id (the log gives it one). */
type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

type Op =
  | { kind: "pay"; session: number }
  | { kind: "foreign" }
  | { kind: "refund"; target: number; amount: number }
  | { kind: "refundFails"; target: number; pick: number }
  | { kind: "dispute"; target: number; dispute: number; stripeStatus: string }
  | { kind: "deliver"; pick: number }
  | { kind: "spend"; amount: number }
  | { kind: "alarm"; declined: boolean }
  | { kind: "autoRecharge"; on: boolean }
  | { kind: "block"; on: boolean }
  | { kind: "time"; hours: number }
  | { kind: "recover" };

interface Purchase {
  reference: string;
  credits: number;
  paid: number;
}

class PaymentWorld {
  now = START;
  state: LedgerState;
  journal = 0;
  readonly log: StripeEvent[] = [];
  private readonly applied = new Set<string>();
  private readonly keys = new Set<string>();
  readonly kept = new Map<string, PurchaseClaims>();
  /** D1: purchases by payment intent once landed (lot written). */
  readonly landed = new Map<string, Purchase>();
  /** D1: facts by payment intent, each only moving forward. */
  private readonly facts = new Map<string, ClaimFacts>();
  /** Payment intents refunds and disputes may name: the checkouts', then each charged auto-recharge's. */
  readonly charges: string[] = Array.from({ length: SESSIONS }, (_, i) => `pi_cs_${i}`);
  readonly credited = new Map<string, number>();
  /** Stripe's clock: each event it writes is later than the one before. */
  private stripeClock = 0;
  private readonly truths = new Map<string, { refunds: { id: string; amount: number; failed: boolean }[] }>();
  crossings = 0;
  private ids = 0;
  private paidSessions = new Set<number>();
  /** When the operator last lifted blocks, and when the account learnt each dispute was open. */
  private liftedAt = -1;
  readonly openedAt = new Map<string, number>();
  step = 0;

  constructor() {
    this.state = { ...ledger({}, START), autoRecharge: recharge.configureRecharge(null, true, PLAN, START, null) };
  }

  private run<R>(step: Step<R>): R | null {
    this.state = step.state;
    this.journal += step.entries.reduce((s, e) => s + e.amount, 0);
    return step.outcome.ok ? step.outcome.value : null;
  }

  private emit(event: WithoutId<StripeEvent>): void {
    this.log.push({ ...event, id: `evt_${++this.ids}` } as StripeEvent);
  }

  // ---- what Stripe does ---------------------------------------------------------------------------

  act(op: Op): void {
    this.step++;
    switch (op.kind) {
      case "pay":
        if (this.paidSessions.has(op.session)) return;
        this.paidSessions.add(op.session);
        // The first session saves the card; Stripe may send its two events in either order.
        this.emit({ type: "payment_intent.succeeded", pi: `pi_cs_${op.session}`, saveCard: op.session === 0, recharge: null });
        this.emit({ type: "checkout.session.completed", session: `cs_${op.session}`, sold: true });
        return;
      case "foreign":
        this.emit({ type: "checkout.session.completed", session: `cs_foreign_${this.ids}`, sold: false });
        return;
      case "refund": {
        // Stripe refunds what is left of the charge at most, then reports the new cumulative figure.
        const pi = this.charges[op.target % this.charges.length] as string;
        const refunds = this.truth(pi).refunds;
        if (standing(refunds) + op.amount > PAID) return;
        const at = ++this.stripeClock;
        const id = `re_${pi}_${refunds.length}`;
        refunds.push({ id, amount: op.amount, failed: false });
        this.emit({ type: "refund", pi, refund: id, amount: op.amount, failedAt: null });
        this.emit({ type: "charge.refunded", pi, cumulative: standing(refunds), at });
        return;
      }
      case "refundFails": {
        // A standing refund fails: Stripe's figure drops by it (reported by the refund's own event).
        const pi = this.charges[op.target % this.charges.length] as string;
        const live = this.truth(pi).refunds.filter((r) => !r.failed);
        const refund = live[op.pick % Math.max(1, live.length)];
        if (!refund) return;
        refund.failed = true;
        this.emit({ type: "refund", pi, refund: refund.id, amount: refund.amount, failedAt: ++this.stripeClock });
        return;
      }
      case "dispute":
        this.emit({ type: "dispute", pi: this.charges[op.target % this.charges.length] as string, dispute: `dp_${op.target % this.charges.length}_${op.dispute}`, stripeStatus: op.stripeStatus });
        return;
      case "deliver":
        if (this.log.length) this.deliver(this.log[op.pick % this.log.length] as StripeEvent);
        return;
      case "spend": {
        const before = totals(this.state, this.now).available;
        const answer = this.run(rules.debit(this.state, { amount: op.amount, operation: null, quantities: null, description: null, metadata: null }, this.now));
        if (answer && before >= PLAN.threshold && totals(this.state, this.now).available < PLAN.threshold) this.crossings++;
        return;
      }
      case "alarm":
        return this.alarm(op.declined);
      case "autoRecharge":
        this.run(rules.setAutoRecharge(this.state, { enabled: op.on, plan: PLAN }, this.now));
        return;
      case "block":
        if (!op.on) this.liftedAt = this.step;
        this.run(payments.setAdminBlock(this.state, { blocked: op.on, reason: "operator" }, this.now));
        return;
      case "time":
        this.now += op.hours * HOUR;
        this.run(rules.settle(this.state, this.now));
        return;
      case "recover":
        for (const event of this.log) if (!this.applied.has(event.id)) this.deliver(event);
        return;
    }
  }

  /** The object's alarm: decide, then "Stripe" accepts (a PaymentIntent that succeeded) or declines. */
  private alarm(declined: boolean): void {
    const send = this.run(recharge.prepareRecharge(this.state, this.now, `ref_${++this.ids}`));
    if (!send) return;
    const t = totals(this.state, this.now);
    const ar = this.state.autoRecharge as recharge.AutoRecharge;
    expect(ar.enabled, "a charge sent while auto-recharge is off").toBe(true);
    expect(ar.card, "a charge sent without a card").not.toBeNull();
    expect(Object.keys(this.state.blocks), "a charge sent while blocked").toEqual([]);
    expect(t.available, "a charge sent with available at or above the threshold").toBeLessThan(PLAN.threshold);
    const pi = `pi_ar_${send.attempt.number}_${send.attempt.tries}`;
    if (declined) {
      this.run(payments.rechargeFailed(this.state, { attempt: send.attempt.number, tries: send.attempt.tries, ref: send.attempt.terms.ref, code: "insufficient_funds", needsAction: false }, this.now));
      this.emit({ type: "payment_intent.payment_failed", pi, attempt: send.attempt.number, tries: send.attempt.tries, ref: send.attempt.terms.ref });
      return;
    }
    this.state = recharge.rechargeSent(this.state, send.attempt.number, send.attempt.tries);
    this.charges.push(pi);
    this.emit({ type: "payment_intent.succeeded", pi, saveCard: false, recharge: { attempt: send.attempt.number, ref: send.attempt.terms.ref } });
  }

  // ---- what the Worker and the object do with an event ------------------------------------------------

  private deliver(event: StripeEvent): void {
    if (this.applied.has(event.id)) return;
    let credited = true;
    switch (event.type) {
      case "checkout.session.completed": {
        // Only what this deployment sold (its pending row); another's session credits nothing.
        if (!event.sold) {
          credited = false;
          break;
        }
        const pi = `pi_${event.session}`;
        this.once(`stripe:purchase:${event.session}`, () => {
          this.run(payments.purchase(this.state, { lotId: `lot_${event.session}`, amount: CREDITS, expiresAt: null, priority: 0, reference: event.session, description: null, metadata: null, event: { purchase_id: event.session } }, this.now));
          this.credited.set(event.session, (this.credited.get(event.session) ?? 0) + 1);
        });
        this.landed.set(pi, { reference: event.session, credits: CREDITS, paid: PAID });
        this.sync(pi);
        break;
      }
      case "payment_intent.succeeded":
        if (event.saveCard) this.run(rules.saveCard(this.state, { customer: "cus", paymentMethod: "pm_visa", savedAt: 1 }, this.now));
        if (event.recharge) {
          const r = event.recharge;
          this.once(`stripe:auto_recharge:${event.pi}`, () => {
            this.run(payments.rechargeSucceeded(this.state, { attempt: r.attempt, ref: r.ref, lotId: `lot_${event.pi}`, credits: CREDITS, amount: PAID, currency: "usd", expiresAt: null, paymentIntent: event.pi }, this.now));
          });
          this.landed.set(event.pi, { reference: event.pi, credits: CREDITS, paid: PAID });
          this.sync(event.pi);
        }
        break;
      case "payment_intent.payment_failed":
        this.run(payments.rechargeFailed(this.state, { attempt: event.attempt, tries: event.tries, ref: event.ref, code: "insufficient_funds", needsAction: false }, this.now));
        break;
      case "charge.refunded":
        this.record(event.pi, { ...NO_FACTS, refunded: { amount: event.cumulative, at: event.at } });
        break;
      case "refund":
        this.record(event.pi, { ...NO_FACTS, refunds: { [event.refund]: { amount: event.amount, failedAt: event.failedAt } } });
        break;
      case "dispute": {
        const status = disputeStatus(event.stripeStatus);
        if (status) this.record(event.pi, { ...NO_FACTS, disputes: { [event.dispute]: { amount: PAID, status } } });
        break;
      }
    }
    if (credited) this.applied.add(event.id);
  }

  /** The object's idempotency: a key's change happens once. */
  private once(key: string, change: () => void): void {
    if (this.keys.has(key)) return;
    this.keys.add(key);
    change();
  }

  /** D1's fact rows, each moving only forward, as the SQL upserts do; then the landed purchase's account is told. */
  private record(pi: string, fact: ClaimFacts): void {
    const known = this.facts.get(pi) ?? { ...NO_FACTS, refunds: {}, disputes: {} };
    const refunds = { ...known.refunds };
    for (const [id, r] of Object.entries(fact.refunds)) {
      const kept = refunds[id];
      const failedAt = kept?.failedAt == null ? r.failedAt : r.failedAt === null ? kept.failedAt : Math.min(kept.failedAt, r.failedAt);
      refunds[id] = { amount: Math.max(kept?.amount ?? 0, r.amount), failedAt };
    }
    const disputes = { ...known.disputes };
    for (const [id, d] of Object.entries(fact.disputes)) {
      const kept = disputes[id];
      disputes[id] = kept && DISPUTE_RANK[kept.status] >= DISPUTE_RANK[d.status] ? kept : d;
    }
    const latest = fact.refunded.at > known.refunded.at || (fact.refunded.at === known.refunded.at && fact.refunded.amount > known.refunded.amount) ? fact.refunded : known.refunded;
    this.facts.set(pi, { refunded: latest, refunds, disputes, charge: null });
    this.sync(pi);
  }

  private sync(pi: string): void {
    const purchase = this.landed.get(pi);
    if (!purchase) return;
    const facts = this.facts.get(pi) ?? NO_FACTS;
    const current = this.kept.get(purchase.reference) ?? null;
    const answer = this.run(
      applyClaims(this.state, { ...purchase, currency: "usd", facts, current, restoreLot: { lotId: `back_${++this.ids}`, expiresAt: null, priority: 0 } }, this.now),
    );
    if (!answer) return;
    // When the account learnt that a dispute is open (and blocked): an operator's unblock after that lifts it.
    for (const [id, d] of Object.entries(answer.claims.facts.disputes)) {
      if (d.status === "open" && current?.facts.disputes[id]?.status !== "open") this.openedAt.set(id, this.step);
    }
    this.kept.set(purchase.reference, answer.claims);
  }

  /**
   * The status each dispute's last event says, in Stripe's own order of a dispute's life (an inquiry,
   * then open, then closed), whatever order the events were delivered in.
   */
  finalDisputes(): Map<string, { pi: string; status: string }> {
    const out = new Map<string, { pi: string; status: string }>();
    for (const e of this.log) {
      if (e.type !== "dispute") continue;
      const kept = out.get(e.dispute);
      if (!kept || LIFE[e.stripeStatus]! > LIFE[kept.status]!) out.set(e.dispute, { pi: e.pi, status: e.stripeStatus });
    }
    return out;
  }

  liftedAfter(dispute: string): boolean {
    return this.liftedAt > (this.openedAt.get(dispute) ?? Infinity);
  }

  /** Stripe's own truth about a charge's refunds (what its log says in the end). */
  truth(pi: string): { refunds: { id: string; amount: number; failed: boolean }[] } {
    let t = this.truths.get(pi);
    if (!t) this.truths.set(pi, (t = { refunds: [] }));
    return t;
  }
}

const standing = (refunds: { amount: number; failed: boolean }[]) => refunds.reduce((sum, r) => sum + (r.failed ? 0 : r.amount), 0);

function checkAlways(world: PaymentWorld): void {
  for (const [session, times] of world.credited) expect(times, `${session} credited ${times} times`).toBe(1);
  for (const lot of world.state.lots) expect(lot.reference ?? "", "another deployment's session credited").not.toMatch(/foreign/);
  for (const [reference, kept] of world.kept) expect(kept.clawed, `${reference} clawed back more than it credited`).toBeLessThanOrEqual(CREDITS);
  expect(world.state.autoRecharge?.attempts ?? 0, "charges raised beyond crossings by spending").toBeLessThanOrEqual(world.crossings);
  expect(totals(world.state, world.now).balance, "balance ≠ Σ journal").toBe(world.journal);
}

function checkSettled(world: PaymentWorld, paid: number): void {
  expect(world.credited.size, "a paid session never credited").toBe(paid);
  for (const [pi, purchase] of world.landed) {
    // What Stripe's own truth says: the refunds that stand and the disputes open or lost at the end.
    let disputed = 0;
    for (const d of world.finalDisputes().values()) if (d.pi === pi && ["needs_response", "under_review", "lost"].includes(d.status)) disputed += PAID;
    const taken = Math.min(PAID, standing(world.truth(pi).refunds) + disputed);
    expect(world.kept.get(purchase.reference)?.clawed ?? 0, `${pi}: clawed back ≠ what Stripe says was refunded and disputed`).toBe(Math.floor((purchase.credits * taken) / PAID));
  }
  for (const [id, { pi, status }] of world.finalDisputes()) {
    if (!world.landed.has(pi)) continue;
    const blocked = `dispute:${id}` in world.state.blocks;
    const expected = (status === "needs_response" || status === "under_review") && !world.liftedAfter(id);
    expect(blocked, `${id} ends ${status}: blocked should be ${expected}`).toBe(expected);
  }
}

/**
 * The lives a dispute can have at Stripe, one per dispute id (so no dispute is both won and lost): an
 * inquiry that closes, an inquiry that escalates and is won, a chargeback that is lost. Each event
 * names one stage of its dispute's life.
 */
const LIVES = [
  ["warning_needs_response", "warning_under_review", "warning_closed"],
  ["warning_needs_response", "needs_response", "won"],
  ["needs_response", "under_review", "lost"],
] as const;
/** Where each status comes in a dispute's life at Stripe (the test's own reading, not the rules'). */
const LIFE: Record<string, number> = { warning_needs_response: 0, warning_under_review: 0, needs_response: 1, under_review: 1, warning_closed: 2, won: 2, lost: 2 };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: SESSIONS - 1 }).map((session) => ({ kind: "pay" as const, session })) },
  { weight: 1, arbitrary: fc.constant({ kind: "foreign" as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("refund" as const), target: fc.nat(5), amount: fc.integer({ min: 1, max: PAID }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("refundFails" as const), target: fc.nat(5), pick: fc.nat(3) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("dispute" as const), target: fc.nat(5), dispute: fc.nat(2), stage: fc.nat(2) }).map(({ kind, target, dispute, stage }) => ({ kind, target, dispute, stripeStatus: LIVES[dispute]![stage]! })) },
  { weight: 8, arbitrary: fc.nat(200).map((pick) => ({ kind: "deliver" as const, pick })) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 700 }).map((amount) => ({ kind: "spend" as const, amount })) },
  { weight: 3, arbitrary: fc.boolean().map((declined) => ({ kind: "alarm" as const, declined })) },
  { weight: 1, arbitrary: fc.boolean().map((on) => ({ kind: "autoRecharge" as const, on })) },
  { weight: 1, arbitrary: fc.boolean().map((on) => ({ kind: "block" as const, on })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 30 }).map((hours) => ({ kind: "time" as const, hours })) },
  { weight: 1, arbitrary: fc.constant({ kind: "recover" as const }) },
);

describe("the payment event stream (model-based)", () => {
  it("any interleaving, duplication or loss of Stripe's events keeps every invariant, and the pass settles each payment and dispute as its events say", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 10, maxLength: 60, size: "max" }), (ops) => {
        const world = new PaymentWorld();
        for (const o of ops) {
          world.act(o);
          checkAlways(world);
        }
        world.act({ kind: "recover" });
        checkAlways(world);
        const paid = new Set(ops.flatMap((o) => (o.kind === "pay" ? [o.session] : []))).size;
        checkSettled(world, paid);
      }),
      { numRuns: 400 },
    );
  });
});
