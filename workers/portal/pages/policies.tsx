// Policies: expiry and rollover in plain words, with the user's own lots, dates and allowance.
import type { AccountView } from "../../../durable-objects/views";
import type { Formats } from "../format";
import { Scroll } from "../layout";

const SOURCES: Record<string, string> = {
  purchase: "Bought",
  auto_recharge: "Auto-recharge",
  grant: "Granted",
  allowance: "Allowance",
  rollover: "Rolled over",
};

export function Policies(props: { account: AccountView; f: Formats; purchaseExpiryDays: number }) {
  const { account: a, f } = props;
  const al = a.allowance;
  return (
    <>
      <section class="card">
        <h2>When credits expire</h2>
        <ul>
          <li>{props.purchaseExpiryDays === 0 ? "Credits you buy never expire." : `Credits you buy (and auto-recharge buys) expire ${props.purchaseExpiryDays} days after they are added.`}</li>
          <li>Credits that expire soonest are used first, so as little as possible expires unused.</li>
          <li>You are told 7 days before credits expire, here and by the app.</li>
        </ul>
      </section>
      {al ? (
        <section class="card">
          <h2>Your allowance</h2>
          <p>
            You get <strong>{f.credits(al.amount)}</strong> credits every {al.interval}, starting {f.dateTime(al.current_period_start)}; this period ends {f.dateTime(al.current_period_end)} ({f.timeZone}).
          </p>
          <p>
            {al.rollover_max > 0
              ? `At the end of a period, up to ${f.credits(al.rollover_max)} unused allowance credits roll over and last ${al.rollover_expires_after_intervals} more ${al.interval}(s); the rest expires.`
              : "Unused allowance credits expire at the end of each period; nothing rolls over."}
          </p>
          <p>Allowance and rolled-over credits are used before the credits you bought.</p>
          {al.next_period === null ? <p>Your allowance ends at the end of this period.</p> : null}
        </section>
      ) : null}
      <section class="card">
        <h2>Your credits</h2>
        <Scroll label="Your credits">
          <table>
            <caption class="sr">Your credits by when they were added, with their expiry</caption>
            <thead>
              <tr>
                <th scope="col">From</th>
                <th scope="col">Added</th>
                <th scope="col" class="num">
                  Left
                </th>
                <th scope="col">Expires</th>
              </tr>
            </thead>
            <tbody>
              {a.lots.length === 0 ? (
                <tr>
                  <td colspan={4}>No credits yet.</td>
                </tr>
              ) : (
                a.lots.map((l) => (
                  <tr>
                    <td>{SOURCES[l.source] ?? l.source}</td>
                    <td>{l.created_at ? f.date(l.created_at) : ""}</td>
                    <td class="num">
                      {f.credits(l.remaining)} of {f.credits(l.amount)}
                    </td>
                    <td>{l.expires_at ? f.dateTime(l.expires_at) : "Never"}</td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </Scroll>
      </section>
    </>
  );
}
