// Model-based property test of the ledger rules. Random sequences of grants, debits, holds, captures,
// releases, clock moves, alarms and retries run against two things side by side:
//   - the system under test: a tiny in-memory copy of what the AccountLedger object does with the pure
//     rules (load rows → run one rule with `now` → write only the rows the Step lists, append its
//     entries to the journal, keep the first answer per idempotency key);
//   - a reference model: plain arithmetic over lots, holds and debt, written from DESIGN.md §3 and
//     API.md "Spending", not from the rules' code.
// After every step the answers must agree and the ledger's invariants must hold.
// Each run draws its spending limits and its capture overrun allowance (CAPTURE_OVERRUN_MAX_PERCENT).

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { totals, type Totals } from "../../durable-objects/ledger/draft";
import * as rules from "../../durable-objects/ledger/rules";
import type { EntryDraft, EventDraft, Hold, HoldStatus, LedgerState, Limits, Lot, Outcome, Step } from "../../durable-objects/ledger/types";
import { DAY, HOUR, MINUTE } from "./fixtures";

/** 20:00 UTC on the last day of a month, so runs cross days and sometimes a month. */
const START = Date.parse("2026-11-30T20:00:00.000Z");

type Request =
  | { kind: "grant"; amount: number; expiresAt: number | null; priority: number }
  | { kind: "debit"; amount: number }
  | { kind: "hold"; amount: number; ttlMs: number }
  | { kind: "capture"; holdId: string; amount: number }
  | { kind: "release"; holdId: string };

type Answer = Outcome<unknown>;
type Sent =
  | { kind: "fresh"; answer: Answer; entries: EntryDraft[]; events: EventDraft[] }
  | { kind: "replayed"; answer: Answer }
  | { kind: "conflict" };

interface Config {
  limits: Limits;
  overrunPercent: number;
}

const charge = (amount: number) => ({ amount, operation: null, quantities: null, description: null, metadata: null });
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const pad = (n: number) => String(n).padStart(6, "0");

function calendar(now: number) {
  const day = new Date(now).toISOString().slice(0, 10);
  return { dayKey: day, monthKey: day.slice(0, 7) };
}

// ---- the system under test: what the Durable Object does, in memory --------------------------------

class LedgerHarness {
  now = START;
  readonly journal: EntryDraft[] = [];
  private readonly lotRows = new Map<string, Lot>();
  private readonly holdRows = new Map<string, Hold>();
  private account: Omit<LedgerState, "lots" | "holds">;
  private readonly replies = new Map<string, { fingerprint: string; answer: Answer }>();
  private ids = 0;
  /** Lots a `credits.expiring` was raised for: once each, whichever step raised it. */
  private readonly announced = new Set<string>();

  constructor(private readonly config: Config) {
    const { limits } = config;
    const keys = calendar(START);
    this.account = {
      debt: 0,
      settings: { limits, timeZone: null, lowBalanceThreshold: null },
      spend: { dayKey: keys.dayKey, day: 0, monthKey: keys.monthKey, month: 0 },
      isLow: false,
      limitNotice: null,
      blocks: {},
    allowance: null,
    autoRecharge: null,
    };
  }

  /** As the store loads it: lots with credits left, active holds, plus the one hold a request names. */
  load(holdId?: string): LedgerState {
    const lots = [...this.lotRows.values()].filter((l) => l.remaining > 0);
    const holds = [...this.holdRows.values()].filter((h) => h.status === "active" || h.id === holdId);
    return { ...this.account, lots, holds };
  }

  allLots(): Lot[] {
    return [...this.lotRows.values()];
  }

  allHolds(): Hold[] {
    return [...this.holdRows.values()];
  }

  /** Writes only what the step says changed, as the store does, and appends its entries. */
  private persist(step: Step<unknown>): void {
    for (const lot of step.lots) {
      const row = this.lotRows.get(lot.id);
      // The columns the store updates on an existing row (store.ts): remaining and expiring_notified.
      this.lotRows.set(lot.id, row ? { ...row, remaining: lot.remaining, expiringNotified: lot.expiringNotified } : lot);
    }
    for (const event of step.events) {
      if (event.type !== "credits.expiring") continue;
      const lotId = String(event.data.lot_id);
      expect(this.announced.has(lotId), `credits.expiring raised twice for ${lotId}`).toBe(false);
      this.announced.add(lotId);
      seen.expiringNotices++;
    }
    for (const hold of step.holds) {
      const row = this.holdRows.get(hold.id);
      this.holdRows.set(hold.id, row ? { ...row, status: hold.status } : hold);
    }
    let running = sum(this.journal.map((e) => e.amount));
    for (const entry of step.entries) {
      running += entry.amount;
      expect(entry.balanceAfter, `balance_after of ${entry.kind}`).toBe(running);
      this.journal.push(entry);
    }
    const { lots: _lots, holds: _holds, ...account } = step.state;
    this.account = account;
  }

  private execute(request: Request): Step<unknown> {
    const state = this.load("holdId" in request ? request.holdId : undefined);
    switch (request.kind) {
      case "grant":
        return rules.grant(
          state,
          {
            lotId: `lot-${pad(++this.ids)}`,
            amount: request.amount,
            source: "grant",
            expiresAt: request.expiresAt,
            priority: request.priority,
            reference: null,
            description: null,
            metadata: null,
          },
          this.now,
        );
      case "debit":
        return rules.debit(state, charge(request.amount), this.now);
      case "hold":
        return rules.placeHold(state, { ...charge(request.amount), holdId: `hold-${pad(++this.ids)}`, ttlMs: request.ttlMs }, this.now);
      case "capture":
        return rules.captureHold(state, request.holdId, charge(request.amount), this.now, this.config.overrunPercent);
      case "release":
        return rules.releaseHold(state, request.holdId, this.now);
    }
  }

  /** One mutating request with its Idempotency-Key. */
  send(key: string, request: Request): Sent {
    const fingerprint = JSON.stringify(request);
    const prior = this.replies.get(key);
    if (prior) {
      return prior.fingerprint === fingerprint ? { kind: "replayed", answer: structuredClone(prior.answer) } : { kind: "conflict" };
    }
    const step = this.execute(request);
    this.persist(step);
    const answer = structuredClone(step.outcome);
    this.replies.set(key, { fingerprint, answer: structuredClone(answer) });
    return { kind: "fresh", answer, entries: step.entries, events: step.events };
  }

  /** The alarm: writes down what expired. */
  alarm(): Step<Totals> {
    const step = rules.settle(this.load(), this.now);
    this.persist(step);
    return step;
  }
}

// ---- the reference model ---------------------------------------------------------------------------

interface ModelLot {
  id: string;
  amount: number;
  remaining: number;
  expiresAt: number | null;
  priority: number;
  createdAt: number;
}

interface ModelHold {
  id: string;
  amount: number;
  expiresAt: number;
  status: HoldStatus;
}

/** What the whole run must have exercised, or it proved little. */
const seen = {
  steps: 0,
  inDebt: 0,
  account_in_debt: 0,
  spending_limit_exceeded: 0,
  insufficient_credits: 0,
  hold_not_active: 0,
  hold_not_found: 0,
  expireEntries: 0,
  holdExpireEntries: 0,
  expiredAtExactInstant: 0,
  expiringNotices: 0,
  captureOverrun: 0,
  captureZero: 0,
  captureUncharged: 0,
  captureChargedPastLimit: 0,
  zero_cost: 0,
  negativeAvailableAfterOverrun: 0,
  holdRefusedForExpiringCredits: 0,
  replays: 0,
  conflicts: 0,
};

class Model {
  now = START;
  lots: ModelLot[] = [];
  holds: ModelHold[] = [];
  debt = 0;
  spend: { dayKey: string; day: number; monthKey: string; month: number };
  keys: { key: string; request: Request; answer: Answer }[] = [];
  private nextKey = 0;
  /** Why available may be below 0 at the moment; cleared whenever it is back at 0 or above. */
  excused = { overrun: false };
  /** The periods ("daily:2026-11-30") whose limit has been reported reached: once each. */
  readonly notices = new Set<string>();
  /** The largest overrun allowance of any capture so far: how far past a limit spending may go. */
  largestAllowance = 0;
  readonly limits: Limits;
  readonly overrunPercent: number;

  constructor(config: Config) {
    this.limits = config.limits;
    this.overrunPercent = config.overrunPercent;
    this.spend = { ...calendar(START), day: 0, month: 0 };
  }

  newKey(): string {
    return `key-${this.nextKey++}`;
  }

  private live(lot: ModelLot): boolean {
    return lot.remaining > 0 && (lot.expiresAt === null || lot.expiresAt > this.now);
  }

  activeHolds(): ModelHold[] {
    return this.holds.filter((h) => h.status === "active" && h.expiresAt > this.now);
  }

  totals(): Totals {
    const balance = sum(this.lots.filter((l) => this.live(l)).map((l) => l.remaining)) - this.debt;
    const held = sum(this.activeHolds().map((h) => h.amount));
    return { balance, held, available: balance - held, debt: this.debt };
  }

  advance(ms: number): void {
    this.now += ms;
  }

  /**
   * Expiries become entries at the start of every rule run, in time order, each dated when it fell
   * due; at one instant lots go first (in burn order), then holds. Returns the entries expected.
   */
  settle(): string[] {
    const due: { at: number; rank: [number, number, number, string]; entry: string }[] = [];
    for (const lot of this.lots) {
      if (lot.remaining > 0 && lot.expiresAt !== null && lot.expiresAt <= this.now) {
        due.push({ at: lot.expiresAt, rank: [0, lot.priority, lot.createdAt, lot.id], entry: `expire:${lot.id}:${-lot.remaining}@${lot.expiresAt}` });
        if (lot.expiresAt === this.now) seen.expiredAtExactInstant++;
        lot.remaining = 0;
      }
    }
    // Holds of one instant keep the order they were placed in (a stable sort).
    for (const hold of this.holds) {
      if (hold.status === "active" && hold.expiresAt <= this.now) {
        due.push({ at: hold.expiresAt, rank: [1, 0, 0, ""], entry: `hold_expire:${hold.id}:0@${hold.expiresAt}` });
        hold.status = "expired";
      }
    }
    const cmp = (a: (typeof due)[number], b: (typeof due)[number]) =>
      a.at - b.at || a.rank[0] - b.rank[0] || a.rank[1] - b.rank[1] || a.rank[2] - b.rank[2] || (a.rank[3] < b.rank[3] ? -1 : a.rank[3] > b.rank[3] ? 1 : 0);
    return due.sort(cmp).map((d) => d.entry);
  }

  currentSpend() {
    const keys = calendar(this.now);
    if (keys.monthKey !== this.spend.monthKey) this.spend = { ...keys, day: 0, month: 0 };
    else if (keys.dayKey !== this.spend.dayKey) this.spend = { ...this.spend, dayKey: keys.dayKey, day: 0 };
    return this.spend;
  }

  /** The 402 a debit or hold of `amount` gets, first match wins; null when it may proceed. */
  refusal(amount: number): { type: string; details: Record<string, unknown> } | null {
    const t = this.totals();
    if (t.balance < 0) return { type: "account_in_debt", details: { required: amount, available: t.available, debt: t.debt } };
    const spend = this.currentSpend();
    for (const [period, limit, spent] of [
      ["daily", this.limits.daily, spend.day],
      ["monthly", this.limits.monthly, spend.month],
    ] as const) {
      if (limit !== null && spent + t.held + amount > limit) {
        this.notice(period, limit, spent + t.held);
        return {
          type: "spending_limit_exceeded",
          details: { required: amount, available: t.available, period, limit, spent: spent + t.held },
        };
      }
    }
    if (amount > t.available) return { type: "insufficient_credits", details: { required: amount, available: t.available } };
    return null;
  }

  /** The `spending_limit.reached` events the next answer must carry. */
  expectedEvents: { period: string; limit: number; committed: number }[] = [];

  /** A limit reached in the current period is reported the first time only. */
  notice(period: "daily" | "monthly", limit: number, committed: number): void {
    const key = `${period}:${period === "daily" ? this.spend.dayKey : this.spend.monthKey}`;
    if (this.notices.has(key)) return;
    this.notices.add(key);
    this.expectedEvents.push({ period, limit, committed });
  }

  /**
   * What a capture of `cost` against `hold` charges (API.md "Spending"): everything up to the hold;
   * above it, at most hold × percent / 100 more; and never so much that spent + held, after the
   * capture, passes a limit by more than that allowance (or grows at all once it is past that).
   */
  captureCharge(cost: number, hold: ModelHold): number {
    const allowance = Math.floor((hold.amount * this.overrunPercent) / 100);
    this.largestAllowance = Math.max(this.largestAllowance, allowance);
    let charged = Math.min(cost, hold.amount + allowance);
    const spend = this.currentSpend();
    const heldOthers = this.totals().held - hold.amount;
    for (const [limit, spent] of [
      [this.limits.daily, spend.day],
      [this.limits.monthly, spend.month],
    ] as const) {
      if (limit === null) continue;
      // Credit by credit, so the model states the bound rather than a formula for it.
      while (charged > hold.amount && spent + charged + heldOthers > limit + allowance) charged--;
    }
    return charged;
  }

  private burnOrder(): ModelLot[] {
    return this.lots
      .filter((l) => this.live(l))
      .sort(
        (a, b) =>
          a.priority - b.priority ||
          (a.expiresAt ?? Infinity) - (b.expiresAt ?? Infinity) ||
          a.createdAt - b.createdAt ||
          (a.id < b.id ? -1 : 1),
      );
  }

  /**
   * Holds keep their cover: for every active hold's end E, the lots that outlive E hold at least what
   * the holds ending at or after E reserve.
   */
  holdsCovered(holds: ModelHold[] = this.activeHolds(), until = Infinity): boolean {
    return holds.filter((h) => h.expiresAt <= until).every((h) => this.coveredAt(h.expiresAt, holds));
  }

  /** Whether the lots outliving `end` hold what the holds ending at or after it reserve. */
  private coveredAt(end: number, holds: ModelHold[] = this.activeHolds()): boolean {
    const cover = sum(this.lots.filter((l) => this.live(l) && (l.expiresAt === null || l.expiresAt > end)).map((l) => l.remaining));
    return cover >= sum(holds.filter((g) => g.expiresAt >= end).map((g) => g.amount));
  }

  /**
   * Takes up to `amount` in burn order, one credit at a time, skipping to the next lot as soon as a
   * credit more would leave a hold that this lot outlives uncovered (a hold already uncovered after an
   * overrun stops only the lots that could cover it). Returns what it could not take.
   */
  burnAroundHolds(amount: number): number {
    let left = amount;
    for (const lot of this.burnOrder()) {
      const ends = this.activeHolds()
        .map((h) => h.expiresAt)
        .filter((end) => lot.expiresAt === null || lot.expiresAt > end);
      while (left > 0 && lot.remaining > 0) {
        lot.remaining -= 1;
        if (!ends.every((end) => this.coveredAt(end))) {
          lot.remaining += 1;
          break;
        }
        left -= 1;
      }
    }
    return left;
  }

  /** What a debit could take without leaving a hold uncovered, worked out on a copy. */
  spendableAroundHolds(amount: number): number {
    const saved = this.lots.map((l) => l.remaining);
    const left = this.burnAroundHolds(amount);
    this.lots.forEach((l, i) => (l.remaining = saved[i] as number));
    return amount - left;
  }

  /** Takes `amount` around the holds' cover, then from any lot; what no lot holds becomes debt. */
  spendCredits(amount: number): number {
    let left = this.burnAroundHolds(amount);
    for (const lot of this.burnOrder()) {
      const take = Math.min(left, lot.remaining);
      lot.remaining -= take;
      left -= take;
    }
    this.debt += left;
    const spend = this.currentSpend();
    this.spend = { ...spend, day: spend.day + amount, month: spend.month + amount };
    return left;
  }
}

// ---- invariants checked after every step ------------------------------------------------------------

function checkInvariants(m: Model, r: LedgerHarness): void {
  seen.steps++;
  const now = r.now;
  const state = r.load();
  const t = totals(state, now);

  // The system agrees with the model.
  expect(t).toEqual(m.totals());
  const lotRows = new Map(r.allLots().map((l) => [l.id, l]));
  expect(lotRows.size).toBe(m.lots.length);
  for (const lot of m.lots) expect(lotRows.get(lot.id)?.remaining, `remaining of ${lot.id}`).toBe(lot.remaining);
  const holdRows = new Map(r.allHolds().map((h) => [h.id, h]));
  expect(holdRows.size).toBe(m.holds.length);
  for (const hold of m.holds) expect(holdRows.get(hold.id)?.status, `status of ${hold.id}`).toBe(hold.status);

  // balance = Σ unexpired lots.remaining − debt …
  const unexpired = sum(state.lots.filter((l) => l.expiresAt === null || l.expiresAt > now).map((l) => l.remaining));
  expect(unexpired - state.debt).toBe(t.balance);
  // … = Σ journal amounts, once what is due has been settled (on a copy: settling is the alarm's job).
  const settled = rules.settle(state, now);
  expect(sum(r.journal.map((e) => e.amount)) + sum(settled.entries.map((e) => e.amount))).toBe(t.balance);
  expect(settled.outcome).toEqual({ ok: true, value: t });

  // available ≥ 0, except after a capture overrun: holds keep their cover when lots expire. An overrun
  // can leave a hold without cover (its credits went to the work), and credits that later pay the debt
  // may expire before that hold ends, so the excuse lasts until the holds are covered again.
  if (t.available < 0) {
    if (m.excused.overrun) seen.negativeAvailableAfterOverrun++;
    expect(m.excused.overrun, `available ${t.available} < 0 with no capture overrun`).toBe(true);
  } else if (m.holdsCovered()) {
    m.excused = { overrun: false };
  }

  // No sequence of holds and captures commits more than a limit plus one capture's allowance.
  const spend = m.currentSpend();
  if (m.limits.daily !== null) expect(spend.day + t.held, "spent today + held").toBeLessThanOrEqual(m.limits.daily + m.largestAllowance);
  if (m.limits.monthly !== null) expect(spend.month + t.held, "spent this month + held").toBeLessThanOrEqual(m.limits.monthly + m.largestAllowance);

  // Lots stay within 0 … amount; debt ≥ 0; debt only when no live lot has credits left.
  for (const lot of lotRows.values()) {
    expect(lot.remaining).toBeGreaterThanOrEqual(0);
    expect(lot.remaining).toBeLessThanOrEqual(lot.amount);
  }
  expect(state.debt).toBeGreaterThanOrEqual(0);
  if (state.debt > 0) {
    seen.inDebt++;
    for (const lot of state.lots) if (lot.expiresAt === null || lot.expiresAt > now) expect(lot.remaining, `live ${lot.id} while in debt`).toBe(0);
  }

  // Each hold ends at most once, with the entry its status says; never a second capture.
  const ends = new Map<string, string[]>();
  for (const e of r.journal) {
    if (e.holdId !== null && (e.kind === "capture" || e.kind === "release" || e.kind === "hold_expire")) {
      ends.set(e.holdId, [...(ends.get(e.holdId) ?? []), e.kind]);
    }
  }
  const endOf: Record<HoldStatus, string | null> = { active: null, captured: "capture", released: "release", expired: "hold_expire" };
  for (const hold of holdRows.values()) {
    const kinds = ends.get(hold.id) ?? [];
    const expected = endOf[hold.status];
    expect(kinds, `terminal entries of ${hold.id} (${hold.status})`).toEqual(expected === null ? [] : [expected]);
  }
}

/**
 * The real step wrote exactly the entries the model expects, in order: settled expiries (each dated
 * at its instant), then the operation's.
 */
function expectEntries(sent: Sent, expected: string[]): void {
  if (sent.kind !== "fresh") throw new Error(`expected a fresh answer, got ${sent.kind}`);
  const dated = (e: EntryDraft) => (e.kind === "expire" || e.kind === "hold_expire" ? `@${e.createdAt}` : "");
  const written = sent.entries.map((e) => `${e.kind}:${e.holdId ?? e.lotId ?? "-"}:${e.amount === 0 ? 0 : e.amount}${dated(e)}`);
  expect(written).toEqual(expected);
  for (const e of sent.entries) {
    if (e.kind === "expire") seen.expireEntries++;
    if (e.kind === "hold_expire") seen.holdExpireEntries++;
  }
}

function expectRefusal(answer: Answer, expected: { type: string; details?: Record<string, unknown> }): void {
  expect(answer.ok, `expected ${expected.type}`).toBe(false);
  if (answer.ok) return;
  expect(answer.error.type).toBe(expected.type);
  if (expected.details) expect(answer.error.details).toEqual(expected.details);
  if (expected.type in seen) seen[expected.type as keyof typeof seen]++;
}

function okValue(answer: Answer): Record<string, unknown> {
  if (!answer.ok) throw new Error(`expected success, got ${answer.error.type}: ${answer.error.message}`);
  return answer.value as Record<string, unknown>;
}

// ---- commands -------------------------------------------------------------------------------------

type Cmd = fc.Command<Model, LedgerHarness>;

/** Sends a fresh request with a new key; checks the answer and the entries against the model. */
abstract class Fresh implements Cmd {
  check(): boolean {
    return true;
  }
  abstract request(m: Model): Request;
  /** Applies the request to the model (already settled) and checks the answer; returns the operation's entries. */
  abstract expect(m: Model, request: Request, answer: Answer): string[];
  run(m: Model, r: LedgerHarness): void {
    const request = this.request(m);
    const key = m.newKey();
    const sent = r.send(key, request);
    if (sent.kind !== "fresh") throw new Error(`new key ${key} answered as ${sent.kind}`);
    const settled = m.settle();
    m.expectedEvents = [];
    const own = this.expect(m, request, sent.answer);
    expectEntries(sent, [...settled, ...own]);
    expect(sent.events.filter((e) => e.type === "spending_limit.reached").map((e) => e.data), "spending_limit.reached events").toEqual(
      m.expectedEvents,
    );
    m.keys.push({ key, request, answer: structuredClone(sent.answer) });
    checkInvariants(m, r);
  }
  abstract toString(): string;
}

class Grant extends Fresh {
  constructor(
    readonly amount: number,
    readonly expiresIn: number | null,
    readonly priority: number,
  ) {
    super();
  }
  request(m: Model): Request {
    return { kind: "grant", amount: this.amount, expiresAt: this.expiresIn === null ? null : m.now + this.expiresIn, priority: this.priority };
  }
  expect(m: Model, request: Request, answer: Answer): string[] {
    if (request.kind !== "grant") throw new Error("not a grant");
    const value = okValue(answer);
    const lotId = value.lotId;
    expect(typeof lotId).toBe("string");
    expect(m.lots.some((l) => l.id === lotId)).toBe(false);
    const debtPaid = Math.min(m.debt, request.amount);
    m.debt -= debtPaid;
    m.lots.push({
      id: lotId as string,
      amount: request.amount,
      remaining: request.amount - debtPaid,
      expiresAt: request.expiresAt,
      priority: request.priority,
      createdAt: m.now,
    });
    expect(value).toEqual({ ...m.totals(), lotId, debtPaid });
    return [`grant:${String(lotId)}:${request.amount}`];
  }
  toString(): string {
    return `grant(${this.amount}, expiresIn=${this.expiresIn}, priority=${this.priority})`;
  }
}

class Debit extends Fresh {
  constructor(readonly amount: number) {
    super();
  }
  request(): Request {
    return { kind: "debit", amount: this.amount };
  }
  expect(m: Model, _request: Request, answer: Answer): string[] {
    const refusal = this.amount === 0 ? { type: "zero_cost" } : m.refusal(this.amount);
    if (refusal) {
      expectRefusal(answer, refusal);
      return [];
    }
    const spendable = m.spendableAroundHolds(this.amount);
    if (spendable < this.amount) {
      expectRefusal(answer, { type: "insufficient_credits", details: { required: this.amount, available: spendable } });
      return [];
    }
    expect(m.spendCredits(this.amount), "a debit never creates debt").toBe(0);
    expect(okValue(answer)).toEqual(m.totals());
    return [`debit:-:${-this.amount}`];
  }
  toString(): string {
    return `debit(${this.amount})`;
  }
}

class PlaceHold extends Fresh {
  constructor(
    readonly amount: number,
    readonly ttlMs: number,
  ) {
    super();
  }
  request(): Request {
    return { kind: "hold", amount: this.amount, ttlMs: this.ttlMs };
  }
  expect(m: Model, _request: Request, answer: Answer): string[] {
    const refusal = this.amount === 0 ? { type: "zero_cost" } : m.refusal(this.amount);
    if (refusal) {
      expectRefusal(answer, refusal);
      return [];
    }
    const candidate: ModelHold = { id: "candidate", amount: this.amount, expiresAt: m.now + this.ttlMs, status: "active" };
    if (!m.holdsCovered([...m.activeHolds(), candidate], candidate.expiresAt)) {
      seen.holdRefusedForExpiringCredits++;
      expectRefusal(answer, {
        type: "insufficient_credits",
        details: { required: this.amount, available: m.totals().available, reason: "credits_expire_before_hold_ends" },
      });
      return [];
    }
    const value = okValue(answer);
    const hold = value.hold as Hold;
    expect(m.holds.some((h) => h.id === hold.id)).toBe(false);
    m.holds.push({ id: hold.id, amount: this.amount, expiresAt: m.now + this.ttlMs, status: "active" });
    expect(value).toEqual({
      ...m.totals(),
      hold: { id: hold.id, amount: this.amount, status: "active", operation: null, createdAt: m.now, expiresAt: m.now + this.ttlMs },
    });
    return [`hold:${hold.id}:0`];
  }
  toString(): string {
    return `hold(${this.amount}, ttl=${this.ttlMs / MINUTE}min)`;
  }
}

/** Picks one of the holds placed so far (or an unknown id when there is none). */
function pickHold(m: Model, pick: number): string {
  return m.holds.length === 0 ? "hold-unknown" : (m.holds[pick % m.holds.length] as ModelHold).id;
}

/** The answer for a hold that cannot be captured or released; null when it is active. */
function holdProblem(m: Model, holdId: string): { type: string; details?: Record<string, unknown> } | null {
  const hold = m.holds.find((h) => h.id === holdId);
  if (!hold) return { type: "hold_not_found" };
  if (hold.status !== "active") return { type: "hold_not_active", details: { status: hold.status } };
  return null;
}

class Capture extends Fresh {
  constructor(
    readonly pick: number,
    readonly amount: number,
  ) {
    super();
  }
  request(m: Model): Request {
    return { kind: "capture", holdId: pickHold(m, this.pick), amount: this.amount };
  }
  expect(m: Model, request: Request, answer: Answer): string[] {
    if (request.kind !== "capture") throw new Error("not a capture");
    const problem = holdProblem(m, request.holdId);
    if (problem) {
      expectRefusal(answer, problem);
      return [];
    }
    const hold = m.holds.find((h) => h.id === request.holdId) as ModelHold;
    const charged = m.captureCharge(this.amount, hold);
    hold.status = "captured";
    if (charged > hold.amount) m.excused.overrun = true;
    const overrun = m.spendCredits(charged);
    if (overrun > 0) seen.captureOverrun++;
    if (this.amount === 0) seen.captureZero++;
    if (charged < this.amount) seen.captureUncharged++;
    const spend = m.currentSpend();
    const held = m.totals().held;
    for (const [period, limit, spent] of [
      ["daily", m.limits.daily, spend.day],
      ["monthly", m.limits.monthly, spend.month],
    ] as const) {
      if (limit !== null && spent + held > limit) {
        seen.captureChargedPastLimit++;
        m.notice(period, limit, spent + held);
      }
    }
    expect(okValue(answer)).toEqual({
      ...m.totals(),
      cost: charged,
      uncharged: this.amount - charged,
      released: Math.max(0, hold.amount - charged),
      overrun,
    });
    return [`capture:${hold.id}:${-charged === 0 ? 0 : -charged}`];
  }
  toString(): string {
    return `capture(#${this.pick}, ${this.amount})`;
  }
}

class Release extends Fresh {
  constructor(readonly pick: number) {
    super();
  }
  request(m: Model): Request {
    return { kind: "release", holdId: pickHold(m, this.pick) };
  }
  expect(m: Model, request: Request, answer: Answer): string[] {
    if (request.kind !== "release") throw new Error("not a release");
    const problem = holdProblem(m, request.holdId);
    if (problem) {
      expectRefusal(answer, problem);
      return [];
    }
    const hold = m.holds.find((h) => h.id === request.holdId) as ModelHold;
    hold.status = "released";
    expect(okValue(answer)).toEqual({ ...m.totals(), released: hold.amount });
    return [`release:${hold.id}:0`];
  }
  toString(): string {
    return `release(#${this.pick})`;
  }
}

class Advance implements Cmd {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: LedgerHarness): void {
    m.advance(this.ms);
    r.now += this.ms;
    checkInvariants(m, r);
  }
  toString(): string {
    return `advance(${this.ms}ms)`;
  }
}

/** Moves the clock exactly onto the next lot or hold expiry, where off-by-one mistakes live. */
class AdvanceToDeadline implements Cmd {
  check(): boolean {
    return true;
  }
  run(m: Model, r: LedgerHarness): void {
    const deadlines = [
      ...m.lots.filter((l) => l.remaining > 0 && l.expiresAt !== null && l.expiresAt > m.now).map((l) => l.expiresAt as number),
      ...m.holds.filter((h) => h.status === "active" && h.expiresAt > m.now).map((h) => h.expiresAt),
    ];
    const ms = deadlines.length ? Math.min(...deadlines) - m.now : MINUTE;
    m.advance(ms);
    r.now += ms;
    checkInvariants(m, r);
  }
  toString(): string {
    return "advanceToNextDeadline";
  }
}

class Alarm implements Cmd {
  check(): boolean {
    return true;
  }
  run(m: Model, r: LedgerHarness): void {
    const step = r.alarm();
    const expected = m.settle();
    expectEntries({ kind: "fresh", answer: step.outcome, entries: step.entries, events: step.events }, expected);
    expect(step.outcome).toEqual({ ok: true, value: m.totals() });
    checkInvariants(m, r);
  }
  toString(): string {
    return "alarm";
  }
}

/** Sends an earlier request again under its key: the same request replays, another one conflicts. */
class Retry implements Cmd {
  constructor(
    readonly pick: number,
    readonly same: boolean,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.keys.length > 0;
  }
  run(m: Model, r: LedgerHarness): void {
    const first = m.keys[this.pick % m.keys.length] as Model["keys"][number];
    const before = { journal: r.journal.length, state: JSON.stringify(r.load()), lots: JSON.stringify(r.allLots()), holds: JSON.stringify(r.allHolds()) };
    const request: Request = this.same
      ? first.request
      : first.request.kind === "release"
        ? { ...first.request, holdId: `${first.request.holdId}-other` }
        : { ...first.request, amount: first.request.amount + 1 };
    const sent = r.send(first.key, request);
    if (this.same) {
      expect(sent.kind).toBe("replayed");
      if (sent.kind === "replayed") expect(sent.answer).toEqual(first.answer);
      seen.replays++;
    } else {
      expect(sent.kind).toBe("conflict");
      seen.conflicts++;
    }
    // Nothing ran: no entry, no row changed.
    expect(r.journal.length).toBe(before.journal);
    expect(JSON.stringify(r.load())).toBe(before.state);
    expect(JSON.stringify(r.allLots())).toBe(before.lots);
    expect(JSON.stringify(r.allHolds())).toBe(before.holds);
    checkInvariants(m, r);
  }
  toString(): string {
    return `retry(#${this.pick}, ${this.same ? "same" : "different"})`;
  }
}

const amount = fc.integer({ min: 1, max: 200 });
const grantCmd = fc
  .tuple(
    amount,
    fc.oneof(fc.constant(null), fc.integer({ min: 1, max: 90 }).map((m) => m * MINUTE), fc.integer({ min: 1, max: 48 }).map((h) => h * HOUR)),
    fc.integer({ min: 0, max: 2 }),
  )
  .map(([a, e, p]) => new Grant(a, e, p));
/** Debits and holds of 0 must be refused (zero_cost): a few runs send them. */
const chargeAmount = fc.oneof({ arbitrary: amount, weight: 12 }, { arbitrary: fc.constant(0), weight: 1 });
const debitCmd = chargeAmount.map((a) => new Debit(a));
const holdCmd = fc
  .tuple(chargeAmount, fc.oneof(fc.constant(15 * MINUTE), fc.integer({ min: 1, max: 120 }).map((m) => m * MINUTE)))
  .map(([a, ttl]) => new PlaceHold(a, ttl));
const captureCmd = fc
  .tuple(fc.nat(), fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 150, max: 400 })))
  .map(([pick, a]) => new Capture(pick, a));
const releaseCmd = fc.nat().map((pick) => new Release(pick));
const advanceCmd = fc
  .oneof(fc.integer({ min: 1, max: 10 * MINUTE }), fc.integer({ min: 10 * MINUTE, max: 6 * HOUR }), fc.integer({ min: 6 * HOUR, max: 2 * DAY }))
  .map((ms) => new Advance(ms));
const deadlineCmd = fc.constant(new AdvanceToDeadline());
const alarmCmd = fc.constant(new Alarm());
const retryCmd = fc.tuple(fc.nat(), fc.oneof(fc.constant(true), fc.constant(true), fc.constant(false))).map(([pick, same]) => new Retry(pick, same));

const commands = fc.commands(
  [grantCmd, grantCmd, debitCmd, debitCmd, holdCmd, holdCmd, captureCmd, captureCmd, releaseCmd, advanceCmd, deadlineCmd, alarmCmd, retryCmd, retryCmd],
  { maxCommands: 50, size: "max" },
);
const configs: fc.Arbitrary<Config> = fc.record({
  limits: fc.record({
    daily: fc.oneof(fc.constant(null), fc.integer({ min: 100, max: 500 })),
    monthly: fc.oneof(fc.constant(null), fc.integer({ min: 300, max: 1500 })),
  }),
  overrunPercent: fc.constantFrom(0, 25, 100, 100, 300),
});

describe("ledger rules against a reference model", () => {
  it("random grants, debits, holds, captures, releases, clock moves and retries keep every invariant", () => {
    fc.assert(
      fc.property(configs, commands, (config, cmds) => {
        fc.modelRun(() => ({ model: new Model(config), real: new LedgerHarness(config) }), cmds);
      }),
      { numRuns: 500 },
    );

    // A property that never reached debt, a refusal, an expiry or a replay would prove nothing.
    for (const [what, count] of Object.entries(seen)) {
      expect(count, `runs that exercised ${what}`).toBeGreaterThan(0);
    }
  });
});
