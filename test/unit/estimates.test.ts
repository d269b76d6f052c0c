import { describe, expect, it } from "vitest";
import { remainingOperations } from "../../durable-objects/ledger/estimates";

const MAX = Number.MAX_SAFE_INTEGER;

describe("remainingOperations", () => {
  it("divides by the history's average cost when there is history", () => {
    // Average 20 a call, though the quote says 50.
    expect(remainingOperations(100, { count: 5, credits: 100 }, 50)).toBe(5);
    // Rounds down: 99 pays for 4 calls at 20, not 5.
    expect(remainingOperations(99, { count: 5, credits: 100 }, 50)).toBe(4);
  });

  it("uses the quote's cost when there is no history", () => {
    expect(remainingOperations(100, null, 30)).toBe(3);
    expect(remainingOperations(90, null, 30)).toBe(3);
    expect(remainingOperations(89, null, 30)).toBe(2);
  });

  it("uses the quote's cost when the history counts no operations", () => {
    expect(remainingOperations(100, { count: 0, credits: 0 }, 10)).toBe(10);
    expect(remainingOperations(100, { count: 0, credits: 5 }, 10)).toBe(10);
  });

  it("is exact where a float average is not: 35 at 7/3 a call is 15 calls, not 14", () => {
    // 35 / (7/3) is 14.999… in floating point.
    expect(remainingOperations(35, { count: 3, credits: 7 }, 1)).toBe(15);
  });

  it("says 0 when nothing is available, even when available is negative (debt or overrun)", () => {
    expect(remainingOperations(0, null, 10)).toBe(0);
    expect(remainingOperations(-50, null, 10)).toBe(0);
    expect(remainingOperations(-50, { count: 2, credits: 10 }, 10)).toBe(0);
    expect(remainingOperations(9, null, 10)).toBe(0);
  });

  it("says null (unlimited) when the operation costs nothing", () => {
    expect(remainingOperations(100, null, 0)).toBeNull();
    expect(remainingOperations(0, null, 0)).toBeNull();
    expect(remainingOperations(100, { count: 4, credits: 0 }, 10)).toBeNull();
  });

  it("stays exact near 2^53", () => {
    // MAX * 2 / 3 = 6004799503160660.67; both float forms (MAX / (3/2) and MAX * 2 / 3) round to …661.
    expect(remainingOperations(MAX, { count: 2, credits: 3 }, 1)).toBe(6004799503160660);
    // MAX * 10 overflows 2^53 in floating point and comes back as MAX - 1.
    expect(remainingOperations(MAX, { count: 10, credits: 10 }, 1)).toBe(MAX);
    expect(remainingOperations(MAX, null, 1)).toBe(MAX);
    expect(remainingOperations(MAX, null, MAX)).toBe(1);
  });
});
