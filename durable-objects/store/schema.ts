// The object's own SQLite schema. Each migration runs once, in order, inside the constructor's
// synchronous startup; `schema_version` in the object's storage records how far it got.

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE account (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id TEXT NOT NULL,
    tag TEXT NOT NULL,
    name TEXT,
    email TEXT,
    metadata TEXT,
    time_zone TEXT,
    debt INTEGER NOT NULL DEFAULT 0,
    daily_limit INTEGER,
    monthly_limit INTEGER,
    low_balance_threshold INTEGER,
    is_low INTEGER NOT NULL DEFAULT 0,
    limit_notice TEXT,
    spend_day_key TEXT NOT NULL DEFAULT '',
    spend_day INTEGER NOT NULL DEFAULT 0,
    spend_month_key TEXT NOT NULL DEFAULT '',
    spend_month INTEGER NOT NULL DEFAULT 0,
    shipped_seq INTEGER NOT NULL DEFAULT 0,
    shipped_event_seq INTEGER NOT NULL DEFAULT 0,
    directory_version INTEGER NOT NULL DEFAULT 1,
    shipped_directory_version INTEGER NOT NULL DEFAULT 0,
    alarm_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE lots (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    amount INTEGER NOT NULL,
    remaining INTEGER NOT NULL,
    expires_at INTEGER,
    priority INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    reference TEXT
  );
  CREATE INDEX lots_live ON lots (expires_at) WHERE remaining > 0;
  CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    amount INTEGER NOT NULL,
    status TEXT NOT NULL,
    operation TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX holds_active ON holds (expires_at) WHERE status = 'active';
  CREATE TABLE journal (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    operation TEXT,
    quantities TEXT,
    hold_id TEXT,
    lot_id TEXT,
    reserved INTEGER,
    description TEXT,
    metadata TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE idempotency (
    key TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    reply TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE operation_stats (
    operation TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    credits INTEGER NOT NULL
  );
  `,
  // Spend counters are checkpointed: they include the journal up to spend_seq, the rest is replayed on
  // load, so a debit need not rewrite the account row just to count what it spent.
  `ALTER TABLE account ADD COLUMN spend_seq INTEGER NOT NULL DEFAULT 0;`,
  // Idempotency in one B-tree keyed by the key (no rowid table beside a unique index), with the answer
  // stored as sent rather than serialized twice. Old keys are swept by key range, a slice per alarm.
  `
  CREATE TABLE replies (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    json TEXT NOT NULL,
    cost INTEGER,
    balance INTEGER,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO replies SELECT key, fingerprint, reply ->> '$.status', reply ->> '$.json', reply ->> '$.cost',
    reply ->> '$.balance', created_at FROM idempotency;
  DROP TABLE idempotency;
  `,
  // D1 used to key history by an id built from a random 8-character tag that two accounts could share;
  // the second account's rows were then ignored for good. D1 now keys by (account_id, seq): shipping
  // everything again lands what was lost, and what D1 already has is ignored.
  `UPDATE account SET shipped_seq = 0, shipped_event_seq = 0, alarm_at = NULL;`,
  // Spending blocks (an admin's, an open dispute's), and what each refund or dispute has clawed back
  // so far: a repeated or late payment event then claws back nothing twice.
  `
  ALTER TABLE account ADD COLUMN blocks TEXT;
  CREATE TABLE clawbacks (key TEXT PRIMARY KEY, clawed INTEGER NOT NULL) WITHOUT ROWID;
  `,
  // The recurring allowance (its plan and current period, JSON), and which lots were announced as
  // expiring within a week (credits.expiring is raised once per lot).
  `
  ALTER TABLE account ADD COLUMN allowance TEXT;
  ALTER TABLE lots ADD COLUMN expiring_notified INTEGER NOT NULL DEFAULT 0;
  `,
  // Auto-recharge: its plan, status and the attempt in flight (JSON; ledger/recharge.ts).
  `ALTER TABLE account ADD COLUMN auto_recharge TEXT;`,
  // What refunds and disputes of each purchase have been told and have taken back (ledger/claims.ts),
  // replacing the per-key clawbacks, which are read once to start each purchase's record; and lots
  // found by their payment, so a purchase is never credited twice whatever became of its key.
  `CREATE TABLE purchase_claims (reference TEXT PRIMARY KEY, claims TEXT NOT NULL) WITHOUT ROWID;
   CREATE INDEX lots_reference ON lots (reference) WHERE reference IS NOT NULL;`,
];

/** Brings the schema up to date; true when it changed anything. */
export function migrate(sql: SqlStorage, storage: DurableObjectStorage): boolean {
  const version = storage.kv.get<number>("schema_version") ?? 0;
  for (let v = version; v < MIGRATIONS.length; v++) {
    sql.exec(MIGRATIONS[v] as string);
    storage.kv.put("schema_version", v + 1);
  }
  return version < MIGRATIONS.length;
}
