import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { exactCredits, priceOperation, type Price, type PriceResult, type Rate } from "../../durable-objects/ledger/pricing";

const chat: Price = {
  operation: "chat.gpt-4o",
  rates: {
    input_tokens: { credits: 250, per: 1_000_000 },
    output_tokens: { credits: 1000, per: 1_000_000 },
    requests: { credits: 1, per: 1 },
  },
  description: null,
};

function cost(result: PriceResult): number {
  if (!result.ok) throw new Error(`expected a cost, got an error on ${result.field}: ${result.message}`);
  return result.cost;
}

describe("priceOperation: exact rates, rounded up once", () => {
  it("three quantities each worth 1/3 credit cost 1 credit, not 3", () => {
    const thirds: Price = {
      operation: "thirds",
      rates: { a: { credits: 1, per: 3 }, b: { credits: 1, per: 3 }, c: { credits: 1, per: 3 } },
      description: null,
    };
    expect(cost(priceOperation(thirds, { a: 1, b: 1, c: 1 }))).toBe(1);
  });

  it("fractions with different denominators add exactly before the one ceil (1/7 + 1/11 + 1/13 → 1)", () => {
    const odd: Price = {
      operation: "odd",
      rates: { a: { credits: 1, per: 7 }, b: { credits: 1, per: 11 }, c: { credits: 1, per: 13 } },
      description: null,
    };
    expect(cost(priceOperation(odd, { a: 1, b: 1, c: 1 }))).toBe(1);
    // 7/7 + 11/11 + 13/13 is exactly 3: no spurious rounding up to 4.
    expect(cost(priceOperation(odd, { a: 7, b: 11, c: 13 }))).toBe(3);
  });

  it("a fractional total is rounded up; an exact total is not", () => {
    expect(cost(priceOperation(chat, { input_tokens: 1000 }))).toBe(1); // 0.25 → 1
    expect(cost(priceOperation(chat, { input_tokens: 4000 }))).toBe(1); // exactly 1
    expect(cost(priceOperation(chat, { input_tokens: 4001 }))).toBe(2); // 1.00025 → 2
    // 1500 × 250/1M + 500 × 1000/1M + 1 = 0.375 + 0.5 + 1 = 1.875 → 2
    expect(cost(priceOperation(chat, { input_tokens: 1500, output_tokens: 500, requests: 1 }))).toBe(2);
  });

  it("the breakdown shows each line's exact cost, and only the total is rounded", () => {
    const result = priceOperation(chat, { input_tokens: 1500, output_tokens: 500, requests: 1 });
    expect(result).toEqual({
      ok: true,
      cost: 2,
      breakdown: [
        { quantity: "input_tokens", units: 1500, rate: { credits: 250, per: 1_000_000 }, cost: "0.375" },
        { quantity: "output_tokens", units: 500, rate: { credits: 1000, per: 1_000_000 }, cost: "0.5" },
        { quantity: "requests", units: 1, rate: { credits: 1, per: 1 }, cost: "1" },
      ],
    });
  });

  it("zero quantities cost 0, and so does an operation with no quantities", () => {
    expect(cost(priceOperation(chat, { input_tokens: 0, output_tokens: 0, requests: 0 }))).toBe(0);
    expect(cost(priceOperation(chat, {}))).toBe(0);
  });

  it("an unknown quantity is refused, naming the field and the quantities the operation prices", () => {
    const result = priceOperation(chat, { input_tokens: 10, images: 2 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.field).toBe("quantities.images");
    expect(result.message).toContain("'images'");
    expect(result.message).toContain("input_tokens, output_tokens, requests");
  });

  it("an unknown quantity named like a built-in object member (constructor, toString, __proto__) is refused naming the field", () => {
    // Quantities arrive as parsed JSON; a name that happens to exist on Object.prototype is still unknown.
    for (const name of ["constructor", "toString", "__proto__"]) {
      const quantities = JSON.parse(`{"${name}": 5}`) as Record<string, number>;
      let result: PriceResult | undefined;
      expect(() => {
        result = priceOperation(chat, quantities);
      }, name).not.toThrow();
      expect(result, name).toMatchObject({ ok: false, field: `quantities.${name}` });
    }
  });

  it("a cost up to 2^53 − 1 is exact, a cost above it is refused", () => {
    const max = Number.MAX_SAFE_INTEGER;
    const unit: Price = { operation: "unit", rates: { n: { credits: 1, per: 1 } }, description: null };
    expect(cost(priceOperation(unit, { n: max }))).toBe(max);
    // (2^53 − 1) × 3 / 3 is exactly 2^53 − 1; float arithmetic would drift here.
    const third: Price = { operation: "third", rates: { n: { credits: 3, per: 3 } }, description: null };
    expect(cost(priceOperation(third, { n: max }))).toBe(max);

    const double: Price = { operation: "double", rates: { n: { credits: 2, per: 1 } }, description: null };
    const over = priceOperation(double, { n: max });
    expect(over.ok).toBe(false);
    if (!over.ok) expect(over.field).toBe("quantities");
    // Two lines that are each fine but whose sum passes the limit.
    const two: Price = { operation: "two", rates: { a: { credits: 1, per: 1 }, b: { credits: 1, per: 1 } }, description: null };
    expect(priceOperation(two, { a: max, b: 1 }).ok).toBe(false);
  });

  it("property: the cost is the exact sum rounded up once — never below it, less than 1 above it, never above per-line rounding", () => {
    const rate: fc.Arbitrary<Rate> = fc.record({ credits: fc.integer({ min: 0, max: 5000 }), per: fc.integer({ min: 1, max: 1_000_000 }) });
    const lines = fc.array(fc.tuple(rate, fc.integer({ min: 0, max: 10_000_000 })), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(lines, (ls) => {
        const price: Price = { operation: "p", rates: {}, description: null };
        const quantities: Record<string, number> = {};
        ls.forEach(([r, units], i) => {
          price.rates[`q${i}`] = r;
          quantities[`q${i}`] = units;
        });
        const c = BigInt(cost(priceOperation(price, quantities)));
        // Exact sum as one fraction over the product of the denominators.
        let den = 1n;
        for (const [r] of ls) den *= BigInt(r.per);
        let num = 0n;
        for (const [r, units] of ls) num += (BigInt(units) * BigInt(r.credits) * den) / BigInt(r.per);
        expect(c * den >= num).toBe(true); // never undercharges
        expect((c - 1n) * den < num).toBe(true); // rounds up by less than one credit
        let perLine = 0n;
        for (const [r, units] of ls) perLine += (BigInt(units) * BigInt(r.credits) + BigInt(r.per) - 1n) / BigInt(r.per);
        expect(c <= perLine).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe("exactCredits", () => {
  it.each<[bigint, bigint, string]>([
    [3n, 8n, "0.375"],
    [7n, 2n, "3.5"],
    [4n, 2n, "2"],
    [0n, 7n, "0"],
    [1n, 3n, "1/3"],
    [10n, 6n, "5/3"],
    [1n, 1_000_000n, "0.000001"],
    [250n * 1500n, 1_000_000n, "0.375"],
    [7n, 40n, "0.175"],
    [9_007_199_254_740_993n, 10n, "900719925474099.3"],
  ])("%s/%s is %j", (num, den, text) => {
    expect(exactCredits(num, den)).toBe(text);
  });
});
