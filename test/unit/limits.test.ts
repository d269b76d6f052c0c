import { describe, expect, it } from "vitest";
import { addSpend, cachedFormatters, canonicalTimeZone, currentSpend, dayKey, isValidTimeZone, limitBreach, MAX_FORMATTERS, periodKeys, rezoneSpend } from "../../durable-objects/ledger/limits";
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

describe("rezoneSpend: changing the account's time zone", () => {
  // At 23:30 UTC it is already 08:30 the next day in Tokyo, so the two zones disagree about the day
  // (and, on the last day of a month, about the month).
  const lateOn24th = at("2026-11-24T23:30:00Z");
  const lateOn30th = at("2026-11-30T23:30:00Z");

  it("counters of today in the old zone carry over, filed under the new zone's day and month", () => {
    // 23:30 UTC on the 30th: still November in UTC, already 1 December in Tokyo.
    const spend: Spend = { dayKey: "2026-11-30", day: 40, monthKey: "2026-11", month: 300 };
    expect(rezoneSpend(spend, lateOn30th, null, "Asia/Tokyo")).toEqual({
      dayKey: "2026-12-01",
      day: 40,
      monthKey: "2026-12",
      month: 300,
    });
  });

  it("counters of yesterday in the old zone carry 0 into today, but the month's spend is kept", () => {
    // In Tokyo the 24th ended at 15:00 UTC; in UTC it is still the 24th, so merely relabelling (or
    // judging the counters by the new zone's calendar) would wrongly keep the 40.
    const spend: Spend = { dayKey: "2026-11-24", day: 40, monthKey: "2026-11", month: 300 };
    expect(rezoneSpend(spend, lateOn24th, "Asia/Tokyo", null)).toEqual({
      dayKey: "2026-11-24",
      day: 0,
      monthKey: "2026-11",
      month: 300,
    });
  });

  it("counters of an older day carry 0 into today when moving east as well", () => {
    const spend: Spend = { dayKey: "2026-11-23", day: 40, monthKey: "2026-11", month: 300 };
    expect(rezoneSpend(spend, lateOn24th, null, "Asia/Tokyo")).toEqual({
      dayKey: "2026-11-25",
      day: 0,
      monthKey: "2026-11",
      month: 300,
    });
  });

  it("counters of last month in the old zone carry 0 for both the day and the month", () => {
    // November is over in Tokyo but not in UTC: the November counters belong to a finished month.
    const spend: Spend = { dayKey: "2026-11-30", day: 40, monthKey: "2026-11", month: 300 };
    expect(rezoneSpend(spend, lateOn30th, "Asia/Tokyo", null)).toEqual({
      dayKey: "2026-11-30",
      day: 0,
      monthKey: "2026-11",
      month: 0,
    });
  });

  it("counters of last month carry 0 for both when moving east as well", () => {
    const spend: Spend = { dayKey: "2026-10-31", day: 40, monthKey: "2026-10", month: 300 };
    expect(rezoneSpend(spend, lateOn24th, null, "Asia/Tokyo")).toEqual({
      dayKey: "2026-11-25",
      day: 0,
      monthKey: "2026-11",
      month: 0,
    });
  });
});

describe("time zone spellings", () => {
  it("canonicalTimeZone gives one spelling per zone, and null for what is not one", () => {
    expect(canonicalTimeZone("eUrOpE/pArIs")).toBe("Europe/Paris");
    expect(canonicalTimeZone("Europe/Paris")).toBe("Europe/Paris");
    expect(canonicalTimeZone("utc")).toBe("UTC");
    expect(canonicalTimeZone("Mars/Olympus_Mons")).toBeNull();
  });

  it("the formatter cache stays bounded whatever spellings reach it", () => {
    const name = "america/los_angeles";
    // 2^12 spellings of one zone by upper-casing different letters.
    for (let mask = 0; mask < 4096; mask++) {
      let letter = 0;
      const spelled = [...name].map((ch) => (/[a-z]/.test(ch) && (mask >> letter++) & 1 ? ch.toUpperCase() : ch)).join("");
      dayKey(Date.UTC(2026, 10, 24, 12), spelled);
    }
    expect(cachedFormatters()).toBeLessThanOrEqual(MAX_FORMATTERS);
    // Still correct for the zone after the churn.
    expect(dayKey(Date.UTC(2026, 10, 25, 3), "America/Los_Angeles")).toBe("2026-11-24");
  });
});
