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
  /** The line's exact cost, shown to 6 decimals; only the total is rounded (up). */
  cost: number;
}

export type PriceResult =
  | { ok: true; cost: number; breakdown: BreakdownLine[] }
  | { ok: false; message: string; field: string };

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
}

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

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
    breakdown.push({ quantity, units, rate, cost: Number((lineNum * 1_000_000n) / lineDen) / 1_000_000 });
  }
  const cost = (num + den - 1n) / den;
  if (cost > MAX) return { ok: false, field: "quantities", message: "The cost exceeds the largest amount Credence can hold (2^53 - 1)." };
  return { ok: true, cost: Number(cost), breakdown };
}
