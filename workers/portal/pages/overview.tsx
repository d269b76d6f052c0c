// Overview: the balance, large, with what is available and held; "about N more" for the operations
// this account uses; banners for a low balance, credits expiring within 7 days, debt and a block.
import type { AccountView } from "../../../durable-objects/views";
import type { Formats } from "../format";
import { Banner } from "../layout";
import { rechargeWords } from "./controls";

const WEEK_MS = 7 * 24 * 3_600_000;

export function expiringSoon(account: AccountView, now: number): { amount: number; at: string } | null {
  const soon = account.lots.filter((l) => l.expires_at !== null && l.remaining > 0 && Date.parse(l.expires_at) - now <= WEEK_MS);
  if (soon.length === 0) return null;
  const first = soon.map((l) => l.expires_at as string).sort()[0] as string;
  return { amount: soon.reduce((sum, l) => sum + l.remaining, 0), at: first };
}

export function Overview(props: { account: AccountView; f: Formats; now: number; remaining: { operation: string; count: number }[] }) {
  const { account: a, f } = props;
  const expiring = expiringSoon(a, props.now);
  return (
    <>
      {a.blocked ? (
        <Banner tone="bad">
          <strong>Spending is paused.</strong> {a.blocked.reason === "a payment dispute is open" ? "A payment of yours is disputed; spending resumes when the dispute is closed." : `Reason: ${a.blocked.reason}.`} Contact support if this is unexpected.
        </Banner>
      ) : null}
      {a.debt > 0 ? (
        <Banner tone="bad">
          <strong>You owe {f.credits(a.debt)} credits.</strong> This happens when credits you had already used were taken back (a refund or a dispute). The next credits you buy pay this first; spending resumes once it is cleared.{" "}
          <a href="/portal/buy">Buy credits</a>
        </Banner>
      ) : null}
      {a.low_balance.is_low ? (
        <Banner tone="warn">
          <strong>Your balance is low</strong> (below {f.credits(a.low_balance.threshold ?? 0)} credits). <a href="/portal/buy">Buy credits</a> or <a href="/portal/controls">turn on auto-recharge</a>.
        </Banner>
      ) : null}
      {expiring ? (
        <Banner tone="warn">
          <strong>{f.credits(expiring.amount)} credits expire soon</strong>, the first on {f.dateTime(expiring.at)}. <a href="/portal/policies">How expiry works</a>
        </Banner>
      ) : null}
      <section class="card" aria-labelledby="balance-title">
        <h2 id="balance-title" class="sub">
          Balance
        </h2>
        <p class="balance" data-testid="balance">
          {f.credits(a.balance)} <span class="sub">credits</span>
        </p>
        <p class="sub">
          <span data-testid="available">{f.credits(a.available)}</span> available
          {a.held > 0 ? <> · {f.credits(a.held)} reserved for work in progress</> : null}
        </p>
        {props.remaining.length ? (
          <ul>
            {props.remaining.map((r) => (
              <li>
                About <strong>{f.count(r.count)}</strong> more <code>{r.operation}</code> at your usual cost
              </li>
            ))}
          </ul>
        ) : null}
      </section>
      <div class="grid">
        <section class="card">
          <h2>Spending limits</h2>
          <p>
            Today: {f.credits(a.limits.spent_today)}
            {a.limits.daily !== null ? ` of ${f.credits(a.limits.daily)}` : " (no daily limit)"}
          </p>
          <p>
            This month: {f.credits(a.limits.spent_this_month)}
            {a.limits.monthly !== null ? ` of ${f.credits(a.limits.monthly)}` : " (no monthly limit)"}
          </p>
          <a href="/portal/controls">Change limits</a>
        </section>
        <section class="card">
          <h2>Auto-recharge</h2>
          <p>{a.auto_recharge ? (a.auto_recharge.enabled ? (rechargeWords(a.auto_recharge, f) ?? `On: below ${f.credits(a.auto_recharge.threshold)} credits, buys ${f.credits(a.auto_recharge.credits)}.`) : "Off.") : "Off."}</p>
          <a href="/portal/controls">Set up auto-recharge</a>
        </section>
        <section class="card">
          <h2>Next expiry</h2>
          <p>{a.next_expiry?.at ? `${f.credits(a.next_expiry.amount)} credits on ${f.dateTime(a.next_expiry.at)}` : "None of your credits expire."}</p>
          <a href="/portal/policies">Expiry and rollover</a>
        </section>
      </div>
    </>
  );
}
