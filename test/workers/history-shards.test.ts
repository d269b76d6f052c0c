import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { shardFor, shardNames } from "../../workers/db/shards";
import type { Env } from "../../workers/env";
import { d1, realEnv, recordingQueue, swapObjectEnv } from "./history-doubles";
import { api, flush, ledger, openAccount, shardOf, steadyClock } from "./helpers";

// Accounts opened through the API are spread over the configured history shards; each account's
// history lives in the shard its directory row names, and the API reads it from there.

const CONFIGURED = shardNames(realEnv.HISTORY_SHARDS);
const DATABASES = ["DB", "HISTORY_1", "HISTORY_2"] as const;

const entriesIn = async (db: string, id: string) =>
  (await d1(db).prepare("SELECT count(*) AS n FROM ledger_entries WHERE account_id = ?").bind(id).first<{ n: number }>())?.n;

const directoryShard = async (id: string) =>
  (await realEnv.DB.prepare("SELECT history_shard FROM accounts WHERE id = ?").bind(id).first<{ history_shard: string }>())?.history_shard;

describe("40 accounts opened through the API", () => {
  it("land on both shards, each account's history in its recorded shard only, read back from there", async () => {
    expect(CONFIGURED).toEqual(["HISTORY_1", "HISTORY_2"]);
    const ids = Array.from({ length: 40 }, (_, i) => `spread-${i}`);
    for (const id of ids) {
      await openAccount(id, 100);
      expect((await api("POST", `/v1/accounts/${id}/debits`, { body: { amount: 7, description: id } })).status).toBe(201);
    }
    await Promise.all(ids.map((id) => flush(id)));

    const used = new Map<string, number>();
    for (const id of ids) {
      const shard = await directoryShard(id);
      // The directory names the shard the object chose when it opened the account.
      expect(shard).toBe(await shardOf(id));
      expect(shard).toBe(shardFor(id, CONFIGURED));
      used.set(shard as string, (used.get(shard as string) ?? 0) + 1);
      for (const db of DATABASES) expect(await entriesIn(db, id)).toBe(db === shard ? 2 : 0);

      const listed = await api("GET", `/v1/accounts/${id}/entries`);
      expect(listed.status).toBe(200);
      expect(listed.body.data.map((e: { id: string; amount: number; description: string | null }) => [e.id, e.amount, e.description])).toEqual([
        [`ent_${id}_2`, -7, id],
        [`ent_${id}_1`, 100, null],
      ]);
    }
    expect([...used.keys()].sort()).toEqual(["HISTORY_1", "HISTORY_2"]);
    for (const n of used.values()) expect(n).toBeGreaterThanOrEqual(10);
  });
});

describe("a shard appended to HISTORY_SHARDS", () => {
  // The main database appended as a third shard: a real binding, so history can land there.
  const APPENDED = [...CONFIGURED, "DB"];
  const widened = (current: Env, queue: Queue): Env => ({ ...current, HISTORY_SHARDS: APPENDED.join(","), HISTORY: queue }) as Env;
  const firstId = (prefix: string, accept: (id: string) => boolean) => {
    for (let i = 0; ; i++) if (accept(`${prefix}-${i}`)) return `${prefix}-${i}`;
  };

  it("moves no account already opened, and sends new ones to the new shard", async () => {
    // An account whose shard a recomputation over the longer list would change …
    const old = firstId("appended-old", (id) => shardFor(id, APPENDED) !== shardFor(id, CONFIGURED));
    // … and a new one the longer list puts on the appended shard.
    const fresh = firstId("appended-new", (id) => shardFor(id, APPENDED) === "DB");

    await steadyClock(old);
    await openAccount(old, 50);
    await flush(old);
    const recorded = await directoryShard(old);
    expect(recorded).toBe(shardFor(old, CONFIGURED));

    // Both objects now see the widened list; what they send is recorded, then goes on to the real Queue.
    const sent = recordingQueue({ forward: true });
    await steadyClock(fresh);
    const restores = [await swapObjectEnv(old, (env) => widened(env, sent.queue)), await swapObjectEnv(fresh, (env) => widened(env, sent.queue))];
    try {
      expect((await api("PUT", `/v1/accounts/${old}`, { body: { name: "renamed" } })).status).toBe(200);
      expect((await api("POST", `/v1/accounts/${old}/debits`, { body: { amount: 5 } })).status).toBe(201);
      await openAccount(fresh, 30);
      await runDurableObjectAlarm(ledger(old));
      await runDurableObjectAlarm(ledger(fresh));
      const shardsSent = Object.fromEntries(sent.calls.flatMap((c) => c.bodies).map((b) => [b.account.id, b.shard]));
      expect(shardsSent).toEqual({ [old]: recorded, [fresh]: "DB" });
    } finally {
      for (const restore of restores) await restore();
    }
    await flush(old);
    await flush(fresh);

    // The old account keeps its shard in its object and in the directory; its new entry is there too.
    expect(await shardOf(old)).toBe(recorded);
    const oldRow = await realEnv.DB.prepare("SELECT name, history_shard, last_seq FROM accounts WHERE id = ?").bind(old).first();
    expect(oldRow).toEqual({ name: "renamed", history_shard: recorded, last_seq: 2 });
    for (const db of DATABASES) expect(await entriesIn(db, old)).toBe(db === recorded ? 2 : 0);
    // The new account went to the appended shard, and is read from there.
    expect(await shardOf(fresh)).toBe("DB");
    expect(await directoryShard(fresh)).toBe("DB");
    for (const db of DATABASES) expect(await entriesIn(db, fresh)).toBe(db === "DB" ? 1 : 0);
    for (const id of [old, fresh]) expect((await api("GET", `/v1/accounts/${id}/entries`)).body.data.length).toBe(id === old ? 2 : 1);
  });
});

describe("HISTORY_SHARDS naming a database that is not bound", () => {
  it("refuses to open an account there, and leaves nothing behind", async () => {
    const id = "shard-unbound-open";
    // The object is created by the first call; give that instance a misconfigured env first.
    const restore = await swapObjectEnv(id, (env) => ({ ...env, HISTORY_SHARDS: "NOT_BOUND" }) as Env);
    try {
      const opened = await api("PUT", `/v1/accounts/${id}`, { body: { name: "x" } });
      expect(opened.status).toBe(500);
      expect((await api("GET", `/v1/accounts/${id}`)).status).toBe(404);
    } finally {
      await restore();
    }
    // Configured again, the same account opens normally.
    expect((await api("PUT", `/v1/accounts/${id}`, { body: { name: "x" } })).status).toBe(201);
  });
});
