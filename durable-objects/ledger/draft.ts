import { liveCredits } from "./lots";
import { add, sub } from "./money";
import type { EntryDraft, EventDraft, Hold, LedgerError, LedgerState, Lot, Outcome, Step } from "./types";

export interface Totals {
  /** Unexpired credits minus debt; negative when in debt. */
  balance: number;
  /** Credits reserved by active, unexpired holds. */
  held: number;
  /** balance − held. */
  available: number;
  debt: number;
}

export function activeHolds(holds: readonly Hold[], now: number): Hold[] {
  return holds.filter((hold) => hold.status === "active" && hold.expiresAt > now);
}

export function totals(state: LedgerState, now: number): Totals {
  const balance = sub(liveCredits(state.lots, now), state.debt);
  let held = 0;
  for (const hold of activeHolds(state.holds, now)) held = add(held, hold.amount);
  return { balance, held, available: sub(balance, held), debt: state.debt };
}

/** `createdAt` defaults to the draft's now; what falls due in the past (an expiry) is dated when it fell due. */
type EntryFields = Partial<Omit<EntryDraft, "kind" | "amount" | "balanceAfter">>;

/**
 * One rule's working copy of the state. Rules stay pure: a draft lives only inside one rule call, and
 * what it records (changed lots and holds, entries, events) is exactly what the object must persist.
 */
export class Draft {
  private readonly changedLots = new Map<string, Lot>();
  private readonly changedHolds = new Map<string, Hold>();
  private readonly entries: EntryDraft[] = [];
  private readonly events: EventDraft[] = [];
  /** The balance as the journal sees it: every lot still holding credits, expired or not, minus debt. */
  private journalBalance: number;

  constructor(
    public state: LedgerState,
    readonly now: number,
  ) {
    let credits = 0;
    for (const lot of state.lots) credits = add(credits, lot.remaining);
    this.journalBalance = sub(credits, state.debt);
  }

  totals(): Totals {
    return totals(this.state, this.now);
  }

  putLot(lot: Lot): void {
    const exists = this.state.lots.some((l) => l.id === lot.id);
    const lots = exists ? this.state.lots.map((l) => (l.id === lot.id ? lot : l)) : [...this.state.lots, lot];
    this.state = { ...this.state, lots };
    this.changedLots.set(lot.id, lot);
  }

  putLots(lots: readonly Lot[], changed: readonly Lot[]): void {
    this.state = { ...this.state, lots };
    for (const lot of changed) this.changedLots.set(lot.id, lot);
  }

  putHold(hold: Hold): void {
    const exists = this.state.holds.some((h) => h.id === hold.id);
    const holds = exists ? this.state.holds.map((h) => (h.id === hold.id ? hold : h)) : [...this.state.holds, hold];
    this.state = { ...this.state, holds };
    this.changedHolds.set(hold.id, hold);
  }

  /** Appends an entry; its balance_after is the running journal balance after `amount`. */
  entry(kind: EntryDraft["kind"], amount: number, fields: EntryFields = {}): EntryDraft {
    this.journalBalance = add(this.journalBalance, amount);
    const draft: EntryDraft = {
      kind,
      amount,
      balanceAfter: this.journalBalance,
      operation: fields.operation ?? null,
      quantities: fields.quantities ?? null,
      holdId: fields.holdId ?? null,
      lotId: fields.lotId ?? null,
      reserved: fields.reserved ?? null,
      description: fields.description ?? null,
      metadata: fields.metadata ?? null,
      createdAt: fields.createdAt ?? this.now,
    };
    this.entries.push(draft);
    return draft;
  }

  event(type: EventDraft["type"], data: Record<string, unknown>, at: number = this.now): void {
    this.events.push({ type, data, createdAt: at });
  }

  private step<R>(outcome: Outcome<R>): Step<R> {
    return {
      state: this.state,
      lots: [...this.changedLots.values()],
      holds: [...this.changedHolds.values()],
      entries: this.entries,
      events: this.events,
      outcome,
    };
  }

  done<R>(value: R): Step<R> {
    return this.step({ ok: true, value });
  }

  refuse<R>(error: LedgerError): Step<R> {
    return this.step({ ok: false, error });
  }
}
