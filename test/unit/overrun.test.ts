import { describe, expect, it } from "vitest";
import { overrunAllowance, parseOverrunPercent, splitCapture } from "../../durable-objects/ledger/overrun";

const noLimits = { daily: null, monthly: null };
const spend = (day: number, month = day) => ({ dayKey: "2026-11-24", day, monthKey: "2026-11", month });

describe("overrunAllowance", () => {
  it("is ⌊hold × percent / 100⌋, exact even where the product passes 2^53", () => {
    expect(overrunAllowance(40, 100)).toBe(40);
    expect(overrunAllowance(3, 50)).toBe(1);
    expect(overrunAllowance(40, 0)).toBe(0);
    expect(overrunAllowance(Number.MAX_SAFE_INTEGER, 100)).toBe(Number.MAX_SAFE_INTEGER);
    expect(overrunAllowance(2 ** 52, 150)).toBe(1.5 * 2 ** 52);
  });
});

describe("splitCapture", () => {
  it("charges everything up to the hold, even past a limit", () => {
    expect(splitCapture(30, 40, 40, { daily: 10, monthly: null }, spend(500), 40)).toEqual({ charged: 30, uncharged: 0 });
  });

  it("charges the excess up to the allowance", () => {
    expect(splitCapture(70, 40, 40, noLimits, spend(0), 40)).toEqual({ charged: 70, uncharged: 0 });
    expect(splitCapture(90, 40, 40, noLimits, spend(0), 40)).toEqual({ charged: 80, uncharged: 10 });
  });

  it("keeps the excess within limit + allowance, measured against what the period already committed", () => {
    // Committed 100 of a daily 100 (this hold of 40 included): room for the allowance, no more.
    expect(splitCapture(200, 40, 40, { daily: 100, monthly: null }, spend(60), 40)).toEqual({ charged: 80, uncharged: 120 });
    // Another overrun already took the day to 130: only 10 of this allowance is left.
    expect(splitCapture(200, 40, 40, { daily: 100, monthly: null }, spend(90), 40)).toEqual({ charged: 50, uncharged: 150 });
    // The monthly limit binds the same way.
    expect(splitCapture(200, 40, 40, { daily: null, monthly: 100 }, spend(0, 90), 40)).toEqual({ charged: 50, uncharged: 150 });
  });
});

describe("parseOverrunPercent", () => {
  it("defaults to 100 and takes whole numbers 0-10000", () => {
    expect(parseOverrunPercent(undefined)).toBe(100);
    expect(parseOverrunPercent("")).toBe(100);
    expect(parseOverrunPercent("0")).toBe(0);
    expect(parseOverrunPercent("250")).toBe(250);
  });

  it.each(["-1", "1.5", "ten", "10001", "1e3"])("refuses %j, naming the variable", (value) => {
    expect(() => parseOverrunPercent(value)).toThrow(/CAPTURE_OVERRUN_MAX_PERCENT/);
  });
});
