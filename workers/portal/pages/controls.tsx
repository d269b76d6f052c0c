// Controls: auto-recharge, spending limits and the low-balance threshold. Each form posts back here;
// a change is confirmed on the page, and an error is shown next to its field.
import type { AccountView } from "../../../durable-objects/views";
import { moneyInput, moneyStep } from "../../money/currency";
import type { Formats } from "../format";
import { Banner, Csrf } from "../layout";
import type { PackageLine } from "./buy";

export type FieldErrors = Record<string, string>;

/** Auto-recharge's state in the page's words (the API's message speaks to developers). */
export function rechargeWords(ar: NonNullable<AccountView["auto_recharge"]>, f: Pick<Formats, "credits">): string | null {
  if (!ar.enabled) return ar.message;
  if (ar.held_back === "no_payment_method") return 'It starts working after your next purchase with "Save the card for auto-recharge" ticked.';
  if (ar.held_back === "below_threshold") {
    return `Your available credits are already below ${f.credits(ar.threshold)}: it buys the next time your spending takes them from ${f.credits(ar.threshold)} or more to below. Buy credits once to start.`;
  }
  if (ar.held_back === "blocked") return "Spending on this account is stopped, so nothing is bought.";
  return ar.message;
}

const Err = (props: { id: string; errors: FieldErrors; field: string }) =>
  props.errors[props.field] ? (
    <p class="error" id={props.id}>
      {props.errors[props.field]}
    </p>
  ) : null;

/** Credits as the user types them (with CREDIT_DECIMALS) ↔ the integer amount. */
export const toInput = (value: number | null, decimals: number) => (value === null ? "" : (value / 10 ** decimals).toFixed(decimals));

export function Controls(props: {
  account: AccountView;
  packages: PackageLine[];
  f: Formats;
  decimals: number;
  csrf: string;
  saved: string | null;
  errors: FieldErrors;
  form: string | null;
  values: Record<string, string>;
}) {
  const { account: a, f, decimals, errors } = props;
  const ar = a.auto_recharge;
  const step = decimals > 0 ? (1 / 10 ** decimals).toFixed(decimals) : "1";
  const value = (form: string, field: string, fallback: string) => (props.form === form && props.values[field] !== undefined ? props.values[field] : fallback);
  const described = (field: string) => (errors[field] ? `${field}-error` : undefined);
  // The limit is charged in the plan's package's currency; before there is a plan, the first package's.
  const limitCurrency = ar?.price.currency ?? props.packages[0]?.price.currency ?? null;
  return (
    <>
      {props.saved ? <Banner tone="ok">{`Saved: ${props.saved}.`}</Banner> : null}
      {Object.keys(errors).length ? <Banner tone="bad">Nothing was changed: fix the field marked below.</Banner> : null}

      <form method="post" action="/portal/controls/auto-recharge" novalidate class="card" id="auto-recharge" aria-labelledby="ar-title">
        <h2 id="ar-title">Auto-recharge</h2>
        <p class="hint">When your spending takes your available credits below the threshold, buy a package with your saved card, once each time. The package must give more credits than the threshold.</p>
        {ar?.status === "disabled" && ar.disabled_reason ? <Banner tone="bad">{ar.message ?? `Stopped: ${ar.disabled_reason}`}</Banner> : null}
        <p>
          Saved card: <strong>{ar?.has_payment_method ? "yes" : "none yet"}</strong>
          {ar?.has_payment_method ? null : <span class="hint"> (tick "Save the card" when you next buy credits)</span>}
        </p>
        {ar ? <p class="hint">Charged this month: {f.money(ar.charged_this_month, ar.price.currency)}{rechargeWords(ar, f) ? ` · ${rechargeWords(ar, f)}` : ""}</p> : null}
        <Csrf token={props.csrf} />
        <label class="check" for="ar-enabled">
          <input id="ar-enabled" type="checkbox" name="enabled" value="1" checked={value("auto-recharge", "enabled", ar?.enabled ? "1" : "") === "1"} /> Auto-recharge on
        </label>
        <label for="ar-threshold">Threshold (credits)</label>
        <input id="ar-threshold" type="number" name="threshold" min="0" step={step} value={value("auto-recharge", "threshold", toInput(ar?.threshold ?? null, decimals))} aria-describedby={described("threshold")} aria-invalid={errors.threshold ? "true" : undefined} />
        <Err id="threshold-error" errors={errors} field="threshold" />
        <label for="ar-package">Package to buy</label>
        <select id="ar-package" name="package_id" aria-describedby={described("package_id")} aria-invalid={errors.package_id ? "true" : undefined}>
          {props.packages.map((p) => (
            <option value={p.id} selected={value("auto-recharge", "package_id", ar?.package_id ?? "") === p.id}>
              {`${f.credits(p.credits)} credits for ${f.money(p.price.amount, p.price.currency)}`}
            </option>
          ))}
        </select>
        <Err id="package_id-error" errors={errors} field="package_id" />
        <label for="ar-limit">Monthly limit (money, in {limitCurrency?.toUpperCase() ?? "the package's currency"}; empty: none)</label>
        <input id="ar-limit" type="number" name="monthly_limit" min="0" step={limitCurrency ? moneyStep(limitCurrency) : "0.01"} value={value("auto-recharge", "monthly_limit", ar?.monthly_limit ? moneyInput(ar.monthly_limit, ar.price.currency) : "")} aria-describedby={described("monthly_limit")} aria-invalid={errors.monthly_limit ? "true" : undefined} />
        <Err id="monthly_limit-error" errors={errors} field="monthly_limit" />
        <button type="submit">Save auto-recharge</button>
      </form>

      <form method="post" action="/portal/controls/limits" novalidate class="card" id="limits" aria-labelledby="limits-title">
        <h2 id="limits-title">Spending limits</h2>
        <p class="hint">Days and months in {a.limits.time_zone}. Empty: no limit.</p>
        <Csrf token={props.csrf} />
        <label for="limit-daily">Daily limit (credits)</label>
        <input id="limit-daily" type="number" name="daily" min="0" step={step} value={value("limits", "daily", toInput(a.limits.daily, decimals))} aria-describedby={described("daily")} aria-invalid={errors.daily ? "true" : undefined} />
        <Err id="daily-error" errors={errors} field="daily" />
        <label for="limit-monthly">Monthly limit (credits)</label>
        <input id="limit-monthly" type="number" name="monthly" min="0" step={step} value={value("limits", "monthly", toInput(a.limits.monthly, decimals))} aria-describedby={described("monthly")} aria-invalid={errors.monthly ? "true" : undefined} />
        <Err id="monthly-error" errors={errors} field="monthly" />
        <button type="submit">Save limits</button>
      </form>

      <form method="post" action="/portal/controls/alerts" novalidate class="card" id="alerts" aria-labelledby="alerts-title">
        <h2 id="alerts-title">Low-balance warning</h2>
        <Csrf token={props.csrf} />
        <label for="low-threshold">Warn me below (credits; empty: never)</label>
        <input id="low-threshold" type="number" name="low_balance_threshold" min="0" step={step} value={value("alerts", "low_balance_threshold", toInput(a.low_balance.threshold, decimals))} aria-describedby={described("low_balance_threshold")} aria-invalid={errors.low_balance_threshold ? "true" : undefined} />
        <Err id="low_balance_threshold-error" errors={errors} field="low_balance_threshold" />
        <button type="submit">Save warning</button>
      </form>
    </>
  );
}
