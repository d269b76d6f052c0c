// Amounts are integers in the smallest credit unit. A float or an amount past 2^53 would silently
// lose credits, so every arithmetic result that reaches storage passes through these checks.

export class AmountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AmountError";
  }
}

export function assertAmount(value: number, what = "amount"): number {
  if (!Number.isSafeInteger(value)) throw new AmountError(`${what} must be a safe integer, got ${value}`);
  return value;
}

export function add(a: number, b: number): number {
  return assertAmount(a + b, "sum");
}

export function sub(a: number, b: number): number {
  return assertAmount(a - b, "difference");
}

/** −value, without the −0 that `-0` would write into the journal. */
export function negate(value: number): number {
  return value === 0 ? 0 : -value;
}
