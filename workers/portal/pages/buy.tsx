// Buy credits: the packages with their bulk discount, price per credit and the balance after; the
// checkout goes through Stripe (or the local test checkout in development). The return page shows the
// purchase only once the webhook has credited it.
import type { AccountView } from "../../../durable-objects/views";
import type { Formats } from "../format";
import { Banner, Csrf } from "../layout";

export interface PackageLine {
  id: string;
  credits: number;
  price: { amount: number; currency: string };
  unit_price: number;
  discount_percent: number;
}

export function Buy(props: { account: AccountView; packages: PackageLine[]; f: Formats; csrf: string; error: string | null; cancelled: boolean }) {
  const { f } = props;
  return (
    <>
      {props.cancelled ? <Banner tone="warn">Checkout was cancelled: nothing was charged.</Banner> : null}
      {props.error ? <Banner tone="bad">{props.error}</Banner> : null}
      <p>
        Your balance: <strong>{f.credits(props.account.balance)}</strong> credits.
      </p>
      {props.packages.length === 0 ? <p>No packages are on sale right now.</p> : null}
      <div class="grid">
        {props.packages.map((p) => (
          <form method="post" action="/portal/buy" class="card" data-package={p.id} aria-labelledby={`pkg-${p.id}`}>
            <h2 id={`pkg-${p.id}`}>{f.credits(p.credits)} credits</h2>
            <p class="price">{f.money(p.price.amount, p.price.currency)}</p>
            <p class="sub">
              {f.perCredit(p.price.amount, p.credits, p.price.currency)} per credit
              {p.discount_percent > 0 ? (
                <>
                  {" "}
                  <span class="tag">save {p.discount_percent}%</span>
                </>
              ) : null}
            </p>
            <p class="sub">Balance after: {f.credits(props.account.balance + p.credits)} credits</p>
            <Csrf token={props.csrf} />
            <input type="hidden" name="package_id" value={p.id} />
            <label class="check">
              <input type="checkbox" name="save_card" value="1" /> Save the card for auto-recharge
            </label>
            <button type="submit">Buy {f.credits(p.credits)} credits</button>
          </form>
        ))}
      </div>
    </>
  );
}

export function CheckoutReturn(props: { state: "credited" | "waiting" | "unknown"; credits: number | null; balance: number; f: Formats }) {
  const { f } = props;
  if (props.state === "unknown") return <Banner tone="bad">This purchase is not one of yours, or does not exist.</Banner>;
  if (props.state === "waiting") {
    return (
      <section class="card" aria-live="polite">
        <p data-testid="purchase-status">Waiting for the payment to be confirmed… This page refreshes by itself.</p>
        <p class="hint">Credits are added only once the payment provider confirms the payment, usually within seconds.</p>
      </section>
    );
  }
  return (
    <>
      <Banner tone="ok">
        <span data-testid="purchase-status">Credited</span>: {f.credits(props.credits ?? 0)} credits were added to your balance.
      </Banner>
      <section class="card">
        <h2 class="sub">New balance</h2>
        <p class="balance" data-testid="balance">
          {f.credits(props.balance)} <span class="sub">credits</span>
        </p>
        <a href="/portal">Back to the overview</a>
      </section>
    </>
  );
}
