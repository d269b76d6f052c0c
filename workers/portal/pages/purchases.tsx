// Purchases, with refunds and disputes shown as they are: what was bought, what was taken back.
import type { PurchaseLine } from "../data";
import type { Formats } from "../format";
import { Scroll } from "../layout";

const STATUS: Record<string, string> = {
  paid: "Paid",
  refunded: "Refunded",
  partially_refunded: "Partly refunded",
  disputed: "Disputed",
};

export function Purchases(props: { purchases: PurchaseLine[]; f: Formats }) {
  const { f } = props;
  if (props.purchases.length === 0) return <p>No purchases yet. <a href="/portal/buy">Buy credits</a></p>;
  return (
    <Scroll label="Purchases">
      <table>
        <caption class="sr">Your purchases, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Date</th>
            <th scope="col" class="num">
              Credits
            </th>
            <th scope="col" class="num">
              Paid
            </th>
            <th scope="col">Status</th>
            <th scope="col" class="num">
              Credits taken back
            </th>
          </tr>
        </thead>
        <tbody>
          {props.purchases.map((p) => (
            <tr>
              <td>{f.dateTime(p.created_at)}</td>
              <td class="num">{f.credits(p.credits)}</td>
              <td class="num">{f.money(p.amount, p.currency)}</td>
              <td>
                {STATUS[p.status] ?? p.status}
                {p.status === "disputed" ? <div class="hint">A dispute with your bank is open; the disputed credits are held back until it closes.</div> : null}
              </td>
              <td class="num">{p.credits_clawed_back > 0 ? f.credits(p.credits_clawed_back) : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Scroll>
  );
}
