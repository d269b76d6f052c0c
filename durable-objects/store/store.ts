// Reads the ledger state out of the object's SQLite and writes back exactly what a rule changed.
// Every method is synchronous: the object calls them inside one transactionSync.

import { addSpend, currentSpend } from "../ledger/limits";
import type { WireReply } from "../reply";
import { dueWork } from "../ledger/expiry";
import type { LegacyClawbacks, PurchaseClaims } from "../ledger/claims";
import type { AutoRecharge } from "../ledger/recharge";
import type { Allowance, Block, EntryDraft, EventDraft, Hold, HoldStatus, LedgerState, Lot, LotSource, Spend, Step } from "../ledger/types";

export interface AccountRecord {
  id: string;
  name: string | null;
  email: string | null;
  metadata: Record<string, unknown> | null;
  timeZone: string | null;
  debt: number;
  dailyLimit: number | null;
  monthlyLimit: number | null;
  lowBalanceThreshold: number | null;
  isLow: boolean;
  limitNotice: string | null;
  blocks: Record<string, Block>;
  allowance: Allowance | null;
  autoRecharge: AutoRecharge | null;
  spendDayKey: string;
  spendDay: number;
  spendMonthKey: string;
  spendMonth: number;
  /** The journal seq the spend counters include; later debits and captures are replayed on load. */
  spendSeq: number;
  shippedSeq: number;
  shippedEventSeq: number;
  directoryVersion: number;
  shippedDirectoryVersion: number;
  alarmAt: number | null;
  createdAt: number;
  updatedAt: number;
}

type Row = Record<string, SqlStorageValue>;

const json = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));
const parse = <T>(value: SqlStorageValue): T | null => (typeof value === "string" ? (JSON.parse(value) as T) : null);
const num = (value: SqlStorageValue): number => value as number;
const numOrNull = (value: SqlStorageValue): number | null => (value === null ? null : (value as number));
const strOrNull = (value: SqlStorageValue): string | null => (value === null ? null : (value as string));

function toAccount(r: Row): AccountRecord {
  return {
    id: r.id as string,
    name: strOrNull(r.name!),
    email: strOrNull(r.email!),
    metadata: parse(r.metadata!),
    timeZone: strOrNull(r.time_zone!),
    debt: num(r.debt!),
    dailyLimit: numOrNull(r.daily_limit!),
    monthlyLimit: numOrNull(r.monthly_limit!),
    lowBalanceThreshold: numOrNull(r.low_balance_threshold!),
    isLow: r.is_low === 1,
    limitNotice: strOrNull(r.limit_notice!),
    blocks: parse<Record<string, Block>>(r.blocks ?? null) ?? {},
    allowance: parse<Allowance>(r.allowance ?? null),
    autoRecharge: parse<AutoRecharge>(r.auto_recharge ?? null),
    spendDayKey: r.spend_day_key as string,
    spendDay: num(r.spend_day!),
    spendMonthKey: r.spend_month_key as string,
    spendMonth: num(r.spend_month!),
    spendSeq: num(r.spend_seq!),
    shippedSeq: num(r.shipped_seq!),
    shippedEventSeq: num(r.shipped_event_seq!),
    directoryVersion: num(r.directory_version!),
    shippedDirectoryVersion: num(r.shipped_directory_version!),
    alarmAt: numOrNull(r.alarm_at!),
    createdAt: num(r.created_at!),
    updatedAt: num(r.updated_at!),
  };
}

function toLot(r: Row): Lot {
  return {
    id: r.id as string,
    source: r.source as LotSource,
    amount: num(r.amount!),
    remaining: num(r.remaining!),
    expiresAt: numOrNull(r.expires_at!),
    priority: num(r.priority!),
    createdAt: num(r.created_at!),
    reference: strOrNull(r.reference!),
    expiringNotified: r.expiring_notified === 1,
  };
}

function toHold(r: Row): Hold {
  return {
    id: r.id as string,
    amount: num(r.amount!),
    status: r.status as HoldStatus,
    operation: strOrNull(r.operation!),
    createdAt: num(r.created_at!),
    expiresAt: num(r.expires_at!),
  };
}

export interface JournalRow extends EntryDraft {
  seq: number;
}

export interface EventRow extends EventDraft {
  seq: number;
}

export interface StoredReply {
  fingerprint: string;
  wire: WireReply;
}

/**
 * The rows every rule needs (the account, lots with credits, active holds), mirrored in memory so a
 * debit reads nothing but its idempotency key. Bounded by what is live, never by history. Only this
 * store writes these tables, and it updates the mirror as it writes; the object drops the mirror when a
 * transaction throws (SQLite then rolls back), so the mirror never differs from what is committed.
 */
interface Mirror {
  account: AccountRecord;
  lots: Map<string, Lot>;
  holds: Map<string, Hold>;
  /** The last journal seq, so an entry's seq is known without asking SQLite for it back. */
  lastSeq: number;
  /** The last entry's created_at: entries are stamped no earlier, so seq order is time order. */
  lastCreatedAt: number;
}

export class LedgerStore {
  private mirror: Mirror | null = null;

  /** `opened`: whether this object's tables exist (an account was created here). */
  constructor(
    private readonly sql: SqlStorage,
    private opened: boolean,
  ) {}

  /** Called once the tables exist, or again after a rollback with whether they still do. */
  markOpened(opened = true): void {
    this.opened = opened;
  }

  forgetCache(): void {
    this.mirror = null;
  }

  private load(): Mirror | null {
    if (this.mirror) return this.mirror;
    if (!this.opened) return null;
    const row = this.sql.exec("SELECT * FROM account WHERE singleton = 1").toArray()[0];
    if (!row) return null;
    const lots = this.sql.exec("SELECT * FROM lots WHERE remaining > 0").toArray().map(toLot);
    const holds = this.sql.exec("SELECT * FROM holds WHERE status = 'active'").toArray().map(toHold);
    const last = this.sql.exec("SELECT seq, created_at FROM journal ORDER BY seq DESC LIMIT 1").toArray()[0];
    this.mirror = {
      account: this.withReplayedSpend(toAccount(row)),
      lots: new Map(lots.map((l) => [l.id, l])),
      holds: new Map(holds.map((h) => [h.id, h])),
      lastSeq: last ? num(last.seq!) : 0,
      lastCreatedAt: last ? num(last.created_at!) : 0,
    };
    return this.mirror;
  }

  account(): AccountRecord | null {
    return this.load()?.account ?? null;
  }

  /** Counts into the spend counters what the journal spent after their checkpoint. */
  private withReplayedSpend(a: AccountRecord): AccountRecord {
    const rows = this.sql
      .exec("SELECT seq, amount, created_at FROM journal WHERE seq > ? AND kind IN ('debit', 'capture') ORDER BY seq", a.spendSeq)
      .toArray();
    let spend: Spend = { dayKey: a.spendDayKey, day: a.spendDay, monthKey: a.spendMonthKey, month: a.spendMonth };
    for (const r of rows) spend = addSpend(currentSpend(spend, num(r.created_at!), a.timeZone), -num(r.amount!));
    const last = rows.at(-1);
    return {
      ...a,
      spendDayKey: spend.dayKey,
      spendDay: spend.day,
      spendMonthKey: spend.monthKey,
      spendMonth: spend.month,
      spendSeq: last ? num(last.seq!) : a.spendSeq,
    };
  }

  /**
   * Updates the mirror only: for changes the journal already makes durable (the spend counters),
   * so the row need not be rewritten; the next saveAccount checkpoints them.
   */
  keepInMemory(a: AccountRecord): void {
    if (this.mirror) this.mirror.account = a;
    else this.saveAccount(a);
  }

  createAccount(id: string, now: number): void {
    this.mirror = null;
    // `tag` is a column of the first schema, no longer used: public ids derive from the account id.
    this.sql.exec("INSERT INTO account (singleton, id, tag, created_at, updated_at) VALUES (1, ?, '', ?, ?)", id, now, now);
  }

  /** Saves the account's own fields (profile, settings, outbox cursors); the directory copy follows. */
  saveAccount(a: AccountRecord): void {
    this.sql.exec(
      `UPDATE account SET name = ?, email = ?, metadata = ?, time_zone = ?, debt = ?, daily_limit = ?,
        monthly_limit = ?, low_balance_threshold = ?, is_low = ?, limit_notice = ?, blocks = ?, allowance = ?, auto_recharge = ?, spend_day_key = ?,
        spend_day = ?, spend_month_key = ?, spend_month = ?, spend_seq = ?, shipped_seq = ?, shipped_event_seq = ?,
        directory_version = ?, shipped_directory_version = ?, alarm_at = ?, updated_at = ?
       WHERE singleton = 1`,
      a.name,
      a.email,
      json(a.metadata),
      a.timeZone,
      a.debt,
      a.dailyLimit,
      a.monthlyLimit,
      a.lowBalanceThreshold,
      a.isLow ? 1 : 0,
      a.limitNotice,
      Object.keys(a.blocks).length ? JSON.stringify(a.blocks) : null,
      json(a.allowance),
      json(a.autoRecharge),
      a.spendDayKey,
      a.spendDay,
      a.spendMonthKey,
      a.spendMonth,
      a.spendSeq,
      a.shippedSeq,
      a.shippedEventSeq,
      a.directoryVersion,
      a.shippedDirectoryVersion,
      a.alarmAt,
      a.updatedAt,
    );
    if (this.mirror) this.mirror.account = a;
  }

  /** The state a rule needs. `holdId` adds that hold whatever its status, so a rule can say why it is not active. */
  loadState(a: AccountRecord, holdId?: string): LedgerState {
    const mirror = this.load();
    const lots = mirror ? [...mirror.lots.values()] : [];
    const holds = mirror ? [...mirror.holds.values()] : [];
    if (holdId !== undefined && !mirror?.holds.has(holdId)) {
      const row = this.sql.exec("SELECT * FROM holds WHERE id = ?", holdId).toArray()[0];
      if (row) holds.push(toHold(row));
    }
    return {
      debt: a.debt,
      lots,
      holds,
      settings: {
        limits: { daily: a.dailyLimit, monthly: a.monthlyLimit },
        timeZone: a.timeZone,
        lowBalanceThreshold: a.lowBalanceThreshold,
      },
      spend: { dayKey: a.spendDayKey, day: a.spendDay, monthKey: a.spendMonthKey, month: a.spendMonth },
      isLow: a.isLow,
      limitNotice: a.limitNotice,
      blocks: a.blocks,
      allowance: a.allowance,
      autoRecharge: a.autoRecharge,
    };
  }

  /** Writes what the step changed. Returns the account as it now stands (not yet saved) and the new entries' seqs. */
  persist(a: AccountRecord, step: Step<unknown>, now: number): { account: AccountRecord; seqs: number[] } {
    const seqs: number[] = [];
    const mirror = this.load() as Mirror;
    for (const lot of step.lots) {
      const known = mirror.lots.has(lot.id);
      if (lot.remaining > 0) mirror.lots.set(lot.id, lot);
      else mirror.lots.delete(lot.id);
      // A lot the mirror holds exists: a plain UPDATE is cheaper than an upsert's failed insert.
      if (known) {
        this.sql.exec("UPDATE lots SET remaining = ?, expiring_notified = ? WHERE id = ?", lot.remaining, lot.expiringNotified ? 1 : 0, lot.id);
        continue;
      }
      this.sql.exec(
        `INSERT INTO lots (id, source, amount, remaining, expires_at, priority, created_at, reference, expiring_notified)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET remaining = excluded.remaining, expiring_notified = excluded.expiring_notified`,
        lot.id,
        lot.source,
        lot.amount,
        lot.remaining,
        lot.expiresAt,
        lot.priority,
        lot.createdAt,
        lot.reference,
        lot.expiringNotified ? 1 : 0,
      );
    }
    for (const hold of step.holds) {
      if (hold.status === "active") mirror.holds.set(hold.id, hold);
      else mirror.holds.delete(hold.id);
      this.sql.exec(
        `INSERT INTO holds (id, amount, status, operation, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status`,
        hold.id,
        hold.amount,
        hold.status,
        hold.operation,
        hold.createdAt,
        hold.expiresAt,
      );
    }
    for (const e of step.entries) {
      const seq = ++mirror.lastSeq;
      // A clock that stepped back (another machine, a test) must not reorder history: D1 maps a time
      // window to a seq range on the strength of this.
      const createdAt = Math.max(e.createdAt, mirror.lastCreatedAt);
      mirror.lastCreatedAt = createdAt;
      this.sql.exec(
        `INSERT INTO journal (seq, kind, amount, balance_after, operation, quantities, hold_id, lot_id, reserved,
          description, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        seq,
        e.kind,
        e.amount,
        e.balanceAfter,
        e.operation,
        json(e.quantities),
        e.holdId,
        e.lotId,
        e.reserved,
        e.description,
        json(e.metadata),
        createdAt,
      );
      seqs.push(seq);
      if (e.operation !== null && (e.kind === "debit" || e.kind === "capture")) {
        this.sql.exec(
          `INSERT INTO operation_stats (operation, count, credits) VALUES (?, 1, ?)
           ON CONFLICT (operation) DO UPDATE SET count = count + 1, credits = credits + excluded.credits`,
          e.operation,
          -e.amount,
        );
      }
    }
    for (const ev of step.events) {
      this.sql.exec("INSERT INTO events (type, data, created_at) VALUES (?, ?, ?)", ev.type, JSON.stringify(ev.data), ev.createdAt);
    }
    const s = step.state;
    const account: AccountRecord = {
      ...a,
      debt: s.debt,
      isLow: s.isLow,
      limitNotice: s.limitNotice,
      // The same object unless a rule changed the blocks: the object tells a change by identity.
      blocks: s.blocks as Record<string, Block>,
      allowance: s.allowance,
      autoRecharge: s.autoRecharge,
      spendDayKey: s.spend.dayKey,
      spendDay: s.spend.day,
      spendMonthKey: s.spend.monthKey,
      spendMonth: s.spend.month,
      spendSeq: seqs.at(-1) ?? a.spendSeq,
    };
    return { account, seqs };
  }

  lastSeq(): number {
    return num(this.sql.exec("SELECT coalesce(max(seq), 0) AS s FROM journal").one().s!);
  }

  lastEventSeq(): number {
    return num(this.sql.exec("SELECT coalesce(max(seq), 0) AS s FROM events").one().s!);
  }

  journalAfter(seq: number, limit: number): JournalRow[] {
    return this.sql
      .exec("SELECT * FROM journal WHERE seq > ? ORDER BY seq LIMIT ?", seq, limit)
      .toArray()
      .map((r) => ({
        seq: num(r.seq!),
        kind: r.kind as string,
        amount: num(r.amount!),
        balanceAfter: num(r.balance_after!),
        operation: strOrNull(r.operation!),
        quantities: parse(r.quantities!),
        holdId: strOrNull(r.hold_id!),
        lotId: strOrNull(r.lot_id!),
        reserved: numOrNull(r.reserved!),
        description: strOrNull(r.description!),
        metadata: parse(r.metadata!),
        createdAt: num(r.created_at!),
      }));
  }

  eventsAfter(seq: number, limit: number): EventRow[] {
    return this.sql
      .exec("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", seq, limit)
      .toArray()
      .map((r) => ({
        seq: num(r.seq!),
        type: r.type as EventRow["type"],
        data: parse<Record<string, unknown>>(r.data!) ?? {},
        createdAt: num(r.created_at!),
      }));
  }

  /** Σ amounts of the journal, or of its entries up to `throughSeq`. */
  journalSum(throughSeq: number = Number.MAX_SAFE_INTEGER): number {
    return num(this.sql.exec("SELECT coalesce(sum(amount), 0) AS s FROM journal WHERE seq <= ?", throughSeq).one().s!);
  }

  operationAverage(operation: string): { count: number; credits: number } | null {
    const row = this.sql.exec("SELECT count, credits FROM operation_stats WHERE operation = ?", operation).toArray()[0];
    return row ? { count: num(row.count!), credits: num(row.credits!) } : null;
  }

  storedReply(key: string): StoredReply | null {
    if (!this.opened) return null;
    const row = this.sql.exec("SELECT fingerprint, status, json, cost, balance FROM replies WHERE key = ?", key).toArray()[0];
    if (!row) return null;
    return {
      fingerprint: row.fingerprint as string,
      wire: { status: num(row.status!), json: row.json as string, cost: numOrNull(row.cost!), balance: numOrNull(row.balance!), replayed: true },
    };
  }

  /** Stores the answer under a new key; false (and nothing written) when the key already has one. */
  storeReply(key: string, fingerprint: string, wire: WireReply, now: number): boolean {
    return this.sql.exec(
      `INSERT INTO replies (key, fingerprint, status, json, cost, balance, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (key) DO NOTHING`,
      key,
      fingerprint,
      wire.status,
      wire.json,
      wire.cost,
      wire.balance,
      now,
    ).rowsWritten > 0;
  }

  /**
   * Forgets, among the next `batch` keys after `cursor`, those answered before `before`. Returns the
   * cursor to continue from, or null when this pass has reached the last key.
   */
  sweepReplies(cursor: string, before: number, batch: number): string | null {
    const rows = this.sql.exec("SELECT key FROM replies WHERE key > ? ORDER BY key LIMIT ?", cursor, batch).toArray();
    const last = rows.at(-1)?.key as string | undefined;
    if (last !== undefined) {
      this.sql.exec("DELETE FROM replies WHERE key > ? AND key <= ? AND created_at < ?", cursor, last, before);
    }
    return rows.length < batch ? null : (last as string);
  }

  hasReplies(): boolean {
    return this.sql.exec("SELECT 1 FROM replies LIMIT 1").toArray().length > 0;
  }

  /** The first lot a payment (a checkout session) credited, if any: a purchase credits once, ever. */
  purchaseLot(reference: string): string | null {
    const row = this.sql.exec("SELECT id FROM lots WHERE reference = ? AND source = 'purchase' ORDER BY created_at LIMIT 1", reference).toArray()[0];
    return row ? (row.id as string) : null;
  }

  /** What the object keeps for a purchase's refunds and disputes; null before its first telling. */
  purchaseClaims(reference: string): PurchaseClaims | null {
    const row = this.sql.exec("SELECT claims FROM purchase_claims WHERE reference = ?", reference).toArray()[0];
    return row ? (JSON.parse(row.claims as string) as PurchaseClaims) : null;
  }

  /** What an older version clawed back for a purchase, per key ("refund:<purchase>", "dispute:<id>"). */
  legacyClawbacks(reference: string, disputeIds: readonly string[]): LegacyClawbacks {
    const clawed = (key: string) => {
      const row = this.sql.exec("SELECT clawed FROM clawbacks WHERE key = ?", key).toArray()[0];
      return row ? num(row.clawed!) : null;
    };
    const disputes: Record<string, number> = {};
    for (const id of disputeIds) {
      const amount = clawed(`dispute:${id}`);
      if (amount !== null) disputes[id] = amount;
    }
    return { refund: clawed(`refund:${reference}`), disputes };
  }

  savePurchaseClaims(reference: string, claims: PurchaseClaims): void {
    this.sql.exec(
      "INSERT INTO purchase_claims (reference, claims) VALUES (?, ?) ON CONFLICT (reference) DO UPDATE SET claims = excluded.claims",
      reference,
      JSON.stringify(claims),
    );
  }

  hold(id: string): Hold | null {
    const row = this.sql.exec("SELECT * FROM holds WHERE id = ?", id).toArray()[0];
    return row ? toHold(row) : null;
  }
}
