// The D1 schema: the directory, the history mirror and the catalogue. D1 never holds the authority on
// a balance; the account objects do. Migrations are generated from this file by drizzle-kit.
//
// Every D1 database of a deployment gets the same migrations: the main one (directory, keys, prices,
// packages, Stripe) and each history shard (entries, events, daily usage). The main database may be a
// shard itself (it is, locally), and one schema everywhere means one `migrations apply` per database
// and nothing that can drift; the tables a database does not use stay empty.
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const accounts = sqliteTable(
  "accounts",
  {
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
  /**
   * The D1 binding holding the account's history (workers/db/shards.ts), chosen once when the account
   * was opened. Accounts older than sharding have theirs in the main database.
   */
  historyShard: text("history_shard").notNull().default("DB"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  // The cron sweep's due-work index (workers/cron/sweep.ts): when the account's object next has work
  // that falls due by itself, kept current from what the object ships and from the sweep's own calls.
  /** The earliest of the instants below (and of the next `credits.expiring` notice); null: nothing. */
  dueAt: integer("due_at"),
  /** The object's clock when `due_at` was computed: an older copy never overwrites a newer one. */
  dueComputedAt: integer("due_computed_at").notNull().default(0),
  nextAllowanceAt: integer("next_allowance_at"),
  nextHoldExpiryAt: integer("next_hold_expiry_at"),
  /** A sweep that claimed the account to work on it, until when: overlapping sweeps take others. */
  sweepClaimedBy: text("sweep_claimed_by"),
  sweepClaimedUntil: integer("sweep_claimed_until"),
  },
  (t) => [index("accounts_due").on(t.dueAt), index("accounts_updated").on(t.updatedAt)],
);

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

/**
 * What an account spent per local day (its time zone when the day was written) and operation: the
 * history consumer adds each debit and capture once, in the same D1 batch that inserts the entry, and
 * only for entries that batch really inserted. `operation` is '' for debits of a bare amount.
 */
export const usageDaily = sqliteTable(
  "usage_daily",
  {
    accountId: text("account_id").notNull(),
    /** YYYY-MM-DD in the account's zone. */
    day: text("day").notNull(),
    operation: text("operation").notNull(),
    count: integer("count").notNull(),
    /** Credits spent: positive. */
    credits: integer("credits").notNull(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.day, t.operation] })],
);

/**
 * History messages the Queue gave up on after its retries (the dead-letter queue's consumer writes
 * them here, in the main database). Nothing is lost: the object still holds every entry, and the
 * reconciliation pass re-ships the accounts listed here; `resolved_at` is set when it has.
 */
export const historyDeadLetters = sqliteTable(
  "history_dead_letters",
  {
    messageId: text("message_id").primaryKey(),
    accountId: text("account_id").notNull(),
    shard: text("shard").notNull(),
    firstSeq: integer("first_seq"),
    lastSeq: integer("last_seq"),
    firstEventSeq: integer("first_event_seq"),
    lastEventSeq: integer("last_event_seq"),
    attempts: integer("attempts").notNull(),
    body: text("body").notNull(),
    receivedAt: integer("received_at").notNull(),
    resolvedAt: integer("resolved_at"),
  },
  (t) => [index("history_dead_letters_account").on(t.accountId, t.receivedAt)],
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

// Stripe. The account objects hold the credits; these tables hold what Stripe told us and what we
// asked of it, so the webhook can recognise a redelivery, find the account of a payment, and keep a
// refund or dispute that arrives before its purchase.

/** One Stripe Customer per account, created once (see workers/stripe/customers.ts). */
export const stripeCustomers = sqliteTable("stripe_customers", {
  accountId: text("account_id").primaryKey(),
  customerId: text("customer_id").notNull().unique(),
  createdAt: integer("created_at").notNull(),
  /** The card saved by the latest checkout with save_payment_method: what auto-recharge charges. */
  paymentMethod: text("payment_method"),
  /** When Stripe created the PaymentIntent that saved it (ms): a later save wins, whatever order events come in. */
  paymentMethodSavedAt: integer("payment_method_saved_at"),
});

export const PURCHASE_STATUSES = ["pending", "paid", "partially_refunded", "refunded", "disputed", "failed"] as const;
export type PurchaseStatus = (typeof PURCHASE_STATUSES)[number];

/**
 * One row per Checkout Session. `pending` is written when the session is created (what was offered:
 * package, credits, price); the webhook turns it into `paid` when the payment lands (or writes the row
 * itself if the pending one is missing), then refunds and disputes move it on. `failed`: an async
 * payment that failed. `credits` are the credits promised at creation, never today's package.
 */
export const purchases = sqliteTable(
  "purchases",
  {
    /** The Checkout Session id (`cs_…`). */
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    packageId: text("package_id").notNull(),
    credits: integer("credits").notNull(),
    /** The price paid, in the currency's smallest unit (Stripe's amount_total once paid). */
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    status: text("status", { enum: PURCHASE_STATUSES }).notNull(),
    creditsClawedBack: integer("credits_clawed_back").notNull().default(0),
    /** Stripe's cumulative amount_refunded for the payment (refunds only; a dispute is not a refund). */
    amountRefunded: integer("amount_refunded").notNull().default(0),
    paymentIntent: text("payment_intent").unique(),
    customer: text("customer"),
    /** The purchase lot the account's object created for it. */
    lotId: text("lot_id"),
    /**
     * The version of the object's refunds-and-disputes record this row's status and clawback copy
     * (stripe/claims.ts): a copy is written only over an older one.
     */
    claimsVersion: integer("claims_version").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("purchases_account_created").on(t.accountId, t.createdAt, t.id)],
);

/**
 * Every Stripe event received, by Stripe's event id: a redelivery of an applied event is answered 200
 * without work. `applied_at` is null until the change is durably applied; `outcome` says what it did
 * (credited, clawed_back, ignored, …).
 */
export const stripeEvents = sqliteTable("stripe_events", {
  id: text("id").primaryKey(),
  type: text("type").notNull(),
  receivedAt: integer("received_at").notNull(),
  appliedAt: integer("applied_at"),
  outcome: text("outcome"),
});

/**
 * The latest cumulative refund Stripe reported for each charge (by payment intent), by the time Stripe
 * reported it: events arrive out of order, and the figure goes down again when a refund fails. Kept
 * whether or not the purchase has landed; the account is told when it has (stripe/claims.ts).
 */
export const pendingRefunds = sqliteTable("pending_refunds", {
  paymentIntent: text("payment_intent").primaryKey(),
  /** The charge's amount, as the refund event reported it. */
  amount: integer("amount").notNull(),
  amountRefunded: integer("amount_refunded").notNull(),
  /** When Stripe reported `amount_refunded` (the event's created, Unix seconds): the latest report wins. */
  reportedAt: integer("reported_at").notNull().default(0),
  receivedAt: integer("received_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  appliedAt: integer("applied_at"),
});

/** Refunds told by their own events, by Stripe's refund id: a refund that failed gives its credits back. */
export const stripeRefunds = sqliteTable(
  "stripe_refunds",
  {
    id: text("id").primaryKey(),
    paymentIntent: text("payment_intent").notNull(),
    amount: integer("amount").notNull(),
    /** When the refund was first reported failed or cancelled (Unix seconds); null while it stands. */
    failedAt: integer("failed_at"),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("stripe_refunds_payment_intent").on(t.paymentIntent)],
);

/** As durable-objects/ledger/claims.ts: a status only ever moves to a later one. */
export const DISPUTE_STATUSES = ["inquiry", "open", "inquiry_closed", "won", "lost"] as const;

/**
 * Disputes by Stripe's dispute id, with the furthest status reached. Kept even when the purchase has
 * not landed yet (found by payment intent when it does).
 */
export const stripeDisputes = sqliteTable(
  "stripe_disputes",
  {
    id: text("id").primaryKey(),
    paymentIntent: text("payment_intent").notNull(),
    amount: integer("amount").notNull(),
    status: text("status", { enum: DISPUTE_STATUSES }).notNull(),
    creditsClawedBack: integer("credits_clawed_back").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("stripe_disputes_payment_intent").on(t.paymentIntent)],
);

/**
 * One row per pass of the cron's work (workers/cron/): `sweep` (expiry, allowances, notices) or
 * `reconcile` (D1 against the objects). A pass that outlives one invocation is continued by the next:
 * `finished_at` stays null until it is done, and `cutoff`/`cursor` say where it stands.
 */
export const cronRuns = sqliteTable(
  "cron_runs",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: ["sweep", "reconcile", "payments"] }).notNull(),
    startedAt: integer("started_at").notNull(),
    finishedAt: integer("finished_at"),
    /** Sweep: accounts due at or before this instant belong to the pass. */
    cutoff: integer("cutoff").notNull(),
    /** Reconcile: the last account id of the rolling sample checked so far. */
    cursor: text("cursor"),
    invocations: integer("invocations").notNull().default(1),
    accounts: integer("accounts").notNull().default(0),
    failures: integer("failures").notNull().default(0),
    /** Reconcile: rows found missing from D1 and written back from the objects. */
    entriesRepaired: integer("entries_repaired").notNull().default(0),
    eventsRepaired: integer("events_repaired").notNull().default(0),
    driftAccounts: integer("drift_accounts").notNull().default(0),
  },
  (t) => [index("cron_runs_kind_started").on(t.kind, t.startedAt)],
);

/** What reconciliation found wrong with one account's history in D1, and what it did about it. */
export const historyDrift = sqliteTable(
  "history_drift",
  {
    runId: text("run_id").notNull(),
    accountId: text("account_id").notNull(),
    foundAt: integer("found_at").notNull(),
    shard: text("shard").notNull(),
    missingEntries: integer("missing_entries").notNull(),
    missingEvents: integer("missing_events").notNull(),
    /** Σ entries in D1 − Σ in the object, over what both should hold, before repair (0 when only rows were missing). */
    sumDifference: integer("sum_difference").notNull(),
    entriesRepaired: integer("entries_repaired").notNull(),
    eventsRepaired: integer("events_repaired").notNull(),
    /**
     * How far D1 still is from the object after the repair: the Σ amount difference plus the entries
     * and events still missing (a hole larger than one pass repairs). 0 once D1 agrees; the next pass
     * checks the account again until it does.
     */
    unresolvedDifference: integer("unresolved_difference").notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.accountId] }), index("history_drift_found").on(t.foundAt)],
);

/** Small facts the parts report to the admin health view (history lag as the consumer last saw it). */
export const systemState = sqliteTable("system_state", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/**
 * What the charged ⇒ credited pass found paid at Stripe but not applied here (its webhook lost or not
 * yet applied), and what it did: one row per Stripe object, so a repair is recorded once.
 */
export const paymentRepairs = sqliteTable(
  "payment_repairs",
  {
    /** The checkout session or PaymentIntent id. */
    stripeObject: text("stripe_object").primaryKey(),
    kind: text("kind", { enum: ["checkout_session", "auto_recharge", "saved_card", "payment_failed", "refund", "dispute"] }).notNull(),
    runId: text("run_id").notNull(),
    accountId: text("account_id"),
    credits: integer("credits").notNull().default(0),
    amount: integer("amount").notNull().default(0),
    currency: text("currency"),
    /** "credited", "card_saved", or why it could not be applied ("unapplied: account_not_found"). */
    outcome: text("outcome").notNull(),
    repairedAt: integer("repaired_at").notNull(),
  },
  (t) => [index("payment_repairs_repaired").on(t.repairedAt)],
);

/**
 * Payments this deployment will not credit (stripe/applied.ts unapplied): another deployment's session
 * on a shared Stripe account, a session whose amount is not what was sold, an unknown account.
 */
export const unappliedPayments = sqliteTable(
  "unapplied_payments",
  {
    stripeObject: text("stripe_object").primaryKey(),
    kind: text("kind", { enum: ["checkout_session", "auto_recharge"] }).notNull(),
    accountId: text("account_id"),
    reason: text("reason").notNull(),
    amount: integer("amount"),
    currency: text("currency"),
    firstSeenAt: integer("first_seen_at").notNull(),
    lastSeenAt: integer("last_seen_at").notNull(),
    /** How many times it was delivered or found. */
    seen: integer("seen").notNull().default(1),
  },
  (t) => [index("unapplied_payments_last_seen").on(t.lastSeenAt)],
);

/**
 * Stripe events the charged ⇒ credited pass found unapplied but could not apply (the account's object
 * failed): kept whole, and tried again by later passes, so the pass's cursor can move on without
 * losing them.
 */
export const paymentRetries = sqliteTable(
  "payment_retries",
  {
    eventId: text("event_id").primaryKey(),
    type: text("type").notNull(),
    /** The event as Stripe's log gave it (JSON). */
    event: text("event").notNull(),
    attempts: integer("attempts").notNull(),
    lastError: text("last_error").notNull(),
    firstFailedAt: integer("first_failed_at").notNull(),
    nextAttemptAt: integer("next_attempt_at").notNull(),
  },
  (t) => [index("payment_retries_next").on(t.nextAttemptAt)],
);

/**
 * Where operators receive the accounts' events (outgoing webhooks). The secret signs every delivery;
 * during a rotation the previous one signs too, until `previous_secret_expires_at`.
 */
export const webhookEndpoints = sqliteTable("webhook_endpoints", {
  id: text("id").primaryKey(),
  url: text("url").notNull(),
  /** JSON array of event types, or ["*"]. */
  events: text("events").notNull(),
  description: text("description"),
  secret: text("secret").notNull(),
  previousSecret: text("previous_secret"),
  previousSecretExpiresAt: integer("previous_secret_expires_at"),
  status: text("status", { enum: ["active", "disabled"] }).notNull(),
  disabledReason: text("disabled_reason"),
  disabledAt: integer("disabled_at"),
  /** The first failure since the last success: an endpoint failing everything for 3 days is disabled. */
  failingSince: integer("failing_since"),
  lastSuccessAt: integer("last_success_at"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/** One event to one endpoint: what was sent, how often, and how it ended. */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    endpointId: text("endpoint_id").notNull(),
    eventId: text("event_id").notNull(),
    accountId: text("account_id").notNull(),
    type: text("type").notNull(),
    /** The exact body POSTed, so every attempt (and a re-send by hand) sends the same bytes. */
    payload: text("payload").notNull(),
    status: text("status", { enum: ["pending", "delivered", "failed"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    /** When the Queue brings it back (the retry's delay), while pending. */
    nextAttemptAt: integer("next_attempt_at"),
    /** The start of its 3-day window (a re-send by hand starts a new one). */
    firstAttemptAt: integer("first_attempt_at"),
    deliveredAt: integer("delivered_at"),
    /** When the event happened in its account, for ordering the list. */
    eventCreatedAt: integer("event_created_at").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.endpointId, t.eventId] }),
    index("webhook_deliveries_endpoint_created").on(t.endpointId, t.eventCreatedAt, t.eventId),
    index("webhook_deliveries_status_next").on(t.status, t.nextAttemptAt),
  ],
);

/**
 * One-time links to the hosted page (POST /v1/accounts/{id}/portal-sessions): kept by the hash of their
 * token, used once, valid one hour.
 */
export const portalLinks = sqliteTable("portal_links", {
  tokenHash: text("token_hash").primaryKey(),
  accountId: text("account_id").notNull(),
  returnUrl: text("return_url"),
  createdAt: integer("created_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
  usedAt: integer("used_at"),
});
