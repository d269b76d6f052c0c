import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AccountLedger } from "../../durable-objects/account-ledger";
import { account, api, audit, d1Entries, evict, flush, ledger, openAccount, steadyClock, unshipped } from "./helpers";

describe("the object evicted between hold and capture", () => {
  it("loses neither the hold nor the credits", async () => {
    await openAccount("evicted", 500);
    const hold = await api("POST", "/v1/accounts/evicted/holds", { body: { amount: 200 } });
    expect(hold.status).toBe(201);

    await evict("evicted");

    const after = await account("evicted");
    expect(after.held).toBe(200);
    expect(after.available).toBe(300);
    const capture = await api("POST", `/v1/accounts/evicted/holds/${hold.body.hold_id}/capture`, { body: { amount: 150 } });
    expect(capture.status).toBe(200);
    expect(capture.body).toMatchObject({ cost: 150, released: 50, overrun: 0, balance: 350, available: 350 });
    expect(await audit("evicted")).toMatchObject({ journalSum: 350, balance: 350 });
  });
});

describe("the history Queue refusing while history ships", () => {
  it("delays history but loses no entry once the Queue takes messages again", async () => {
    await openAccount("queue-down", 100);
    await flush("queue-down");
    const before = (await d1Entries("queue-down")).length;

    // The Queue starts refusing (for every object of this isolate: they share one env).
    let failing = true;
    await runInDurableObject(ledger("queue-down"), (instance: AccountLedger) => {
      const env = (instance as unknown as { env: { HISTORY: Queue } }).env;
      const real = env.HISTORY;
      env.HISTORY = new Proxy(real, {
        get(target, prop, receiver) {
          if ((prop === "send" || prop === "sendBatch") && failing) return () => Promise.reject(new Error("Queue send failed: simulated outage"));
          const value = Reflect.get(target, prop, receiver);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    });

    for (let i = 0; i < 5; i++) {
      expect((await api("POST", "/v1/accounts/queue-down/debits", { body: { amount: 3 } })).status).toBe(201);
    }
    // The alarm comes due while the Queue is down (the runtime may also run it on its own; it fails the same).
    await runDurableObjectAlarm(ledger("queue-down"));
    expect((await d1Entries("queue-down")).length).toBe(before);
    expect((await unshipped("queue-down"))?.entries).toBe(5);
    // The failed run armed its own retry, due within a minute (not just the daily reply sweep).
    const retryAt = await runInDurableObject(ledger("queue-down"), (_instance, state) => state.storage.getAlarm());
    expect(retryAt).not.toBeNull();
    expect(retryAt as number).toBeLessThanOrEqual(Date.now() + 60_000);
    // Debits keep working while the Queue is down: it is not on their path.
    expect((await api("POST", "/v1/accounts/queue-down/debits", { body: { amount: 5 } })).status).toBe(201);

    failing = false;
    await flush("queue-down");
    const rows = await d1Entries("queue-down");
    expect(rows.length).toBe(before + 6);
    expect(rows.map((r) => r.seq)).toEqual([...rows.map((r) => r.seq)].sort((a, b) => a - b));
    expect(rows.reduce((sum, r) => sum + r.amount, 0)).toBe(100 - 20);
    expect(await audit("queue-down")).toMatchObject({ journalSum: 80, balance: 80 });
  });
});

describe("the object evicted after spending under a daily limit", () => {
  it("still counts what was spent today: the limit holds across a restart", async () => {
    const startedAt = await steadyClock("evicted-limit");
    await openAccount("evicted-limit", 1000);
    await api("PUT", "/v1/accounts/evicted-limit/limits", { body: { daily: 100 } });
    for (const amount of [30, 40]) {
      expect((await api("POST", "/v1/accounts/evicted-limit/debits", { body: { amount } })).status).toBe(201);
    }
    await evict("evicted-limit");
    // The new instance starts on the real clock: put it back on the same steady day.
    await steadyClock("evicted-limit", startedAt);
    expect((await account("evicted-limit")).limits.spent_today).toBe(70);
    const over = await api("POST", "/v1/accounts/evicted-limit/debits", { body: { amount: 31 } });
    expect(over.status).toBe(402);
    expect(over.body.error.type).toBe("spending_limit_exceeded");
    expect((await api("POST", "/v1/accounts/evicted-limit/debits", { body: { amount: 30 } })).status).toBe(201);
  });
});

describe("a write failing in the middle of a debit", () => {
  it("rolls the whole debit back, and the object's in-memory copy with it", async () => {
    await openAccount("torn-write", 100);
    expect((await api("POST", "/v1/accounts/torn-write/debits", { body: { amount: 10 } })).status).toBe(201);

    // The next journal insert throws, after the lot has already been written in the same transaction.
    await runInDurableObject(ledger("torn-write"), (instance: AccountLedger, state) => {
      const sql = state.storage.sql;
      const exec = sql.exec.bind(sql);
      let armed = true;
      (sql as { exec: typeof sql.exec }).exec = ((query: string, ...bindings: unknown[]) => {
        if (armed && query.includes("INSERT INTO journal")) {
          armed = false;
          throw new Error("SQLITE_FULL: simulated");
        }
        return exec(query, ...bindings);
      }) as typeof sql.exec;
      void instance;
    });
    const failed = await api("POST", "/v1/accounts/torn-write/debits", { body: { amount: 25 } });
    expect(failed.status).toBe(500);

    // Nothing of it stayed: not the lot's burn in SQLite, not in the object's memory.
    expect((await account("torn-write")).balance).toBe(90);
    expect(await audit("torn-write")).toMatchObject({ balance: 90, journalSum: 90 });
    const next = await api("POST", "/v1/accounts/torn-write/debits", { body: { amount: 25 } });
    expect(next.body).toMatchObject({ balance: 65 });
    await evict("torn-write");
    expect((await account("torn-write")).balance).toBe(65);
  });
});

describe("idempotency keys while the history Queue is down", () => {
  it("are still forgotten after 7 days: pruning does not wait for history to ship", async () => {
    const ID = "prune-queue-down";
    await openAccount(ID, 100);
    const key = `prune-${Date.now()}`;
    expect((await api("POST", `/v1/accounts/${ID}/debits`, { body: { amount: 1 }, idem: key })).status).toBe(201);
    const start = Date.now();

    let failing = true;
    let real: Queue | null = null;
    await runInDurableObject(ledger(ID), (instance: AccountLedger) => {
      const env = (instance as unknown as { env: { HISTORY: Queue } }).env;
      real = env.HISTORY;
      env.HISTORY = new Proxy(env.HISTORY, {
        get(target, prop, receiver) {
          if ((prop === "send" || prop === "sendBatch") && failing) return () => Promise.reject(new Error("Queue send failed: simulated outage"));
          const value = Reflect.get(target, prop, receiver);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      instance.clock = () => start + 7 * 24 * 3600_000 + 60_000;
    });
    try {
      // The alarm runs (its history shipping fails) …
      await runDurableObjectAlarm(ledger(ID));
      // … and the week-old key is gone all the same: a new request under it runs.
      const reused = await api("POST", `/v1/accounts/${ID}/debits`, { body: { amount: 2 }, idem: key });
      expect(reused.status).toBe(201);
      expect(reused.headers.get("Idempotent-Replayed")).toBeNull();
      expect(reused.body.balance).toBe(97);
    } finally {
      failing = false;
      await runInDurableObject(ledger(ID), (instance: AccountLedger) => {
        (instance as unknown as { env: { HISTORY: Queue } }).env.HISTORY = real as unknown as Queue;
      });
    }
  });
});
