// Money amounts are integers in Stripe's minor units, and Stripe's minor units are not Intl's: ISK
// (like HUF and TWD) is two-decimal in Stripe's API (amount 500 = ISK 5) while Intl writes it with no
// decimals. Every place that shows or reads money goes through this one table, so an amount is never
// shown 100× too large or read 100× too small. No Cloudflare import: the portal, the local checkout
// and plain unit tests all use it.

// https://docs.stripe.com/currencies#zero-decimal
const ZERO_DECIMAL = new Set(["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]);
// https://docs.stripe.com/currencies#three-decimal
const THREE_DECIMAL = new Set(["BHD", "JOD", "KWD", "OMR", "TND"]);

/** Digits after the point of an amount in Stripe's API: 0 for JPY, 3 for KWD, 2 for the rest (ISK included). */
export function stripeExponent(currency: string): 0 | 2 | 3 {
  const code = currency.toUpperCase();
  if (ZERO_DECIMAL.has(code)) return 0;
  if (THREE_DECIMAL.has(code)) return 3;
  return 2;
}

const intlCache = new Map<string, number>();

/** The fraction digits a reader expects for the currency (Intl's); Stripe's when Intl cannot say. */
function usualDigits(code: string): number {
  let digits = intlCache.get(code);
  if (digits === undefined) {
    try {
      digits = new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions().maximumFractionDigits ?? stripeExponent(code);
    } catch {
      digits = stripeExponent(code);
    }
    intlCache.set(code, digits);
  }
  return digits;
}

/**
 * How many fraction digits to show: at least what readers of the currency expect, and as many as
 * Stripe's unit has, so ISK 500 reads "ISK 5" but ISK 550 reads "ISK 5.5" rather than a rounded "ISK 6".
 */
function fractionDigits(currency: string): { min: number; max: number } {
  const code = currency.toUpperCase();
  const usual = usualDigits(code);
  return { min: usual, max: Math.max(usual, stripeExponent(code)) };
}

export interface MoneyFormatOptions {
  /** More digits than the currency has, for amounts below its smallest unit (a price per credit). */
  extraDigits?: number;
  /** "number": the amount without the currency sign, e.g. "1,234.5". */
  style?: "currency" | "number";
}

/**
 * `minor` (Stripe's minor units; a fraction of one only with extraDigits) in the reader's locale:
 * formatMoney(1234, "usd", "en-US") → "$12.34", formatMoney(500, "isk", "en-US") → "ISK 5".
 */
export function formatMoney(minor: number, currency: string, locale: string, options: MoneyFormatOptions = {}): string {
  const code = currency.toUpperCase();
  const extra = options.extraDigits ?? 0;
  const { min, max } = fractionDigits(code);
  const value = minor / 10 ** stripeExponent(code);
  const digits = { minimumFractionDigits: min, maximumFractionDigits: max + extra };
  try {
    if (options.style === "number") return new Intl.NumberFormat(locale, digits).format(value);
    return new Intl.NumberFormat(locale, { style: "currency", currency: code, ...digits }).format(value);
  } catch {
    // A code Intl refuses (not three letters) or a locale it does not know: still the right amount.
    const plain = new Intl.NumberFormat("en-US", digits).format(value);
    return options.style === "number" ? plain : `${plain} ${code}`;
  }
}

/**
 * `minor` as a form field's value: a plain decimal with "." and exactly the currency's Stripe digits
 * ("12.34", "500", "1.234"), which parseMoney reads back to the same integer. Built from the integer's
 * digits, not by dividing, so large amounts stay exact.
 */
export function moneyInput(minor: number, currency: string): string {
  const exponent = stripeExponent(currency);
  const sign = minor < 0 ? "-" : "";
  const digits = String(Math.abs(Math.trunc(minor))).padStart(exponent + 1, "0");
  if (exponent === 0) return sign + digits;
  return `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

/** The smallest step a money field accepts: "1" for JPY, "0.01" for USD and ISK, "0.001" for KWD. */
export function moneyStep(currency: string): string {
  const exponent = stripeExponent(currency);
  return exponent === 0 ? "1" : `0.${"1".padStart(exponent, "0")}`;
}

export type ParsedMoney = { ok: true; minor: number } | { ok: false; message: string };

/** Digits an amount may have in minor units: below 10^15, so it is always a safe integer. */
const MAX_MINOR_DIGITS = 15;

/**
 * An amount as a person types it ("5", "12.34") → Stripe's minor units (value × 10^exponent), or a
 * message for that person when it cannot be read or has more decimals than the currency has.
 */
export function parseMoney(text: string, currency: string): ParsedMoney {
  const code = currency.toUpperCase();
  const exponent = stripeExponent(code);
  const v = text.trim();
  const example = exponent === 0 ? "500" : `12.${"3456".slice(0, exponent)}`;
  const m = /^(\d+)(?:\.(\d*))?$/.exec(v);
  if (!m) return { ok: false, message: `Enter an amount in ${code} as digits, such as ${example}.` };
  const whole = m[1] as string;
  const fraction = m[2] ?? "";
  if (fraction.length > exponent) {
    return { ok: false, message: exponent === 0 ? `${code} amounts have no decimals: enter a whole number, such as ${example}.` : `Enter an amount in ${code} with at most ${exponent} decimals, such as ${example}.` };
  }
  if (whole.replace(/^0+/, "").length + exponent > MAX_MINOR_DIGITS) return { ok: false, message: "This amount is too large." };
  return { ok: true, minor: Number(whole) * 10 ** exponent + Number(fraction.padEnd(exponent, "0") || "0") };
}
