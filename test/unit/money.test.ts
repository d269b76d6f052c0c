import { describe, expect, it } from "vitest";
import { add, AmountError, assertAmount, negate, sub } from "../../durable-objects/ledger/money";

const MAX = Number.MAX_SAFE_INTEGER;

/** The error `fn` throws, so its class and message can both be checked. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

function expectAmountError(fn: () => unknown, message: RegExp): void {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(AmountError);
  expect((error as AmountError).name).toBe("AmountError");
  expect((error as AmountError).message).toMatch(message);
}

describe("assertAmount", () => {
  it("returns safe integers unchanged, including 0, negatives and both ends of the safe range", () => {
    for (const value of [0, 1, -1, 1250, MAX, -MAX]) expect(assertAmount(value)).toBe(value);
  });

  it("refuses floats, NaN and infinities, naming the amount and the value", () => {
    expectAmountError(() => assertAmount(1.5), /^amount must be a safe integer, got 1\.5$/);
    expectAmountError(() => assertAmount(0.1 + 0.2), /^amount must be a safe integer/);
    expectAmountError(() => assertAmount(Number.NaN), /got NaN$/);
    expectAmountError(() => assertAmount(Number.POSITIVE_INFINITY), /got Infinity$/);
    expectAmountError(() => assertAmount(Number.NEGATIVE_INFINITY), /got -Infinity$/);
  });

  it("refuses 2^53: past it, adding 1 credit can silently do nothing", () => {
    expectAmountError(() => assertAmount(2 ** 53), /got 9007199254740992$/);
    expectAmountError(() => assertAmount(-(2 ** 53)), /got -9007199254740992$/);
  });

  it("names the field it was given, so the error says which amount was wrong", () => {
    expectAmountError(() => assertAmount(2.5, "cost"), /^cost must be a safe integer, got 2\.5$/);
  });
});

describe("add and sub", () => {
  it("are exact up to the edge of the safe range", () => {
    expect(add(1250, 750)).toBe(2000);
    expect(add(MAX - 1, 1)).toBe(MAX);
    expect(add(-MAX, MAX)).toBe(0);
    expect(sub(1250, 2000)).toBe(-750);
    expect(sub(-MAX + 1, 1)).toBe(-MAX);
    expect(sub(0, MAX)).toBe(-MAX);
  });

  it("refuse a sum past MAX_SAFE_INTEGER in either direction, calling it the sum", () => {
    expectAmountError(() => add(MAX, 1), /^sum must be a safe integer, got 9007199254740992$/);
    expectAmountError(() => add(-MAX, -1), /^sum must be a safe integer/);
  });

  it("refuse a difference past MAX_SAFE_INTEGER in either direction, calling it the difference", () => {
    expectAmountError(() => sub(-MAX, 1), /^difference must be a safe integer, got -9007199254740992$/);
    expectAmountError(() => sub(MAX, -1), /^difference must be a safe integer/);
  });

  it("refuse float operands even when both are small", () => {
    expectAmountError(() => add(0.5, 1), /^sum/);
    expectAmountError(() => sub(2, 0.5), /^difference/);
  });
});

describe("negate", () => {
  it("flips the sign", () => {
    expect(negate(5)).toBe(-5);
    expect(negate(-5)).toBe(5);
    expect(negate(MAX)).toBe(-MAX);
  });

  it("gives +0 for 0 (and for -0): a -0 would be written into the journal as an amount", () => {
    expect(Object.is(negate(0), 0)).toBe(true);
    expect(Object.is(negate(-0), 0)).toBe(true);
  });
});
