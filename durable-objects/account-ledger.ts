// One account's ledger. The object is the only authority on the balance: it loads the state from its
// SQLite, runs one pure rule and persists the result, all inside one synchronous transaction, so
// concurrent requests are serialized without locks and nothing is awaited between read and write.

import { DurableObject } from "cloudflare:workers";
import { MAIN_SHARD, shardDb, shardFor, shardNames } from "../workers/db/shards";
import type { Env } from "../workers/env";
import { entryId, randomId } from "./ids";
import { Draft, totals } from "./ledger/draft";
import { remainingOperations } from "./ledger/estimates";
import { canonicalTimeZone, rezoneSpend } from "./ledger/limits";
import { dueWork, noticeAt, type DueWork } from "./ledger/expiry";
import { AmountError } from "./ledger/money";
import { parseOverrunPercent } from "./ledger/overrun";
import * as payments from "./ledger/purchases";
import * as rules from "./ledger/rules";
import { applyClaims, fromLegacy, type ClaimsInput } from "./ledger/claims";
import { prepareRecharge, rechargeKey, rechargeSent, rechargeUnreachable, rezoneRecharge, type RechargePlan, type RechargeSend, type SavedCard } from "./ledger/recharge";
import type { AllowancePlan, LedgerState, Step } from "./ledger/types";
import { accountNotFound, errorReply, isKept, ledgerErrorReply, toWire, type Reply, type WireReply } from "./reply";
import { historyMessage, sendHistory } from "./store/outbox";
import type { HistoryMessage } from "../workers/queue/history-message";
import { migrate } from "./store/schema";
import { LedgerStore, type AccountRecord } from "./store/store";
import { accountView, iso } from "./views";

/**
 * History leaves for the Queue about this long after a change: a busy account's changes go as one
 * message. The Queue's consumer waits at most max_batch_timeout (wrangler.toml) for a batch to fill.
 */
export const FLUSH_DELAY_MS = 100;
/** Idempotency keys are kept at least this long (API.md: 7 days). */
export const REPLY_RETENTION_MS = 7 * 24 * 3600 * 1000;
const SHIP_ENTRIES = 1000;
const SHIP_EVENTS = 500;
/** The object's kv key for the name of the D1 binding that holds its history. */
const HISTORY_SHARD_KEY = "history_shard";
/** The kv key of the ship marks: how far shipping had got, minute by minute (see historySummary). */
const SHIP_MARKS_KEY = "ship_marks";
const SHIP_MARK_EVERY_MS = 60_000;
/** Reconciliation asks about history sent at least a few minutes ago; marks cover a little more. */
const SHIP_MARKS_WINDOW_MS = 15 * 60_000;
const SWEEP_SLICE = 5000;
const SWEEP_SLICE_PAUSE_MS = 1000;
const SWEEP_EVERY_MS = 24 * 3600 * 1000;
const MAX_RETRY_MS = 60_000;
/** When Stripe could not be reached, the auto-recharge try is sent again this much later. */
const RECHARGE_RETRY_MS = 30_000;

export interface Idempotency {
  key: string;
  /** A digest of the operation and its validated input: the same key with another request is a conflict. */
  fingerprint: string;
}

export interface AccountProfile {
  id: string;
  name?: string | null;
  email?: string | null;
  metadata?: Record<string, unknown> | null;
  timeZone?: string | null;
}

/** A debit or capture as the Worker sends it: already priced. */
export type ChargeInput = rules.Charge;

export interface HoldRequest extends ChargeInput {
  ttlSeconds: number;
}

export type GrantRequest = Omit<rules.GrantInput, "lotId">;

export interface PurchaseCredit {
  /** The Stripe checkout session (or payment) the credits were bought with; the lot's reference. */
  reference: string;
  credits: number;
  description: string | null;
  metadata: Record<string, unknown> | null;
  /** What `purchase.completed` tells the operator. */
  event: Record<string, unknown>;
}

export class AccountLedger extends DurableObject<Env> {
  private readonly store: LedgerStore;
  /** The clock the rules see; tests replace it to move time without waiting. */
  clock: () => number = () => Date.now();
  /** False until this instance has set the alarm once: a stored alarm time may predate a crash. */
  private alarmConfirmed = false;
  private shipFailures = 0;
  /** How far past its hold a capture may charge, in percent of the hold (a deployment setting). */
  private readonly overrunMaxPercent: number;
  /** How long purchased credits last (0: forever). */
  private readonly purchaseExpiryDays: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // A misconfigured cap fails every call loudly rather than charge past what the operator meant.
    this.overrunMaxPercent = parseOverrunPercent(env.CAPTURE_OVERRUN_MAX_PERCENT);
    this.purchaseExpiryDays = payments.parsePurchaseExpiryDays(env.PURCHASE_EXPIRY_DAYS);
    // An id that was never opened gets no tables: looking up an unknown account must not leave an
    // empty database behind for every id a caller tries.
    const opened = ctx.storage.kv.get("schema_version") !== undefined;
    // A migration may leave history to ship again: the alarm does that, so it must be set.
    if (opened && migrate(ctx.storage.sql, ctx.storage)) void ctx.blockConcurrencyWhile(() => ctx.storage.setAlarm(Date.now()));
    this.store = new LedgerStore(ctx.storage.sql, opened);
  }

  /**
   * One synchronous SQLite transaction. The store mirrors the rows it writes in memory; if the
   * transaction throws, SQLite rolls back and the mirror is dropped with it.
   */
  private transaction<T>(work: () => T): T {
    try {
      return this.ctx.storage.transactionSync(work);
    } catch (err) {
      this.store.forgetCache();
      // The schema itself may have been created by the transaction that rolled back (a first open).
      this.store.markOpened(this.ctx.storage.kv.get("schema_version") !== undefined);
      throw err;
    }
  }

  // ---- accounts -------------------------------------------------------------------------------

  async open(profile: AccountProfile): Promise<WireReply> {
    const now = this.clock();
    let created = false;
    const reply = this.transaction(() => {
      let a = this.store.account();
      if (!a) {
        migrate(this.ctx.storage.sql, this.ctx.storage);
        this.store.markOpened();
        this.store.createAccount(profile.id, now);
        // Chosen once, in the transaction that creates the account: its history never moves. A shard
        // that is not bound refuses the account now, rather than dead-letter all its history later.
        const shard = shardFor(profile.id, shardNames(this.env.HISTORY_SHARDS));
        shardDb(this.env, shard);
        this.ctx.storage.kv.put(HISTORY_SHARD_KEY, shard);
        a = this.store.account() as AccountRecord;
        created = true;
      }
      const timeZone = profile.timeZone === undefined ? a.timeZone : canonicalZone(profile.timeZone);
      // Moving the calendar must not forget today's spending, or a zone change would reset the limits.
      const spend = rezoneSpend(
        { dayKey: a.spendDayKey, day: a.spendDay, monthKey: a.spendMonthKey, month: a.spendMonth },
        now,
        a.timeZone,
        timeZone,
      );
      a = {
        ...a,
        autoRecharge: rezoneRecharge(a.autoRecharge, now, a.timeZone, timeZone),
        spendDayKey: spend.dayKey,
        spendDay: spend.day,
        spendMonthKey: spend.monthKey,
        spendMonth: spend.month,
        name: profile.name === undefined ? a.name : profile.name,
        email: profile.email === undefined ? a.email : profile.email,
        metadata: profile.metadata === undefined ? a.metadata : profile.metadata,
        timeZone,
        directoryVersion: a.directoryVersion + 1,
        updatedAt: now,
      };
      const state = this.store.loadState(a);
      return this.finish(a, null, null, now, { status: created ? 201 : 200, body: accountView(a, state, now) }, true);
    });
    await this.armAlarm(reply.alarm);
    return reply.wire;
  }

  /** The account as it stands now, with anything already expired written down first. */
  async view(): Promise<WireReply> {
    return this.mutate(null, undefined, (state, now) => rules.settle(state, now), (_v, a, state, now) => ({
      status: 200,
      body: accountView(a, state, now),
    }));
  }

  async setLimits(limits: { daily?: number | null; monthly?: number | null }): Promise<WireReply> {
    return this.configure((a) => ({
      ...a,
      dailyLimit: limits.daily === undefined ? a.dailyLimit : limits.daily,
      monthlyLimit: limits.monthly === undefined ? a.monthlyLimit : limits.monthly,
    }));
  }

  async setAlerts(alerts: { lowBalanceThreshold: number | null }): Promise<WireReply> {
    return this.configure((a) => ({ ...a, lowBalanceThreshold: alerts.lowBalanceThreshold }));
  }

  /**
   * Sets, changes or ends the recurring allowance (rules.setAllowance). Repeating the same request
   * changes nothing, so it needs no idempotency key.
   */
  async setAllowance(plan: AllowancePlan | null): Promise<WireReply> {
    return this.mutate(null, undefined, (state, now) => rules.setAllowance(state, plan, now), (_v, a, state, now) => ({
      status: 200,
      body: accountView(a, state, now),
    }));
  }

  /**
   * Sets or turns off auto-recharge (the Worker has checked the package). `card` (the one D1 keeps)
   * is taken when it was saved no earlier than the object's own (null forgets it); absent, the card
   * already saved stays.
   */
  async setAutoRecharge(input: { enabled: boolean; plan: RechargePlan; card?: SavedCard | null }): Promise<WireReply> {
    return this.mutate(null, undefined, (state, now) => rules.setAutoRecharge(state, input, now), (_v, a, state, now) => ({
      status: 200,
      body: accountView(a, state, now),
    }));
  }

  /**
   * A checkout saved a card (rules.saveCard). Repeating it changes nothing, so it needs no
   * idempotency key; `saved: false` when auto-recharge is not set or a later card is already known.
   */
  async saveCard(card: SavedCard): Promise<WireReply> {
    return this.mutate(null, undefined, (state, now) => rules.saveCard(state, card, now), (r) => ({ status: 200, body: { saved: r.saved } }));
  }

  /** Changes settings, then settles, so a new threshold or limit takes effect (and reports) at once. */
  private async configure(change: (a: AccountRecord) => AccountRecord): Promise<WireReply> {
    const now = this.clock();
    const out = this.transaction(() => {
      const before = this.store.account();
      if (!before) return { wire: toWire(accountNotFound(this.ctx.id.name ?? "")), alarm: null };
      const a = change(before);
      const step = rules.settle(this.store.loadState(a), now);
      const persisted = this.store.persist(a, step, now);
      const body = accountView(persisted.account, step.state, now);
      return this.finish(persisted.account, step, null, now, { status: 200, body }, true);
    });
    await this.armAlarm(out.alarm);
    return out.wire;
  }

  // ---- pricing --------------------------------------------------------------------------------

  async quote(input: { cost: number; operation: string | null }): Promise<WireReply> {
    return this.mutate(null, undefined, (state, now) => rules.settle(state, now), (_v, a, state, now) => {
      const t = totals(state, now);
      const refusal = rules.checkSpendable(new Draft(state, now), input.cost);
      const stats = input.operation ? this.store.operationAverage(input.operation) : null;
      const average = stats && stats.count > 0 ? stats.credits / stats.count : null;
      return {
        status: 200,
        body: {
          cost: input.cost,
          balance: t.balance,
          available: t.available,
          affordable: refusal === null,
          reason: refusal?.type ?? null,
          available_after: t.available - input.cost,
          remaining_operations: remainingOperations(t.available, stats, input.cost),
          average_cost: average === null ? null : Math.round(average * 100) / 100,
          debt: t.debt,
          account_id: a.id,
        },
      };
    });
  }

  // ---- spending -------------------------------------------------------------------------------

  async debit(idem: Idempotency, charge: ChargeInput): Promise<WireReply> {
    return this.mutate(idem, undefined, (state, now) => rules.debit(state, charge, now), (t, a, _s, _now, seqs) => ({
      status: 201,
      body: { entry_id: entryId(a.id, seqs.at(-1) as number), cost: charge.amount, balance: t.balance, available: t.available },
    }));
  }

  async hold(idem: Idempotency, input: HoldRequest): Promise<WireReply> {
    const holdId = randomId("hold");
    return this.mutate(
      idem,
      undefined,
      (state, now) => rules.placeHold(state, { ...input, holdId, ttlMs: input.ttlSeconds * 1000 }, now),
      (r) => ({
        status: 201,
        body: { hold_id: r.hold.id, amount: r.hold.amount, expires_at: iso(r.hold.expiresAt), balance: r.balance, available: r.available },
      }),
    );
  }

  async capture(idem: Idempotency, holdId: string, charge: ChargeInput): Promise<WireReply> {
    return this.mutate(idem, holdId, (state, now) => rules.captureHold(state, holdId, charge, now, this.overrunMaxPercent), (r, a, _s, _n, seqs) => ({
      status: 200,
      body: {
        entry_id: entryId(a.id, seqs.at(-1) as number),
        hold_id: holdId,
        cost: r.cost,
        uncharged: r.uncharged,
        released: r.released,
        overrun: r.overrun,
        balance: r.balance,
        available: r.available,
        debt: r.debt,
      },
    }));
  }

  async release(idem: Idempotency, holdId: string): Promise<WireReply> {
    return this.mutate(idem, holdId, (state, now) => rules.releaseHold(state, holdId, now), (r) => ({
      status: 200,
      body: { hold_id: holdId, released: r.released, balance: r.balance, available: r.available },
    }));
  }

  async grant(idem: Idempotency, input: GrantRequest): Promise<WireReply> {
    const lotId = randomId("lot");
    return this.mutate(idem, undefined, (state, now) => rules.grant(state, { ...input, lotId }, now), (r, a, _s, _n, seqs) => ({
      status: 201,
      body: {
        lot_id: r.lotId,
        entry_id: entryId(a.id, seqs.at(-1) as number),
        amount: input.amount,
        debt_paid: r.debtPaid,
        balance: r.balance,
        available: r.available,
      },
    }));
  }

  // ---- payments: purchases, refunds, disputes, blocks -------------------------------------------------

  /**
   * A paid purchase, credited once under its key (the webhook derives it from the checkout session),
   * and once ever: a payment whose key has long been forgotten (a Stripe event applied again weeks
   * later) finds its lot and credits nothing.
   */
  async creditPurchase(idem: Idempotency, input: PurchaseCredit): Promise<WireReply> {
    // A key still kept replays its first answer (mutate); only a forgotten one needs the lot's word.
    const credited = this.store.account() && !this.store.storedReply(idem.key) ? this.store.purchaseLot(input.reference) : null;
    if (credited !== null) return toWire({ status: 200, body: { lot_id: credited, credits: input.credits, already_credited: true } });
    const lotId = randomId("lot");
    return this.mutate(
      idem,
      undefined,
      (state, now) =>
        payments.purchase(
          state,
          {
            lotId,
            amount: input.credits,
            expiresAt: payments.purchaseExpiry(now, this.purchaseExpiryDays),
            priority: 0,
            reference: input.reference,
            description: input.description,
            metadata: input.metadata,
            event: input.event,
          },
          now,
        ),
      (r, a, _s, _n, seqs) => ({
        status: 201,
        body: {
          lot_id: r.lotId,
          entry_id: entryId(a.id, seqs.at(-1) as number),
          credits: input.credits,
          debt_paid: r.debtPaid,
          balance: r.balance,
          available: r.available,
        },
      }),
    );
  }

  /**
   * Refunds and disputes of one purchase (ledger/claims.ts): `facts` is what the caller knows of them
   * now, merged into what this object was told before, and the account is moved to what the merged
   * facts say. Any order or repetition of calls ends the same, so no idempotency key is needed.
   */
  async applyClaims(input: Omit<ClaimsInput, "current" | "restoreLot">): Promise<WireReply> {
    const lotId = randomId("lot");
    return this.mutate(
      null,
      undefined,
      (state, now) => {
        const current =
          this.store.purchaseClaims(input.reference) ??
          fromLegacy(this.store.legacyClawbacks(input.reference, Object.keys(input.facts.disputes)), state.blocks, input.facts, input.credits, input.paid);
        const restoreLot = { lotId, expiresAt: payments.purchaseExpiry(now, this.purchaseExpiryDays), priority: 0 };
        const step = applyClaims(state, { ...input, current, restoreLot }, now);
        if (step.outcome.ok) this.store.savePurchaseClaims(input.reference, step.outcome.value.claims);
        return step;
      },
      (r) => ({
        status: 200,
        body: {
          credits_clawed_back: r.claims.clawed,
          version: r.claims.version,
          status: r.status,
          amount_refunded: r.refunded,
          moved: r.moved,
          debt_added: r.debtAdded,
          balance: r.balance,
          available: r.available,
          debt: r.debt,
        },
      }),
    );
  }

  /**
   * An auto-recharge charge succeeded (the webhook, keyed by its PaymentIntent): its credits, once.
   * Charged ⇒ credited: this holds even if the attempt is no longer the one in flight. A charge this
   * object never sent is refused (409 unknown_charge).
   */
  async creditRecharge(idem: Idempotency, input: Omit<payments.RechargeSuccess, "lotId" | "expiresAt">): Promise<WireReply> {
    const lotId = randomId("lot");
    return this.mutate(
      idem,
      undefined,
      (state, now) => payments.rechargeSucceeded(state, { ...input, lotId, expiresAt: payments.purchaseExpiry(now, this.purchaseExpiryDays) }, now),
      (r, a, _s, _n, seqs) => ({
        status: 201,
        body: { lot_id: lotId, entry_id: entryId(a.id, seqs.at(-1) as number), credits: input.credits, debt_paid: r.debtPaid, balance: r.balance, available: r.available },
      }),
    );
  }

  /** An auto-recharge try failed (the alarm's own answer from Stripe, or the webhook): retried or disabled. */
  async failRecharge(input: payments.RechargeFailure): Promise<WireReply> {
    return this.mutate(null, undefined, (state, now) => payments.rechargeFailed(state, input, now), (r) => ({ status: 200, body: { disabled: r.disabled, retry_at: iso(r.retryAt) } }));
  }

  /** An operator stops or allows spending (allowing lifts every block, a dispute's too); the account body shows it. */
  async setBlock(input: payments.AdminBlockInput): Promise<WireReply> {
    return this.mutate(null, undefined, (state, now) => payments.setAdminBlock(state, input, now), (_v, a, state, now) => ({
      status: 200,
      body: accountView(a, state, now),
    }));
  }

  /** The operation a hold was placed for, so a capture by quantities can be priced. */
  async holdOperation(holdId: string): Promise<WireReply> {
    const hold = this.store.account() ? this.store.hold(holdId) : null;
    if (!hold) return toWire(errorReply(404, "hold_not_found", `No hold ${holdId} on this account.`));
    return toWire({ status: 200, body: { hold_id: hold.id, operation: hold.operation, status: hold.status } });
  }

  // ---- the one way a rule runs ------------------------------------------------------------------

  /**
   * Runs `rule` on the loaded state inside one synchronous transaction: load, decide, persist,
   * remember the answer under the key. Keys are almost always new, so the key is not looked up first:
   * storing the answer finds out, and if the key was taken the whole transaction rolls back and the
   * first answer is replayed instead. Only the alarm is set afterwards; it is idempotent and may lag.
   */
  private async mutate<R>(
    idem: Idempotency | null,
    holdId: string | undefined,
    rule: (state: LedgerState, now: number) => Step<R>,
    answer: (value: R, account: AccountRecord, state: LedgerState, now: number, seqs: number[]) => Reply,
  ): Promise<WireReply> {
    const now = this.clock();
    let out: { wire: WireReply; alarm: number | null };
    try {
      out = this.transaction(() => {
        const account = this.store.account();
        if (!account) return { wire: toWire(accountNotFound(this.ctx.id.name ?? "")), alarm: null };
        const step = rule(this.store.loadState(account, holdId), now);
        const { account: next, seqs } = this.store.persist(account, step, now);
        const reply = step.outcome.ok
          ? answer(step.outcome.value, next, step.state, now, seqs)
          : ledgerErrorReply(step.outcome.error);
        return this.finish(next, step, idem, now, reply, changesRow(account, next));
      });
    } catch (err) {
      // Whatever threw, the transaction rolled back: nothing of this request was written.
      if (idem && (err instanceof KeyAlreadyUsed || err instanceof AmountError)) {
        const prior = this.store.storedReply(idem.key);
        if (prior) return prior.fingerprint === idem.fingerprint ? prior.wire : toWire(keyConflict());
      }
      if (err instanceof AmountError) return toWire(errorReply(400, "amount_too_large", err.message));
      throw err;
    }
    await this.armAlarm(out.alarm);
    return out.wire;
  }

  /** Keeps the answer, decides whether the alarm must come sooner, saves the account row. */
  private finish(
    a: AccountRecord,
    step: Step<unknown> | null,
    idem: Idempotency | null,
    now: number,
    reply: Reply,
    mustSave: boolean,
    extraDue: number | null = null,
  ): { wire: WireReply; alarm: number | null } {
    const wire = toWire(reply);
    if (idem) {
      // A taken key aborts the transaction (see mutate). An answer that is not kept must not shadow a
      // kept one either, so that path looks the key up.
      const taken = isKept(reply.status) ? !this.store.storeReply(idem.key, idem.fingerprint, wire, now) : this.store.storedReply(idem.key) !== null;
      if (taken) throw new KeyAlreadyUsed();
    }
    const due: number[] = [];
    if (mustSave || (step && (step.entries.length || step.events.length))) due.push(now + FLUSH_DELAY_MS);
    for (const hold of step?.holds ?? []) if (hold.status === "active") due.push(hold.expiresAt);
    for (const lot of step?.lots ?? []) {
      if (lot.remaining <= 0 || lot.expiresAt === null) continue;
      due.push(lot.expiresAt);
      const notice = noticeAt(lot);
      if (notice !== null) due.push(notice);
    }
    const periodEnd = step?.state.allowance?.periodEnd;
    if (periodEnd !== undefined) due.push(periodEnd);
    if (extraDue !== null) due.push(extraDue);
    if (idem && isKept(reply.status)) due.push(now + REPLY_RETENTION_MS);
    let alarm: number | null = null;
    let next = a;
    if (due.length) {
      const wanted = Math.min(...due, ...(a.alarmAt !== null && a.alarmAt > now ? [a.alarmAt] : []));
      if (!this.alarmConfirmed || a.alarmAt === null || wanted < a.alarmAt || a.alarmAt <= now - 60_000) {
        alarm = wanted;
        next = { ...a, alarmAt: wanted };
      }
    }
    if (mustSave || next !== a) this.store.saveAccount(next);
    else this.store.keepInMemory(next);
    return { wire, alarm };
  }

  private async armAlarm(at: number | null): Promise<void> {
    if (at === null) return;
    await this.ctx.storage.setAlarm(at);
    this.alarmConfirmed = true;
  }

  // ---- the alarm: expiry, history shipping, pruning -----------------------------------------------

  override async alarm(): Promise<void> {
    const now = this.clock();
    let retryAt: number | null = null;
    let shipped: Shipped | null = null;
    let rechargeRetryAt: number | null = null;
    try {
      if (!this.store.account()) return;
      await this.mutate(null, undefined, (state, t) => rules.settle(state, t), () => ({ status: 200, body: {} }));
      // Forgetting old keys is the object's own business, done before shipping so that a long Queue
      // outage cannot stop it.
      this.sweepReplies(now);
      shipped = await this.ship();
      this.shipFailures = 0;
    } catch (err) {
      // The Queue refused or timed out: the outbox keeps every entry; try again with a growing pause.
      this.shipFailures++;
      retryAt = now + Math.min(MAX_RETRY_MS, 1000 * 2 ** Math.min(this.shipFailures - 1, 6));
      console.error(`ledger ${this.ctx.id.name ?? this.ctx.id}: shipping history failed (attempt ${this.shipFailures})`, err);
    }
    try {
      // A Queue outage does not hold up a top-up, nor the reverse.
      if (this.store.account()) await this.chargeRecharge();
    } catch (err) {
      // Sent but not recorded (or not sent): the same try goes again under the same key, one charge.
      rechargeRetryAt = now + RECHARGE_RETRY_MS;
      console.error(`ledger ${this.ctx.id.name ?? this.ctx.id}: auto-recharge try not recorded; sending it again`, err);
    } finally {
      await this.rearm(now, retryAt, shipped, rechargeRetryAt);
    }
  }

  /**
   * Sends the auto-recharge try that is due, if it may still go (ledger/recharge.ts prepareRecharge:
   * decided from the account as it is now, in a transaction of its own just before the call). It goes
   * as an off-session PaymentIntent under the try's own idempotency key, so a crash after Stripe
   * accepted it and before this object recorded it sends the same request again and Stripe answers
   * with the same PaymentIntent, never a second charge. Credits come only from the webhook.
   */
  private async chargeRecharge(): Promise<void> {
    let due: RechargeSend | null = null;
    const ref = randomId("arc");
    await this.mutate(null, undefined, (state, t) => prepareRecharge(state, t, ref), (send) => {
      due = send;
      return { status: 200, body: {} };
    });
    const a = this.store.account();
    if (!a || due === null) return;
    const { attempt, card } = due as RechargeSend;
    const { sendCharge } = await import("../workers/stripe/charge");
    const answer = await sendCharge(this.env, {
      accountId: a.id,
      amount: attempt.terms.amount,
      currency: attempt.terms.currency,
      customer: card.customer,
      paymentMethod: card.paymentMethod,
      packageId: attempt.terms.packageId,
      credits: attempt.terms.credits,
      ref: attempt.terms.ref,
      attempt: attempt.number,
      tries: attempt.tries,
      idempotencyKey: rechargeKey(a.id, attempt),
    });
    const record = (change: (state: LedgerState, t: number) => LedgerState) =>
      this.mutate(null, undefined, (state, t) => new Draft(change(state, t), t).done(null), () => ({ status: 200, body: {} }));
    if (answer.kind === "unreachable") {
      console.error(`ledger ${a.id}: auto-recharge try ${attempt.number}.${attempt.tries} not sent: ${answer.reason}`);
      await record((state, t) => rechargeUnreachable(state, attempt.number, attempt.tries, t));
      return;
    }
    if (answer.kind === "declined" || answer.kind === "rejected") {
      const failure = {
        attempt: attempt.number,
        tries: attempt.tries,
        ref: attempt.terms.ref,
        code: answer.code,
        needsAction: answer.kind === "declined" && answer.needsAction,
        permanent: answer.kind === "rejected",
      };
      await this.mutate(null, undefined, (state, t) => payments.rechargeFailed(state, failure, t), () => ({ status: 200, body: {} }));
      return;
    }
    await record((state) => rechargeSent(state, attempt.number, attempt.tries));
    // The local stand-in's webhook calls this object back: it runs after this alarm, not inside it.
    if (answer.afterRecorded) this.ctx.waitUntil(answer.afterRecorded().catch((err) => console.error(`ledger ${a.id}: local auto-recharge webhook`, err)));
  }

  private replySweep(): { cursor: string; sweptAt: number } {
    return this.ctx.storage.kv.get<{ cursor: string; sweptAt: number }>("reply_sweep") ?? { cursor: "", sweptAt: 0 };
  }

  /**
   * Forgets idempotency keys older than the retention, one slice of the key space per alarm, a full
   * pass at most daily: keys are kept at least REPLY_RETENTION_MS and at most a day longer.
   */
  private sweepReplies(now: number): void {
    const sweep = this.replySweep();
    if (sweep.cursor === "" && now - sweep.sweptAt < SWEEP_EVERY_MS) return;
    this.transaction(() => {
      const next = this.store.sweepReplies(sweep.cursor, now - REPLY_RETENTION_MS, SWEEP_SLICE);
      this.ctx.storage.kv.put("reply_sweep", next === null ? { cursor: "", sweptAt: now } : { cursor: next, sweptAt: sweep.sweptAt });
    });
  }

  private shipMarks(): ShipMark[] {
    return this.ctx.storage.kv.get<ShipMark[]>(SHIP_MARKS_KEY) ?? [];
  }

  /** Notes how far shipping had got at `now`, one mark per minute, for historySummary(). */
  private markShipped(a: AccountRecord, now: number): void {
    const marks = this.shipMarks();
    const mark = { at: now, seq: a.shippedSeq, eventSeq: a.shippedEventSeq };
    const last = marks.at(-1);
    if (last && Math.floor(last.at / SHIP_MARK_EVERY_MS) === Math.floor(now / SHIP_MARK_EVERY_MS)) marks[marks.length - 1] = mark;
    else marks.push(mark);
    // Marks older than the window are dropped, but the newest of them is kept: it says what is settled.
    const old = marks.filter((m) => m.at <= now - SHIP_MARKS_WINDOW_MS);
    const kept = [...old.slice(-1), ...marks.filter((m) => m.at > now - SHIP_MARKS_WINDOW_MS)];
    this.ctx.storage.kv.put(SHIP_MARKS_KEY, kept);
  }

  /** The D1 binding of this account's history; accounts older than sharding keep theirs in the main one. */
  private historyShard(): string {
    return this.ctx.storage.kv.get<string>(HISTORY_SHARD_KEY) ?? MAIN_SHARD;
  }

  /**
   * Sends unshipped entries, events and the directory row to the history Queue, and says how far the
   * cursors may move now that the Queue holds them (durable once send() resolves; its consumer writes
   * D1). rearm() moves them in the same transaction that records the next alarm: one commit less per
   * alarm, which is one per debit on an account that debits rarely.
   */
  private async ship(): Promise<Shipped | null> {
    const a = this.store.account();
    if (!a) return null;
    const entries = this.store.journalAfter(a.shippedSeq, SHIP_ENTRIES);
    const events = this.store.eventsAfter(a.shippedEventSeq, SHIP_EVENTS);
    // The directory carries the balance: it is due whenever entries ship, or the profile changed.
    const profileDue = a.directoryVersion > a.shippedDirectoryVersion;
    if (!entries.length && !events.length && !profileDue) return null;
    const state = this.store.loadState(a);
    const now = this.clock();
    const message = historyMessage(a, this.historyShard(), entries, events, {
      balance: totals(state, now).balance,
      due: dueWork(state),
      lastSeq: entries.at(-1)?.seq ?? a.shippedSeq,
      updatedAt: now,
    });
    await sendHistory(this.env.HISTORY, message);
    return {
      seq: entries.at(-1)?.seq ?? 0,
      eventSeq: events.at(-1)?.seq ?? 0,
      directoryVersion: a.directoryVersion,
      more: entries.length === SHIP_ENTRIES || events.length === SHIP_EVENTS,
    };
  }

  /**
   * Moves the cursors past what was shipped and sets the next alarm from what is then pending,
   * whatever happened in this run, in one transaction.
   */
  private async rearm(now: number, retryAt: number | null, shipped: Shipped | null, rechargeRetryAt: number | null = null): Promise<void> {
    const at = this.transaction(() => {
      const fresh = this.store.account();
      if (!fresh) return null;
      // Requests may have run while the message was being sent: only ever move a cursor forward.
      const a: AccountRecord = shipped
        ? {
            ...fresh,
            shippedSeq: Math.max(fresh.shippedSeq, shipped.seq),
            shippedEventSeq: Math.max(fresh.shippedEventSeq, shipped.eventSeq),
            shippedDirectoryVersion: Math.max(fresh.shippedDirectoryVersion, shipped.directoryVersion),
          }
        : fresh;
      if (shipped) this.markShipped(a, now);
      const due: number[] = [];
      if (retryAt !== null) due.push(retryAt);
      else {
        if (shipped?.more) due.push(now);
        const unshipped =
          this.store.lastSeq() > a.shippedSeq ||
          this.store.lastEventSeq() > a.shippedEventSeq ||
          a.directoryVersion > a.shippedDirectoryVersion;
        if (unshipped) due.push(now + FLUSH_DELAY_MS);
      }
      const work = dueWork(this.store.loadState(a));
      for (const at of [work.nextExpiryAt, work.nextNoticeAt, work.nextHoldExpiryAt, work.nextAllowanceAt]) if (at !== null) due.push(at);
      // An auto-recharge try waiting for its time (a retry, a held-back month). One due already was
      // handled by chargeRecharge, unless a request raised it since: a moment later, never a spin.
      const recharge = rechargeRetryAt ?? (work.nextRechargeAt === null ? null : Math.max(work.nextRechargeAt, now + FLUSH_DELAY_MS));
      if (recharge !== null) due.push(recharge);
      if (this.store.hasReplies()) {
        const sweep = this.replySweep();
        due.push(sweep.cursor !== "" ? now + SWEEP_SLICE_PAUSE_MS : sweep.sweptAt + SWEEP_EVERY_MS);
      }
      const next = due.length ? Math.max(now, Math.min(...due)) : null;
      this.store.saveAccount({ ...a, alarmAt: next });
      return next;
    });
    if (at !== null) await this.armAlarm(at);
  }

  // ---- for the cron sweep and reconciliation (workers/cron/) ---------------------------------------

  /**
   * Settles whatever has fallen due (expiries, allowance periods, notices) and says when work next
   * falls due, for the sweep's index. The same settling as any request or the alarm: whichever runs
   * first writes it, the others find nothing left. Also re-arms the alarm, should it have been lost.
   * null: no account here.
   */
  async tick(): Promise<TickReport | null> {
    const now = this.clock();
    const out = this.transaction(() => {
      const before = this.store.account();
      if (!before) return null;
      const step = rules.settle(this.store.loadState(before), now);
      const persisted = this.store.persist(before, step, now);
      const due = dueWork(step.state);
      const { alarm } = this.finish(persisted.account, step, null, now, { status: 200, body: {} }, changesRow(before, persisted.account), due.dueAt);
      return { alarm, report: { at: now, settledEntries: step.entries.length, settledEvents: step.events.length, ...due } };
    });
    if (!out) return null;
    await this.armAlarm(out.alarm);
    return out.report;
  }

  /**
   * How much of its history the object had handed to the Queue by `settledBefore`, for
   * reconciliation: what was sent later may still be on its way to D1 and is not drift. Journal and
   * event seqs run 1, 2, 3 … without gaps, so D1 should hold exactly `entrySeq` entries summing to
   * `entrySum`.
   */
  async historySummary(settledBefore: number): Promise<HistorySummary | null> {
    const a = this.store.account();
    if (!a) return null;
    const mark = settledMark(this.shipMarks(), a, settledBefore);
    return { shard: this.historyShard(), entrySeq: mark.seq, entrySum: this.store.journalSum(mark.seq), eventSeq: mark.eventSeq };
  }

  /** The given ranges of entries and events (inclusive seqs) as one history message, for re-shipping. */
  async historyRows(ranges: { entries: [number, number][]; events: [number, number][] }): Promise<HistoryMessage | null> {
    const a = this.store.account();
    if (!a) return null;
    const entries = ranges.entries.flatMap(([from, to]) => this.store.journalAfter(from - 1, to - from + 1));
    const events = ranges.events.flatMap(([from, to]) => this.store.eventsAfter(from - 1, to - from + 1));
    return historyMessage(a, this.historyShard(), entries, events, null);
  }

  // ---- for tests ------------------------------------------------------------------------------------

  /** Σ journal amounts, for checking `balance = Σ entries` from outside. */
  async audit(): Promise<{ journalSum: number; balance: number; shippedSeq: number; lastSeq: number } | null> {
    const a = this.store.account();
    if (!a) return null;
    const now = this.clock();
    return {
      journalSum: this.store.journalSum(),
      balance: totals(this.store.loadState(a), now).balance,
      shippedSeq: a.shippedSeq,
      lastSeq: this.store.lastSeq(),
    };
  }
}

export interface TickReport extends DueWork {
  /** The object's clock when it answered: the index keeps the newest answer. */
  at: number;
  /** Entries and events the tick wrote (0 when the alarm or a request had settled everything). */
  settledEntries: number;
  settledEvents: number;
}

export interface HistorySummary {
  /** The D1 binding holding this account's history. */
  shard: string;
  /** D1 should hold entries 1 … entrySeq, summing to entrySum, and events 1 … eventSeq. */
  entrySeq: number;
  entrySum: number;
  eventSeq: number;
}

interface ShipMark {
  at: number;
  seq: number;
  eventSeq: number;
}

/**
 * How far shipping had got by `before`: the newest mark at or before it. An account that shipped
 * before marks were kept and has not changed since counts as wholly shipped.
 */
function settledMark(marks: ShipMark[], a: AccountRecord, before: number): { seq: number; eventSeq: number } {
  for (let i = marks.length - 1; i >= 0; i--) if ((marks[i] as ShipMark).at <= before) return marks[i] as ShipMark;
  if (marks.length === 0 && a.updatedAt <= before) return { seq: a.shippedSeq, eventSeq: a.shippedEventSeq };
  return { seq: 0, eventSeq: 0 };
}

/** How far one alarm's message reached, for rearm() to move the cursors. */
interface Shipped {
  seq: number;
  eventSeq: number;
  directoryVersion: number;
  /** The outbox held more than one message's worth: run again at once. */
  more: boolean;
}

/** Zones are stored by their canonical name, so the calendar, the cache and the account see one spelling. */
function canonicalZone(timeZone: string | null): string | null {
  return timeZone === null ? null : (canonicalTimeZone(timeZone) ?? timeZone);
}

/** Thrown inside a transaction to roll it back when its Idempotency-Key already has an answer. */
class KeyAlreadyUsed extends Error {}

const keyConflict = () => errorReply(409, "idempotency_conflict", "This Idempotency-Key was already used with a different request.");

/** Whether a rule changed what the account row must keep durably (spend counters are replayable). */
function changesRow(before: AccountRecord, after: AccountRecord): boolean {
  return (
    after.debt !== before.debt ||
    after.isLow !== before.isLow ||
    after.limitNotice !== before.limitNotice ||
    after.blocks !== before.blocks ||
    after.allowance !== before.allowance ||
    after.autoRecharge !== before.autoRecharge
  );
}
