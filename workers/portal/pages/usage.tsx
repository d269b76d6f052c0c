// Usage: daily spend per operation over 30 days as a server-rendered SVG chart (with the same figures
// as a table for screen readers), and the history with filters and pagination.
import type { EntryRow } from "../../db/history";
import type { UsageRow } from "../../db/usage";
import type { Formats } from "../format";
import { Scroll } from "../layout";

const COLOURS = ["#3b5bdb", "#c2255c", "#2b8a3e", "#e8590c", "#5f3dc4", "#0b7285", "#862e9c", "#5c940d"];

export function UsageChart(props: { rows: UsageRow[]; days: string[]; f: Formats }) {
  const { rows, days, f } = props;
  const operations = [...new Set(rows.map((r) => r.operation || "(amount)"))].sort();
  const byDay = new Map<string, Map<string, number>>();
  for (const r of rows) {
    const day = byDay.get(r.period) ?? new Map<string, number>();
    day.set(r.operation || "(amount)", (day.get(r.operation || "(amount)") ?? 0) + r.credits);
    byDay.set(r.period, day);
  }
  const totals = days.map((d) => [...(byDay.get(d)?.values() ?? [])].reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...totals);
  const width = 720;
  const height = 240;
  const left = 56;
  const bottom = 24;
  const barW = (width - left) / days.length;
  const y = (v: number) => ((height - bottom) * v) / max;
  return (
    <figure class="card chart">
      <figcaption>
        <strong>Credits spent per day, last 30 days</strong> <span class="hint">({f.timeZone})</span>
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="chart-title" data-testid="usage-chart">
        <title id="chart-title">{`Daily credits spent over 30 days, at most ${f.credits(max)} in a day`}</title>
        <line x1={left} y1={height - bottom} x2={width} y2={height - bottom} stroke="#8a93a3" />
        <text x={left - 6} y={12} text-anchor="end" font-size="11" fill="#4a5260">
          {f.credits(max)}
        </text>
        <text x={left - 6} y={height - bottom} text-anchor="end" font-size="11" fill="#4a5260">
          0
        </text>
        {days.map((day, i) => {
          let base = height - bottom;
          const parts = byDay.get(day);
          return (
            <g>
              {operations.map((op, k) => {
                const v = parts?.get(op) ?? 0;
                if (v === 0) return null;
                const h = Math.max(1, y(v));
                base -= h;
                return (
                  <rect x={left + i * barW + 1} y={base} width={Math.max(1, barW - 2)} height={h} fill={COLOURS[k % COLOURS.length]} data-day={day} data-operation={op}>
                    <title>{`${day}: ${op} ${f.credits(v)} credits`}</title>
                  </rect>
                );
              })}
              {i % 5 === 0 ? (
                <text x={left + i * barW + barW / 2} y={height - 6} text-anchor="middle" font-size="11" fill="#4a5260">
                  {day.slice(5)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      {operations.length ? (
        <ul class="legend">
          {operations.map((op, k) => (
            <li>
              <span class={`swatch-${k % COLOURS.length}`} aria-hidden="true"></span>
              <code>{op}</code>
            </li>
          ))}
        </ul>
      ) : (
        <p class="hint">Nothing spent in the last 30 days.</p>
      )}
      <table class="sr">
        <caption>Credits spent per day and operation</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            <th scope="col">Operation</th>
            <th scope="col">Credits</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr>
              <td>{r.period}</td>
              <td>{r.operation || "(amount)"}</td>
              <td>{f.credits(r.credits)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

export const SWATCH_CSS = COLOURS.map((c, k) => `.swatch-${k}{background:${c}}`).join("");

const KIND_LABELS: Record<string, string> = {
  debit: "Spent",
  capture: "Spent (held work)",
  hold: "Reserved",
  release: "Released",
  grant: "Granted",
  purchase: "Bought",
  auto_recharge: "Auto-recharge",
  expire: "Expired",
  allowance: "Allowance",
  refund: "Refund taken back",
  clawback: "Taken back",
};

export function History(props: { entries: EntryRow[]; f: Formats; filter: { kind: string; operation: string }; next: string | null; kinds: string[] }) {
  const { f } = props;
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <form method="get" action="/portal/usage" class="filters">
        <div>
          <label for="kind">Kind</label>
          <select id="kind" name="kind">
            <option value="">All</option>
            {props.kinds.map((k) => (
              <option value={k} selected={props.filter.kind === k}>
                {KIND_LABELS[k] ?? k}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="operation">Operation</label>
          <input id="operation" type="text" name="operation" value={props.filter.operation} placeholder="e.g. chat.gpt-4o" />
        </div>
        <button type="submit" class="secondary">
          Filter
        </button>
      </form>
      <Scroll label="History">
        <table id="history">
          <caption class="sr">Your history, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">What</th>
              <th scope="col">Operation</th>
              <th scope="col" class="num">
                Credits
              </th>
              <th scope="col" class="num">
                Balance after
              </th>
            </tr>
          </thead>
          <tbody>
            {props.entries.length === 0 ? (
              <tr>
                <td colspan={5}>Nothing here yet.</td>
              </tr>
            ) : (
              props.entries.map((e) => (
                <tr data-kind={e.kind}>
                  <td>{f.dateTime(e.created_at)}</td>
                  <td>
                    {KIND_LABELS[e.kind] ?? e.kind}
                    {e.description ? <div class="hint">{e.description}</div> : null}
                  </td>
                  <td>{e.operation ? <code>{e.operation}</code> : ""}</td>
                  <td class="num">{e.amount === 0 && e.reserved ? `(${f.credits(e.reserved)})` : `${e.amount > 0 ? "+" : ""}${f.credits(e.amount)}`}</td>
                  <td class="num">{f.credits(e.balance_after)}</td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </Scroll>
      <nav class="pager" aria-label="History pages">
        {props.next ? <a href={props.next}>Older entries</a> : null}
      </nav>
    </section>
  );
}
