// Money in Stripe's minor units, shown and read back: JPY (0 decimals), USD (2), ISK (2 at Stripe, 0
// in Intl: the case that went wrong) and KWD (3).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatMoney, moneyInput, moneyStep, parseMoney, stripeExponent } from "../../workers/money/currency";

// Intl puts a no-break space between a currency code and the number; compare with plain spaces.
const shown = (minor: number, currency: string, locale = "en-US", options = {}) => formatMoney(minor, currency, locale, options).replace(/[\u00a0\u202f]/g, " ");

function minorOf(text: string, currency: string): number {
  const parsed = parseMoney(text, currency);
  if (!parsed.ok) throw new Error(`expected ${JSON.stringify(text)} to read as ${currency}, got: ${parsed.message}`);
  return parsed.minor;
}

function refusal(text: string, currency: string): string {
  const parsed = parseMoney(text, currency);
  if (parsed.ok) throw new Error(`expected ${JSON.stringify(text)} to be refused in ${currency}, got ${parsed.minor}`);
  return parsed.message;
}

describe("stripeExponent: Stripe's table, not Intl's", () => {
  it("zero-decimal, three-decimal, and two for everything else, whatever the case", () => {
    for (const c of ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]) expect(stripeExponent(c), c).toBe(0);
    for (const c of ["BHD", "JOD", "KWD", "OMR", "TND"]) expect(stripeExponent(c), c).toBe(3);
    for (const c of ["usd", "eur", "gbp", "isk", "huf", "twd", "USD", "ISK"]) expect(stripeExponent(c), c).toBe(2);
    expect(stripeExponent("jpy")).toBe(0);
    expect(stripeExponent("kwd")).toBe(3);
  });
});

describe("formatMoney", () => {
  it("JPY: whole yen", () => {
    expect(shown(500, "jpy")).toBe("¥500");
    expect(shown(123_456, "jpy")).toBe("¥123,456");
  });

  it("USD: always two decimals", () => {
    expect(shown(1234, "usd")).toBe("$12.34");
    expect(shown(500, "usd")).toBe("$5.00");
    expect(shown(5, "usd")).toBe("$0.05");
  });

  it("ISK: amount 500 is ISK 5, with decimals only when the amount has them", () => {
    expect(shown(500, "isk")).toBe("ISK 5");
    expect(shown(550, "isk")).toBe("ISK 5.5");
    expect(shown(123_456, "isk")).toBe("ISK 1,234.56");
    expect(shown(50_000, "ISK")).toBe("ISK 500");
  });

  it("KWD: three decimals", () => {
    expect(shown(1234, "kwd")).toBe("KWD 1.234");
    expect(shown(1000, "kwd")).toBe("KWD 1.000");
  });

  it("in the reader's locale", () => {
    expect(shown(1234, "usd", "de-DE")).toBe("12,34 $");
    expect(shown(550, "isk", "de-DE")).toBe("5,5 ISK");
    expect(shown(1234, "kwd", "de-DE")).toBe("1,234 KWD");
  });

  it("extra digits for an amount below the smallest unit (a price per credit)", () => {
    expect(shown(40, "usd", "en-US", { extraDigits: 2 })).toBe("$0.40");
    expect(shown(0.4567, "usd", "en-US", { extraDigits: 2 })).toBe("$0.0046");
    expect(shown(50, "isk", "en-US", { extraDigits: 2 })).toBe("ISK 0.5");
    expect(shown(0.5, "jpy", "en-US", { extraDigits: 2 })).toBe("¥0.5");
  });

  it("as a bare number, and still the right amount for a code Intl refuses", () => {
    expect(shown(123_456, "usd", "en-US", { style: "number" })).toBe("1,234.56");
    expect(shown(500, "isk", "en-US", { style: "number" })).toBe("5");
    expect(shown(500, "jpy", "en-US", { style: "number" })).toBe("500");
    expect(shown(1234, "kwd", "en-US", { style: "number" })).toBe("1.234");
    expect(shown(500, "us", "en-US")).toBe("5.00 US");
  });
});

describe("parseMoney: what a person typed → minor units", () => {
  it("JPY: whole yen only", () => {
    expect(minorOf("500", "jpy")).toBe(500);
    expect(minorOf(" 7 ", "JPY")).toBe(7);
    expect(refusal("500.5", "jpy")).toBe("JPY amounts have no decimals: enter a whole number, such as 500.");
  });

  it("USD: cents", () => {
    expect(minorOf("12.34", "usd")).toBe(1234);
    expect(minorOf("5", "usd")).toBe(500);
    expect(minorOf("5.", "usd")).toBe(500);
    expect(minorOf("0.5", "usd")).toBe(50);
    expect(refusal("12.345", "usd")).toBe("Enter an amount in USD with at most 2 decimals, such as 12.34.");
  });

  it("ISK: two decimals at Stripe, so 5 is 500", () => {
    expect(minorOf("5", "isk")).toBe(500);
    expect(minorOf("5.5", "isk")).toBe(550);
    expect(minorOf("1500", "isk")).toBe(150_000);
    expect(refusal("5.555", "isk")).toMatch(/at most 2 decimals/);
  });

  it("KWD: fils", () => {
    expect(minorOf("1.234", "kwd")).toBe(1234);
    expect(minorOf("1", "kwd")).toBe(1000);
    expect(refusal("1.2345", "kwd")).toBe("Enter an amount in KWD with at most 3 decimals, such as 12.345.");
  });

  it("refuses what is not a plain amount, and amounts too large to keep exactly", () => {
    for (const text of ["", "abc", "-5", "1e3", "1,5", ".5", "$5", "5 USD"]) expect(refusal(text, "usd"), text).toBe("Enter an amount in USD as digits, such as 12.34.");
    expect(refusal("1000000000000", "kwd")).toBe("This amount is too large.");
    expect(refusal("1000000000000000", "jpy")).toBe("This amount is too large.");
    expect(minorOf("999999999999.999", "kwd")).toBe(999_999_999_999_999);
    expect(minorOf("999999999999999", "jpy")).toBe(999_999_999_999_999);
    expect(minorOf("000000000000000001.5", "usd")).toBe(150);
  });
});

describe("moneyInput and moneyStep: the form field's value and step", () => {
  it("a plain decimal with the currency's Stripe digits", () => {
    expect(moneyInput(500, "jpy")).toBe("500");
    expect(moneyInput(1234, "usd")).toBe("12.34");
    expect(moneyInput(5, "usd")).toBe("0.05");
    expect(moneyInput(150_000, "isk")).toBe("1500.00");
    expect(moneyInput(1234, "kwd")).toBe("1.234");
    expect([moneyStep("jpy"), moneyStep("usd"), moneyStep("isk"), moneyStep("kwd")]).toEqual(["1", "0.01", "0.01", "0.001"]);
  });

  it("reads back as the same amount in every currency", () => {
    fc.assert(
      fc.property(fc.constantFrom("jpy", "usd", "isk", "kwd", "huf", "clp"), fc.integer({ min: 0, max: 10 ** 15 - 1 }), (currency, minor) => {
        expect(parseMoney(moneyInput(minor, currency), currency)).toEqual({ ok: true, minor });
      }),
    );
  });
});
