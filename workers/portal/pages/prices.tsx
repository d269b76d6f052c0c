// Prices: every operation's cost per unit, and for a typical request (this account's own average), in
// credits and in money at the smallest package's rate.
import type { Formats } from "../format";
import { Scroll } from "../layout";
import type { PriceLine } from "../data";

export interface MoneyRate {
  /** Money (smallest unit) per credit, from the smallest package. */
  perCredit: number;
  currency: string;
}

export function Prices(props: { prices: PriceLine[]; f: Formats; averages: Map<string, { average: number | null }>; rate: MoneyRate | null }) {
  const { f, rate } = props;
  const money = (credits: number) => (rate ? f.money(Math.round(credits * rate.perCredit), rate.currency) : "—");
  if (props.prices.length === 0) return <p>No prices are set yet.</p>;
  return (
    <Scroll label="Prices">
      <table>
        <caption class="sr">What each operation costs</caption>
        <thead>
          <tr>
            <th scope="col">Operation</th>
            <th scope="col">Cost per unit</th>
            <th scope="col" class="num">
              Your typical request
            </th>
          </tr>
        </thead>
        <tbody>
          {props.prices.map((p) => {
            const avg = props.averages.get(p.operation)?.average ?? null;
            return (
              <tr>
                <th scope="row">
                  <code>{p.operation}</code>
                  {p.description ? <div class="hint">{p.description}</div> : null}
                </th>
                <td>
                  <ul>
                    {Object.entries(p.rates).map(([quantity, r]) => (
                      <li>
                        {f.credits(r.credits)} credits per {f.count(r.per)} {quantity.replaceAll("_", " ")} ({money(r.credits)})
                      </li>
                    ))}
                  </ul>
                </td>
                <td class="num">{avg === null ? <span class="hint">no requests yet</span> : `${f.credits(Math.round(avg))} credits · ${money(avg)}`}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {rate ? <p class="hint">Money amounts at the smallest package's rate.</p> : null}
    </Scroll>
  );
}
