// How the hosted page writes numbers and dates for a person: credits with CREDIT_DECIMALS, money in
// its currency (Stripe's minor units, ../money/currency), both in the reader's locale (Accept-Language);
// dates in the account's time zone.
import type { Env } from "../env";
import { formatMoney } from "../money/currency";

export interface Formats {
  locale: string;
  timeZone: string;
  credits(value: number): string;
  money(amount: number, currency: string): string;
  /** The money one displayed credit costs, with up to two more digits than the currency (e.g. $0.4025). */
  perCredit(amount: number, credits: number, currency: string): string;
  date(iso: string | number): string;
  dateTime(iso: string | number): string;
  day(iso: string | number): string;
  count(value: number): string;
}

/** The first language of Accept-Language that Intl knows; en-US otherwise. */
export function localeOf(acceptLanguage: string | undefined): string {
  const tags = (acceptLanguage ?? "")
    .split(",")
    .map((part) => part.split(";")[0]?.trim() ?? "")
    .filter((tag) => /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(tag));
  try {
    return Intl.NumberFormat.supportedLocalesOf(tags)[0] ?? "en-US";
  } catch {
    return "en-US";
  }
}

export function creditDecimals(env: Env): number {
  const n = Number(env.CREDIT_DECIMALS ?? "0");
  return Number.isInteger(n) && n >= 0 && n <= 12 ? n : 0;
}

export function formats(env: Env, acceptLanguage: string | undefined, timeZone: string | null): Formats {
  const locale = localeOf(acceptLanguage);
  const zone = timeZone ?? "UTC";
  const decimals = creditDecimals(env);
  const credits = new Intl.NumberFormat(locale, { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  const count = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
  const date = new Intl.DateTimeFormat(locale, { timeZone: zone, dateStyle: "medium" });
  const dateTime = new Intl.DateTimeFormat(locale, { timeZone: zone, dateStyle: "medium", timeStyle: "short" });
  const day = new Intl.DateTimeFormat(locale, { timeZone: zone, month: "short", day: "numeric" });
  const at = (v: string | number) => new Date(v);
  return {
    locale,
    timeZone: zone,
    credits: (value) => credits.format(value / 10 ** decimals),
    money: (amount, currency) => formatMoney(amount, currency, locale),
    perCredit: (amount, units, currency) => formatMoney(amount / (units / 10 ** decimals), currency, locale, { extraDigits: 2 }),
    date: (v) => date.format(at(v)),
    dateTime: (v) => dateTime.format(at(v)),
    day: (v) => day.format(at(v)),
    count: (value) => count.format(value),
  };
}
