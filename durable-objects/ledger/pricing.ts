// Prices are exact rates (credits per `per` units of a quantity). The cost of one operation is the
// exact sum of its lines, rounded up once: rounding each line would overcharge many-quantity calls.

export interface Rate {
  credits: number;
  per: number;
}

export interface Price {
  operation: string;
  rates: Record<string, Rate>;
  description: string | null;
}

export interface BreakdownLine {
  quantity: string;
  units: number;
  rate: Rate;
  /**
   * The line's exact cost in credit units, as text so no float can round it: a decimal where it
   * terminates ("0.375", "3.5", "2"), else the reduced fraction ("1/3"). Only the total is rounded (up).
   */
  cost: string;
}

export type PriceResult =
  | { ok: true; cost: number; breakdown: BreakdownLine[] }
  | { ok: false; message: string; field: string };

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
}

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** num/den (den > 0) written exactly: a decimal when den has no prime factor but 2 and 5, else "num/den". */
export function exactCredits(num: bigint, den: bigint): string {
  const g = gcd(num, den);
  const [n, d] = g > 1n ? [num / g, den / g] : [num, den];
  let rest = d;
  let twos = 0;
  let fives = 0;
  while (rest % 2n === 0n) [rest, twos] = [rest / 2n, twos + 1];
  while (rest % 5n === 0n) [rest, fives] = [rest / 5n, fives + 1];
  if (rest !== 1n) return `${n}/${d}`;
  const places = Math.max(twos, fives);
  const digits = ((n * 10n ** BigInt(places)) / d).toString().padStart(places + 1, "0");
  if (places === 0) return digits;
  const fraction = digits.slice(-places).replace(/0+$/, "");
  return fraction ? `${digits.slice(0, -places)}.${fraction}` : digits.slice(0, -places);
}

export function priceOperation(price: Price, quantities: Record<string, number>): PriceResult {
  let num = 0n;
  let den = 1n;
  const breakdown: BreakdownLine[] = [];
  for (const [quantity, units] of Object.entries(quantities)) {
    // Own properties only: a quantity named "constructor" must not find Object.prototype's.
    const rate = Object.hasOwn(price.rates, quantity) ? price.rates[quantity] : undefined;
    if (!rate) {
      const known = Object.keys(price.rates).join(", ");
      return {
        ok: false,
        field: `quantities.${quantity}`,
        message: `Operation '${price.operation}' has no rate for quantity '${quantity}' (it prices: ${known}).`,
      };
    }
    const lineNum = BigInt(units) * BigInt(rate.credits);
    const lineDen = BigInt(rate.per);
    num = num * lineDen + lineNum * den;
    den = den * lineDen;
    const g = gcd(num, den);
    if (g > 1n) {
      num /= g;
      den /= g;
    }
    breakdown.push({ quantity, units, rate, cost: exactCredits(lineNum, lineDen) });
  }
  const cost = (num + den - 1n) / den;
  if (cost > MAX) return { ok: false, field: "quantities", message: "The cost exceeds the largest amount Credence can hold (2^53 - 1)." };
  return { ok: true, cost: Number(cost), breakdown };
}
