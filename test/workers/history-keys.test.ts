import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, d1Entries, evict, flush, historyOf, ledger, openAccount } from "./helpers";

// History in D1 belongs to (account, seq): no two accounts can ever claim the same row, whatever ids
// they were given, and public entry ids are distinct by construction.

const debit = (id: string, amount: number) => api("POST", `/v1/accounts/${id}/debits`, { body: { amount } });

describe("two accounts that were given the same tag", () => {
  it("both keep their full history in D1 and answer distinct entry ids", async () => {
    const ids = ["twin-a", "twin-b"];
    for (const id of ids) {
      await openAccount(id, 100);
      // The first schema gave each account a random 8-character tag that entry ids were built from.
      await runInDurableObject(ledger(id), (_instance, state) => {
        state.storage.sql.exec("UPDATE account SET tag = 'samesame'");
      });
    }
    const answers = [];
    for (const id of ids) for (const amount of [3, 4]) answers.push(await debit(id, amount));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201]);
    const entryIds = answers.map((a) => a.body.entry_id as string);
    expect(new Set(entryIds).size).toBe(4);

    for (const id of ids) {
      await flush(id);
      expect((await d1Entries(id)).map((e) => [e.kind, e.amount])).toEqual([
        ["grant", 100],
        ["debit", -3],
        ["debit", -4],
      ]);
      const listed = await api("GET", `/v1/accounts/${id}/entries`);
      expect(listed.body.data.map((e: { id: string }) => e.id)).toEqual([`ent_${id}_3`, `ent_${id}_2`, `ent_${id}_1`]);
    }
    // What a debit answered is the id its entry is listed under.
    expect(entryIds).toEqual(["ent_twin-a_2", "ent_twin-a_3", "ent_twin-b_2", "ent_twin-b_3"]);
  });

  it("keep their events apart too", async () => {
    for (const id of ["twin-ev-a", "twin-ev-b"]) {
      await openAccount(id, 10);
      await runInDurableObject(ledger(id), (_instance, state) => {
        state.storage.sql.exec("UPDATE account SET tag = 'evtwins0'");
      });
      expect((await api("PUT", `/v1/accounts/${id}/alerts`, { body: { low_balance_threshold: 100 } })).status).toBe(200);
      await flush(id);
    }
    const rows = [];
    for (const id of ["twin-ev-a", "twin-ev-b"]) {
      const found = await (await historyOf(id)).prepare("SELECT account_id, seq, type FROM account_events WHERE account_id = ?").bind(id).all();
      rows.push(...found.results);
    }
    expect(rows).toEqual([
      { account_id: "twin-ev-a", seq: 1, type: "balance.low" },
      { account_id: "twin-ev-b", seq: 1, type: "balance.low" },
    ]);
  });
});

describe("an object upgraded from the tag-keyed schema", () => {
  it("ships its history again, so rows D1 lost to a collision come back", async () => {
    const id = "reship";
    await openAccount(id, 50);
    expect((await debit(id, 5)).status).toBe(201);
    await flush(id);
    // As if another account with the same tag had owned these keys: D1 never kept them.
    await (await historyOf(id)).prepare("DELETE FROM ledger_entries WHERE account_id = ?").bind(id).run();
    // The object as it was before schema v4, restarted.
    await runInDurableObject(ledger(id), (_instance, state) => {
      // Undo what the later schema versions added, so the upgrade runs them as it would on such an object.
      state.storage.sql.exec(
        "ALTER TABLE account DROP COLUMN auto_recharge; ALTER TABLE account DROP COLUMN allowance; ALTER TABLE lots DROP COLUMN expiring_notified; ALTER TABLE account DROP COLUMN blocks; DROP TABLE clawbacks; DROP TABLE purchase_claims; DROP INDEX lots_reference;",
      );
      state.storage.kv.put("schema_version", 3);
    });
    await evict(id);
    await flush(id);
    expect((await d1Entries(id)).map((e) => e.amount)).toEqual([50, -5]);
  });
});

describe("the D1 migration to (account_id, seq) keys", () => {
  it("carries existing entries and events over, reading each event's seq from its old id", async () => {
    const db = env.MIGRATION_TEST_DB;
    const [init, rekey, ...later] = env.TEST_MIGRATIONS;
    expect(init?.name).toMatch(/^0000_/);
    expect(rekey?.name).toMatch(/^0001_/);
    for (const q of init!.queries) await db.prepare(q).run();
    await db.batch([
      db.prepare(
        `INSERT INTO ledger_entries (id, account_id, seq, kind, amount, balance_after, created_at) VALUES
          ('ent_abcd1234_1', 'old-a', 1, 'grant', 100, 100, 1000), ('ent_abcd1234_2', 'old-a', 2, 'debit', -7, 93, 2000),
          ('ent_zzzz9999_1', 'old-b', 1, 'grant', 40, 40, 1500)`,
      ),
      db.prepare(
        `INSERT INTO account_events (id, account_id, type, data, created_at) VALUES
          ('evt_abcd1234_1', 'old-a', 'balance.low', '{}', 2000), ('evt_zzzz9999_12', 'old-b', 'hold.expired', '{"x":1}', 1600)`,
      ),
    ]);
    for (const q of rekey!.queries) await db.prepare(q).run();
    for (const m of later) for (const q of m.queries) await db.prepare(q).run();

    const entries = await db.prepare("SELECT account_id, seq, kind, amount, balance_after, created_at FROM ledger_entries ORDER BY account_id, seq").all();
    expect(entries.results).toEqual([
      { account_id: "old-a", seq: 1, kind: "grant", amount: 100, balance_after: 100, created_at: 1000 },
      { account_id: "old-a", seq: 2, kind: "debit", amount: -7, balance_after: 93, created_at: 2000 },
      { account_id: "old-b", seq: 1, kind: "grant", amount: 40, balance_after: 40, created_at: 1500 },
    ]);
    const events = await db.prepare("SELECT account_id, seq, type, data, created_at FROM account_events ORDER BY account_id").all();
    expect(events.results).toEqual([
      { account_id: "old-a", seq: 1, type: "balance.low", data: "{}", created_at: 2000 },
      { account_id: "old-b", seq: 12, type: "hold.expired", data: '{"x":1}', created_at: 1600 },
    ]);
    // The same (account, seq) shipped again is recognised, another account's is not confused with it.
    await db.prepare("INSERT OR IGNORE INTO ledger_entries (account_id, seq, kind, amount, balance_after, created_at) VALUES ('old-a', 2, 'debit', -7, 93, 2000), ('old-c', 2, 'debit', -1, 9, 2100)").run();
    const count = await db.prepare("SELECT count(*) AS n FROM ledger_entries").first<{ n: number }>();
    expect(count?.n).toBe(4);
  });
});
