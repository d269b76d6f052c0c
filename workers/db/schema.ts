// The D1 schema: the directory, the history mirror and the catalogue. D1 never holds the authority on
// a balance; the account objects do. Migrations are generated from this file by drizzle-kit.
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const accounts = sqliteTable("accounts", {
  id: text("id").primaryKey(),
  name: text("name"),
  email: text("email"),
  metadata: text("metadata"),
  timeZone: text("time_zone"),
  /** A copy of the object's balance as of `updatedAt`, for listings and reconciliation only. */
  balance: integer("balance").notNull().default(0),
  debt: integer("debt").notNull().default(0),
  isLow: integer("is_low", { mode: "boolean" }).notNull().default(false),
  nextExpiryAt: integer("next_expiry_at"),
  lastSeq: integer("last_seq").notNull().default(0),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

// History is keyed by (account_id, seq): the object numbers its journal and events, so a row's key is
// its account's own and a re-sent row is recognised, while no other account's row can ever take its
// place. Public ids (`ent_…`, `evt_…`) are derived from the same pair (durable-objects/ids.ts).
export const ledgerEntries = sqliteTable(
  "ledger_entries",
  {
    accountId: text("account_id").notNull(),
    seq: integer("seq").notNull(),
    kind: text("kind").notNull(),
    amount: integer("amount").notNull(),
    balanceAfter: integer("balance_after").notNull(),
    operation: text("operation"),
    quantities: text("quantities"),
    holdId: text("hold_id"),
    lotId: text("lot_id"),
    reserved: integer("reserved"),
    description: text("description"),
    metadata: text("metadata"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.accountId, t.seq] }),
    index("ledger_entries_account_kind").on(t.accountId, t.kind, t.seq),
    index("ledger_entries_account_operation").on(t.accountId, t.operation, t.seq),
    // `from`/`to` find their first and last seq through this index instead of walking the history.
    index("ledger_entries_account_created").on(t.accountId, t.createdAt, t.seq),
  ],
);

export const accountEvents = sqliteTable(
  "account_events",
  {
    accountId: text("account_id").notNull(),
    seq: integer("seq").notNull(),
    type: text("type").notNull(),
    data: text("data").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.seq] }), index("account_events_account").on(t.accountId, t.createdAt)],
);

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    prefix: text("prefix").notNull(),
    /** SHA-256 of the whole key, hex. The key itself is shown once and never stored. */
    hash: text("hash").notNull(),
    scopes: text("scopes").notNull(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [uniqueIndex("api_keys_hash").on(t.hash)],
);

export const prices = sqliteTable("prices", {
  operation: text("operation").primaryKey(),
  rates: text("rates").notNull(),
  description: text("description"),
  updatedAt: integer("updated_at").notNull(),
});

export const packages = sqliteTable("packages", {
  id: text("id").primaryKey(),
  credits: integer("credits").notNull(),
  priceAmount: integer("price_amount").notNull(),
  currency: text("currency").notNull(),
  active: integer("active", { mode: "boolean" }).notNull().default(true),
  updatedAt: integer("updated_at").notNull(),
});
