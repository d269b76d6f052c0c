import { describe, expect, it } from "vitest";
import { addSpend, currentSpend, dayKey, isValidTimeZone, limitBreach, periodKeys } from "../../durable-objects/ledger/limits";
import type { Spend } from "../../durable-objects/ledger/types";

const at = (iso: string) => Date.parse(iso);

describe("calendar keys", () => {
  it("UTC when no time zone is set", () => {
    expect(dayKey(at("2026-11-24T23:59:59.999Z"), null)).toBe("2026-11-24");
    expect(dayKey(at("2026-11-25T00:00:00.000Z"), null)).toBe("2026-11-25");
    expect(periodKeys(at("2026-12-01T00:00:00.000Z"), null)).toEqual({ dayKey: "2026-12-01", monthKey: "2026-12" });
  });

  it("in the account's time zone: 2026-11-25T03:00Z is still 2026-11-24 in Los Angeles", () => {
    expect(dayKey(at("2026-11-25T03:00:00Z"), "America/Los_Angeles")).toBe("2026-11-24");
    expect(dayKey(at("2026-11-25T08:00:00Z"), "America/Los_Angeles")).toBe("2026-11-25"); // midnight PST
    // East of UTC the day starts earlier.
    expect(dayKey(at("2026-11-24T23:30:00Z"), "Asia/Tokyo")).toBe("2026-11-25");
  });

  it("the month follows the zone too", () => {
    expect(periodKeys(at("2026-12-01T05:00:00Z"), "America/Los_Angeles")).toEqual({ dayKey: "2026-11-30", monthKey: "2026-11" });
    expect(periodKeys(at("2026-12-01T05:00:00Z"), null)).toEqual({ dayKey: "2026-12-01", monthKey: "2026-12" });
  });

  it("recognises valid and invalid zones", () => {
    expect(isValidTimeZone("America/Los_Angeles")).toBe(true);
    expect(isValidTimeZone("Europe/Paris")).toBe(true);
    expect(isValidTimeZone("Mars/Olympus_Mons")).toBe(false);
  });
});

describe("spend counters", () => {
  const spend: Spend = { dayKey: "2026-11-24", day: 40, monthKey: "2026-11", month: 300 };

  it("stay as they are within the same day", () => {
    expect(currentSpend(spend, at("2026-11-24T23:00:00Z"), null)).toEqual(spend);
  });

  it("the day counter restarts on a new day, the month counter keeps counting", () => {
    expect(currentSpend(spend, at("2026-11-25T00:00:00Z"), null)).toEqual({
      dayKey: "2026-11-25",
      day: 0,
      monthKey: "2026-11",
      month: 300,
    });
  });

  it("both restart in a new month", () => {
    expect(currentSpend(spend, at("2026-12-01T00:00:00Z"), null)).toEqual({
      dayKey: "2026-12-01",
      day: 0,
      monthKey: "2026-12",
      month: 0,
    });
  });

  it("a new UTC day is not a new day for an account in Los Angeles", () => {
    // 2026-11-25T02:00Z is 18:00 on the 24th in Los Angeles.
    expect(currentSpend(spend, at("2026-11-25T02:00:00Z"), "America/Los_Angeles")).toEqual(spend);
    expect(currentSpend(spend, at("2026-11-25T02:00:00Z"), null).day).toBe(0);
    expect(currentSpend(spend, at("2026-11-25T08:00:00Z"), "America/Los_Angeles").day).toBe(0);
  });

  it("addSpend adds to both counters", () => {
    expect(addSpend(spend, 15)).toEqual({ ...spend, day: 55, month: 315 });
  });
});

describe("limitBreach", () => {
  const spend: Spend = { dayKey: "2026-11-24", day: 60, monthKey: "2026-11", month: 200 };

  it("no limits, no breach", () => {
    expect(limitBreach({ daily: null, monthly: null }, spend, 1_000_000, 1_000_000)).toBeNull();
  });

  it("reaching the limit exactly is allowed; one more is a breach", () => {
    expect(limitBreach({ daily: 100, monthly: null }, spend, 0, 40)).toBeNull();
    expect(limitBreach({ daily: 100, monthly: null }, spend, 0, 41)).toEqual({ period: "daily", limit: 100, committed: 60 });
  });

  it("active holds count as committed spend", () => {
    expect(limitBreach({ daily: 100, monthly: null }, spend, 30, 10)).toBeNull();
    expect(limitBreach({ daily: 100, monthly: null }, spend, 30, 11)).toEqual({ period: "daily", limit: 100, committed: 90 });
    expect(limitBreach({ daily: null, monthly: 250 }, spend, 45, 6)).toEqual({ period: "monthly", limit: 250, committed: 245 });
  });

  it("the daily limit is reported before the monthly one when both are passed", () => {
    expect(limitBreach({ daily: 100, monthly: 210 }, spend, 0, 50)).toEqual({ period: "daily", limit: 100, committed: 60 });
    expect(limitBreach({ daily: 100, monthly: 210 }, spend, 0, 20)).toEqual({ period: "monthly", limit: 210, committed: 200 });
  });
});
