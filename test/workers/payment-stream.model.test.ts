// The payment event stream, model-based, through the real Worker (issue 20): the pure-rules model in
// test/unit/payment-stream.model.test.ts runs hundreds of interleavings fast; this one runs fewer, end
// to end, so that the webhook, D1's facts, the sold-here check, the object's keys and alarm, the fake
// Stripe API and the charged ⇒ credited pass are all the real ones.
//
// Stripe's events come from the fake's own log (the ids a real webhook would carry). A run interleaves
// deliveries (any event, any number of times, or never), refunds, failed refunds, inquiries and
// disputes, spending, the object's alarm with the card accepting or declining, blocks, auto-recharge
// off and on, time passing, and the hourly pass; then the pass once more at the end.

import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { catchUpPayments, paymentsPassFrom, setClock } from "./cron-helpers";
import { account, api, audit, ledger, openAccount } from "./helpers";
import { buy, fakeStripe, PACKAGE, rechargesOf, scriptCard, withPackage } from "./recharge-helpers";
import { charge, deliver, dispute } from "./stripe-events";

const T = Date.parse("2031-02-03T12:00:00Z");
const HOUR = 3_600_000;
const THRESHOLD = 300;
const CARD = "pm_model_card";

interface LoggedEvent {
  id: string;
  type: string;
  data: { object: Record<string, unknown> };
}

type Op =
  | { kind: "deliver"; pick: number }
  | { kind: "refund"; target: number; amount: number }
  | { kind: "refundFails"; target: number; pick: number }
  | { kind: "dispute"; target: number; dispute: number; status: string }
  | { kind: "spend"; amount: number }
  | { kind: "alarm"; declined: boolean }
  | { kind: "autoRecharge"; on: boolean }
  | { kind: "block"; on: boolean }
  | { kind: "time"; hours: number }
  | { kind: "recover" };

let runs = 0;

class World {
  readonly id = `psm-${++runs}`;
  now = T;
  readonly log: LoggedEvent[] = [];
  /** Payment intents of the purchases refunds and disputes may name. */
  readonly charges: string[] = [];
  readonly sessions: string[] = [];
  crossings = 0;
  /** Stripe's own truth about each charge's refunds (what its log says in the end). */
  readonly refunds = new Map<string, { id: string; amount: number; failed: boolean }[]>();
  /** Each dispute's furthest Stripe status, and the step at which the account first blocked for it. */
  readonly disputes = new Map<string, { pi: string; status: string; blockedAt: number }>();
  liftedAt = -1;
  step = 0;

  private async logged(type: string, object: Record<string, unknown>): Promise<LoggedEvent> {
    const evt = await fakeStripe<LoggedEvent>("/__events", { method: "POST", body: JSON.stringify({ type, object }) });
    this.log.push(evt);
    return evt;
  }

  async setUp(): Promise<void> {
    // The pass walks Stripe's log from here: what this run pays, not what every other file paid.
    await paymentsPassFrom();
    await setClock(this.id, this.now);
    await openAccount(this.id, 0);
    const set = await api("PUT", `/v1/accounts/${this.id}/auto-recharge`, { body: { enabled: true, threshold: THRESHOLD, package_id: PACKAGE.id } });
    expect(set.status).toBe(200);
    // Two checkouts paid at Stripe, the first saving the card; none of their events delivered yet.
    for (const save of [true, false]) {
      const paid = await buy(this.id, { save, paymentMethod: CARD, deliver: [] });
      this.log.push(paid.events["payment_intent.succeeded"] as LoggedEvent, paid.events["checkout.session.completed"] as LoggedEvent);
      this.charges.push(paid.payment_intent.id);
      this.sessions.push(paid.session.id);
    }
  }

  private refundsOf(pi: string) {
    let list = this.refunds.get(pi);
    if (!list) this.refunds.set(pi, (list = []));
    return list;
  }

  async act(op: Op): Promise<void> {
    this.step++;
    const target = (n: number) => this.charges[n % this.charges.length] as string;
    switch (op.kind) {
      case "deliver": {
        const evt = this.log[op.pick % this.log.length] as LoggedEvent;
        const res = await deliver(evt);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        return;
      }
      case "refund": {
        // Stripe refunds what is left of the charge at most, and says so twice: the refund's own
        // event and the charge's new cumulative figure.
        const pi = target(op.target);
        const refunds = this.refundsOf(pi);
        if (standing(refunds) + op.amount > PACKAGE.amount) return;
        const id = `re_${this.id}_${pi}_${refunds.length}`;
        refunds.push({ id, amount: op.amount, failed: false });
        await this.logged("refund.created", { id, object: "refund", amount: op.amount, charge: `ch_${pi}`, payment_intent: pi, status: "succeeded" });
        await this.logged("charge.refunded", charge(pi, PACKAGE.amount, standing(refunds)));
        return;
      }
      case "refundFails": {
        // A standing refund fails later: Stripe's figure drops by it, said by the refund's own event.
        const pi = target(op.target);
        const refund = this.refundsOf(pi).filter((r) => !r.failed)[op.pick];
        if (!refund) return;
        refund.failed = true;
        await this.logged("refund.failed", { id: refund.id, object: "refund", amount: refund.amount, charge: `ch_${pi}`, payment_intent: pi, status: "failed" });
        return;
      }
      case "dispute": {
        const pi = target(op.target);
        const id = `dp_${this.id}_${op.target % this.charges.length}_${op.dispute}`;
        const type = LIFE[op.status] === 2 ? "charge.dispute.closed" : "charge.dispute.created";
        await this.logged(type, dispute(id, pi, PACKAGE.amount, op.status));
        const kept = this.disputes.get(id);
        if (!kept || (LIFE[op.status] as number) > (LIFE[kept.status] as number)) this.disputes.set(id, { pi, status: op.status, blockedAt: kept?.blockedAt ?? Infinity });
        return;
      }
      case "spend": {
        const before = (await account(this.id)).available as number;
        const res = await api("POST", `/v1/accounts/${this.id}/debits`, { body: { amount: op.amount } });
        if (res.status === 201 && before >= THRESHOLD && res.body.available < THRESHOLD) this.crossings++;
        return;
      }
      case "alarm":
        return this.alarm(op.declined);
      case "autoRecharge":
        expect((await api("PUT", `/v1/accounts/${this.id}/auto-recharge`, { body: { enabled: op.on, threshold: THRESHOLD, package_id: PACKAGE.id } })).status).toBe(200);
        return;
      case "block":
        if (!op.on) this.liftedAt = this.step;
        expect((await api("PUT", `/v1/accounts/${this.id}/block`, { body: { blocked: op.on } })).status).toBe(200);
        return;
      case "time":
        this.now += op.hours * HOUR;
        await setClock(this.id, this.now);
        return;
      case "recover":
        await catchUpPayments();
        return;
    }
  }

  /** The object's alarm; what Stripe made of any charge it sent goes to the log (undelivered). */
  private async alarm(declined: boolean): Promise<void> {
    const a = await account(this.id);
    const mayCharge = a.auto_recharge?.enabled && a.auto_recharge.has_payment_method && a.blocked === null && a.available < THRESHOLD;
    const before = (await rechargesOf(this.id)).length;
    await scriptCard(CARD, [declined ? "insufficient_funds" : "succeeded"]);
    await runDurableObjectAlarm(ledger(this.id));
    const made = await rechargesOf(this.id);
    if (!mayCharge) expect(made.length, `a charge was sent while ${JSON.stringify({ auto_recharge: a.auto_recharge, blocked: a.blocked, available: a.available })}`).toBe(before);
    for (const pi of made.slice(before)) {
      const query = `created[gte]=${pi.created}&types[0]=payment_intent.succeeded&types[1]=payment_intent.payment_failed&limit=100`;
      const page = await fakeStripe<{ data: LoggedEvent[] }>(`/v1/events?${query}`);
      const evt = page.data.find((e) => e.data.object.id === pi.id);
      if (evt) this.log.push(evt);
      if (pi.status === "succeeded") this.charges.push(pi.id);
    }
  }

  /** Notes when the account first blocked for each dispute (it learns of an opening when its purchase has landed). */
  async noteBlocks(): Promise<void> {
    for (const key of await blockKeys(this)) {
      const d = this.disputes.get(key.replace(/^dispute:/, ""));
      if (d && d.blockedAt === Infinity) d.blockedAt = this.step;
    }
  }

  /** An operator lifted blocks after the account had blocked for the dispute. */
  liftedAfterBlock(dispute: string): boolean {
    return this.liftedAt > (this.disputes.get(dispute)?.blockedAt ?? Infinity);
  }

  /** The purchase a payment intent paid for: a checkout's session, or the auto-recharge itself. */
  referenceOf(pi: string): string {
    const i = this.charges.indexOf(pi);
    return i >= 0 && i < this.sessions.length ? (this.sessions[i] as string) : pi;
  }
}

/** Where each status comes in a dispute's life at Stripe: an inquiry, then open, then closed. */
const LIFE: Record<string, number> = { warning_needs_response: 0, warning_under_review: 0, needs_response: 1, under_review: 1, warning_closed: 2, won: 2, lost: 2 };

const standing = (refunds: { amount: number; failed: boolean }[]) => refunds.reduce((sum, r) => sum + (r.failed ? 0 : r.amount), 0);

async function stateOf(world: World) {
  return runInDurableObject(ledger(world.id), (_i, state) => {
    const sql = state.storage.sql;
    const completed = sql.exec("SELECT data FROM events WHERE type = 'purchase.completed'").toArray().map((r) => JSON.parse(r.data as string).purchase_id as string);
    const claims = sql.exec("SELECT reference, claims FROM purchase_claims").toArray().map((r) => ({ reference: r.reference as string, clawed: JSON.parse(r.claims as string).clawed as number }));
    const recharged = sql.exec("SELECT data FROM events WHERE type = 'auto_recharge.succeeded'").toArray().map((r) => JSON.parse(r.data as string).payment_intent as string);
    const ar = JSON.parse((sql.exec("SELECT auto_recharge FROM account").one().auto_recharge as string | null) ?? "null") as { attempts: number } | null;
    return { completed, claims, recharged, attempts: ar?.attempts ?? 0 };
  });
}

async function checkAlways(world: World): Promise<void> {
  const s = await stateOf(world);
  expect(new Set(s.completed).size, `a session credited twice: ${s.completed.join(", ")}`).toBe(s.completed.length);
  for (const c of s.claims) expect(c.clawed, `${c.reference} clawed back more than it credited`).toBeLessThanOrEqual(PACKAGE.credits);
  expect(s.attempts, "charges raised beyond crossings by spending").toBeLessThanOrEqual(world.crossings);
  const books = await audit(world.id);
  expect(books?.balance, "balance ≠ Σ journal").toBe(books?.journalSum);
}

async function checkSettled(world: World): Promise<void> {
  const s = await stateOf(world);
  expect(s.completed.sort(), "a paid session never credited").toEqual([...world.sessions].sort());
  for (const pi of world.charges) {
    const reference = world.referenceOf(pi);
    if (!s.completed.includes(reference) && !s.recharged.includes(pi)) continue;
    // What Stripe's own truth says: the refunds that stand, and the disputes open or lost at the end.
    let disputed = 0;
    for (const d of world.disputes.values()) if (d.pi === pi && ["needs_response", "under_review", "lost"].includes(d.status)) disputed += PACKAGE.amount;
    const taken = Math.min(PACKAGE.amount, standing(world.refunds.get(pi) ?? []) + disputed);
    const kept = s.claims.find((c) => c.reference === reference)?.clawed ?? 0;
    expect(kept, `${pi}: clawed back ≠ what Stripe says was refunded and disputed`).toBe(Math.floor((PACKAGE.credits * taken) / PACKAGE.amount));
  }
  const blocked = new Set(await blockKeys(world));
  for (const [id, d] of world.disputes) {
    if (!s.completed.includes(world.referenceOf(d.pi)) && !s.recharged.includes(d.pi)) continue;
    const expected = LIFE[d.status] === 1 && !world.liftedAfterBlock(id);
    expect(blocked.has(`dispute:${id}`), `${id} ends ${d.status}`).toBe(expected);
  }
}

const blockKeys = (world: World) =>
  runInDurableObject(ledger(world.id), (_i, state) => Object.keys(JSON.parse((state.storage.sql.exec("SELECT blocks FROM account").one().blocks as string | null) ?? "{}")));

/** One life per dispute id (none is both won and lost): an inquiry that closes, one escalated and won, a chargeback lost. */
const LIVES = [
  ["warning_needs_response", "warning_under_review", "warning_closed"],
  ["warning_needs_response", "needs_response", "won"],
  ["needs_response", "under_review", "lost"],
] as const;
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.nat(100).map((pick) => ({ kind: "deliver" as const, pick })) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("refund" as const), target: fc.nat(3), amount: fc.integer({ min: 1, max: PACKAGE.amount }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("refundFails" as const), target: fc.nat(3), pick: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("dispute" as const), target: fc.nat(3), dispute: fc.nat(2), stage: fc.nat(2) }).map(({ kind, target, dispute, stage }) => ({ kind, target, dispute, status: LIVES[dispute]![stage]! })) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 800 }).map((amount) => ({ kind: "spend" as const, amount })) },
  { weight: 3, arbitrary: fc.boolean().map((declined) => ({ kind: "alarm" as const, declined })) },
  { weight: 1, arbitrary: fc.boolean().map((on) => ({ kind: "autoRecharge" as const, on })) },
  { weight: 1, arbitrary: fc.boolean().map((on) => ({ kind: "block" as const, on })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 30 }).map((hours) => ({ kind: "time" as const, hours })) },
  { weight: 1, arbitrary: fc.constant({ kind: "recover" as const }) },
);

beforeAll(withPackage);

describe("the payment event stream, through the Worker (model-based)", () => {
  it("random interleavings keep every invariant after each step, and end as the events say once the pass has run", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 8, maxLength: 24, size: "max" }), async (ops) => {
        const world = new World();
        await world.setUp();
        for (const o of ops) {
          await world.act(o);
          await world.noteBlocks();
          await checkAlways(world);
        }
        // Every event delivered at least once more (the webhook, late), then the pass: nothing lost.
        for (let i = 0; i < world.log.length; i++) {
          await world.act({ kind: "deliver", pick: i });
          await world.noteBlocks();
        }
        await world.act({ kind: "recover" });
        await checkAlways(world);
        await checkSettled(world);
      }),
      { numRuns: 12 },
    );
  });
});
