import { describe, expect, it } from "vitest";
import { MAIN_SHARD, shardFor, shardHash, shardNames } from "../../workers/db/shards";

describe("shardNames", () => {
  it("is the main database alone when unset or blank", () => {
    expect(MAIN_SHARD).toBe("DB");
    for (const setting of [undefined, "", "   "]) expect(shardNames(setting)).toEqual(["DB"]);
  });

  it("reads a comma-separated list in order, around whitespace", () => {
    expect(shardNames("HISTORY_1,HISTORY_2")).toEqual(["HISTORY_1", "HISTORY_2"]);
    expect(shardNames("  HISTORY_2 ,\tHISTORY_1 , DB ")).toEqual(["HISTORY_2", "HISTORY_1", "DB"]);
    expect(shardNames("_h9")).toEqual(["_h9"]);
  });

  it("refuses what is not a binding name", () => {
    for (const setting of ["HISTORY-1", "1HISTORY", "HISTORY 1", "HISTORY_1,", ",HISTORY_1", "HISTORY_1,,HISTORY_2", "H1;H2", "é"]) {
      expect(() => shardNames(setting), setting).toThrow(/is not a binding name/);
    }
  });

  it("refuses a database named twice", () => {
    expect(() => shardNames("HISTORY_1,HISTORY_2,HISTORY_1")).toThrow(/names a database twice/);
    expect(() => shardNames("DB, DB")).toThrow(/names a database twice/);
  });
});

describe("shardHash", () => {
  it("is pinned: another hash would move where new accounts go", () => {
    // FNV-1a over UTF-8 then murmur3's finalizer, for ids of the kind accounts have, including one
    // outside ASCII (its UTF-8 bytes are hashed).
    expect(shardHash("")).toBe(2872998923);
    expect(shardHash("a")).toBe(444641715);
    expect(shardHash("foobar")).toBe(202221276);
    expect(shardHash("acct_123")).toBe(918937497);
    expect(shardHash("twin-a")).toBe(311538908);
    expect(shardHash("héllo")).toBe(4198468525);
  });

  it("mixes every character into the low bits: ids a character apart do not all share a shard", () => {
    // FNV-1a alone keeps the parity of the bytes in its lowest bit: acct_a, acct_c, acct_e … would all
    // land on the same one of two shards.
    const sameParity = "acegikmoqsuwy".split("").map((c) => `acct_${c}`);
    expect(new Set(sameParity.map((id) => shardFor(id, ["H1", "H2"]))).size).toBe(2);
    expect(new Set(sameParity.map((id) => shardFor(id, ["H1", "H2", "H3", "H4"]))).size).toBe(4);
  });

  it("is an unsigned 32-bit integer, the same every time", () => {
    for (const id of ["x", "user-42", "a".repeat(1000), "😀"]) {
      const h = shardHash(id);
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
      expect(shardHash(id)).toBe(h);
    }
  });
});

describe("shardFor", () => {
  const ids = Array.from({ length: 10_000 }, (_, i) => `acct_${i}`);
  const spread = (names: string[], of: string[] = ids) => {
    const counts = Object.fromEntries(names.map((n) => [n, 0]));
    for (const id of of) counts[shardFor(id, names)]!++;
    return counts;
  };

  it("spreads 10,000 ids roughly evenly over 2 and over 4 shards", () => {
    for (const names of [["H1", "H2"], ["H1", "H2", "H3", "H4"]]) {
      const expected = ids.length / names.length;
      for (const n of Object.values(spread(names))) expect(Math.abs(n - expected) / expected).toBeLessThan(0.05);
    }
    // Random ids too (UUIDs, as many callers use).
    const uuids = Array.from({ length: 10_000 }, () => crypto.randomUUID());
    for (const n of Object.values(spread(["H1", "H2", "H3", "H4"], uuids))) expect(Math.abs(n - 2500) / 2500).toBeLessThan(0.1);
  });

  it("puts everything on the one shard of a one-shard list", () => {
    expect(Object.values(spread(["DB"]))).toEqual([10_000]);
  });

  it("would move about two thirds of the accounts if recomputed over an appended list: hence it is recorded", () => {
    // The object records the shard it chose when the account was opened and never recomputes it
    // (test/workers/history-shards.test.ts shows that with the directory row).
    const moved = ids.filter((id) => shardFor(id, ["H1", "H2"]) !== shardFor(id, ["H1", "H2", "H3"])).length;
    // Same index under mod 2 and mod 3 only when hash mod 6 is 0 or 1: a third stays, two thirds move.
    expect(Math.abs(moved / ids.length - 2 / 3)).toBeLessThan(0.03);
    // A new shard gets about its share of new accounts.
    expect(Math.abs(spread(["H1", "H2", "H3"]).H3! - 3333) / 3333).toBeLessThan(0.05);
  });
});
