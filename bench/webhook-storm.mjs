// The webhook storm: 1,000 signed Stripe events, about a third of them duplicates (the same event
// redelivered, and a second event about the same checkout), sent concurrently to /stripe/webhook.
// Every purchase must be credited exactly once: the balances, the journals, D1's purchases and
// stripe_events are audited against what was sent.

import Stripe from "stripe";

const ACCOUNTS = 100;
const DISTINCT_SESSIONS = 600;
const TOTAL_EVENTS = 1000;
const CREDITS = 1000;
const CONCURRENCY = 50;

export async function webhookStorm({ base, db, secret, admin, say }) {
  const accounts = Array.from({ length: ACCOUNTS }, (_, i) => `storm_${String(i).padStart(3, "0")}`);
  for (const id of accounts) {
    const res = await fetch(`${base}/v1/accounts/${id}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: "{}",
    });
    if (res.status !== 201 && res.status !== 200) throw new Error(`open ${id}: ${res.status}`);
  }
  const sessions = Array.from({ length: DISTINCT_SESSIONS }, (_, i) => ({ id: `cs_storm_${i}`, account: accounts[i % ACCOUNTS] }));
  const eventOf = (s, type, id) => ({
    id,
    object: "event",
    type,
    created: Math.floor(Date.now() / 1000),
    data: {
      object: {
        id: s.id,
        object: "checkout.session",
        client_reference_id: s.account,
        metadata: { account_id: s.account, package_id: "starter", credits: String(CREDITS) },
        amount_total: 500,
        currency: "usd",
        payment_intent: `pi_${s.id}`,
        payment_status: "paid",
      },
    },
  });
  const originals = sessions.map((s, i) => eventOf(s, "checkout.session.completed", `evt_storm_${i}`));
  const events = [...originals];
  // The rest: redeliveries of an event already sent, and async twins (another event id, same session).
  for (let i = 0; events.length < TOTAL_EVENTS; i++) {
    const s = sessions[(i * 7) % sessions.length];
    events.push(i % 2 === 0 ? originals[(i * 7) % originals.length] : eventOf(s, "checkout.session.async_payment_succeeded", `evt_storm_twin_${i}`));
  }
  // A fixed shuffle, so duplicates arrive concurrently with, before and after their originals.
  for (let i = events.length - 1; i > 0; i--) {
    const j = (i * 7919 + 13) % (i + 1);
    [events[i], events[j]] = [events[j], events[i]];
  }
  const signed = events.map((evt) => {
    const payload = JSON.stringify(evt);
    return { payload, signature: Stripe.webhooks.generateTestHeaderString({ payload, secret }) };
  });

  const statuses = new Map();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < signed.length) {
        const { payload, signature } = signed[next++];
        const res = await fetch(`${base}/stripe/webhook`, {
          method: "POST",
          headers: { "content-type": "application/json", "stripe-signature": signature },
          body: payload,
        });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;

  // The audit: each account holds exactly the credits of its distinct sessions, and its journal agrees.
  const expected = new Map(accounts.map((a) => [a, 0]));
  for (const s of sessions) expected.set(s.account, expected.get(s.account) + CREDITS);
  const wrong = [];
  for (const id of accounts) {
    const a = await (await fetch(`${base}/bench/audit/${id}`)).json();
    if (a.balance !== expected.get(id) || a.journalSum !== a.balance) wrong.push({ id, balance: a.balance, journal: a.journalSum, expected: expected.get(id) });
  }
  const purchases = (await db.prepare("SELECT count(*) AS n, sum(status = 'paid') AS paid FROM purchases WHERE id LIKE 'cs_storm_%'").first()) ?? {};
  const distinctEvents = new Set(events.map((e) => e.id)).size;
  const applied = (await db.prepare("SELECT count(*) AS n FROM stripe_events WHERE id LIKE 'evt_storm_%' AND applied_at IS NOT NULL").first()) ?? {};
  const result = {
    events: events.length,
    distinct_events: distinctEvents,
    distinct_purchases: DISTINCT_SESSIONS,
    accounts: ACCOUNTS,
    concurrency: CONCURRENCY,
    seconds: Math.round(seconds * 1000) / 1000,
    events_per_second: Math.round(events.length / seconds),
    statuses: Object.fromEntries(statuses),
    purchases_in_d1: purchases.n,
    purchases_paid: purchases.paid,
    events_applied_in_d1: applied.n,
    accounts_wrong: wrong,
  };
  result.ok = wrong.length === 0 && statuses.get(200) === events.length && purchases.n === DISTINCT_SESSIONS && applied.n === distinctEvents;
  say(
    `webhook storm: ${events.length} signed events (${distinctEvents} distinct, ${DISTINCT_SESSIONS} purchases) in ${result.seconds} s = ` +
      `${result.events_per_second} events/s; audit ${result.ok ? "ok" : "FAILED"} (purchases ${purchases.n}, applied ${applied.n}, wrong accounts ${wrong.length})`,
  );
  return result;
}
