// What the auto-recharge tests share: a package, a card saved the way a real checkout saves it, and the
// fake Stripe API's view of the PaymentIntents made for an account.
import { env } from "cloudflare:test";
import { expect } from "vitest";
import { api } from "./helpers";
import { deliver, event } from "./stripe-events";

export const PACKAGE = { id: "ar-starter", credits: 1000, amount: 500 };

export async function withPackage(): Promise<void> {
  const res = await api("PUT", `/v1/packages/${PACKAGE.id}`, { body: { credits: PACKAGE.credits, price: { amount: PACKAGE.amount, currency: "usd" } } });
  expect(res.status).toBe(200);
}

export interface FakePaymentIntent {
  id: string;
  amount: number;
  amount_received: number;
  currency: string;
  customer: string | null;
  payment_method: string | null;
  status: string;
  created: number;
  metadata: Record<string, string>;
  last_payment_error: { code: string } | null;
  setup_future_usage?: string | null;
}

/** The fake Stripe API, as the Worker's key sees it. */
export async function fakeStripe<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${env.STRIPE_API_BASE}${path}`, { ...init, headers: { authorization: "Bearer sk_test_fake", ...init.headers } });
  expect(res.status, `${path}: ${res.status}`).toBeLessThan(300);
  return (await res.json()) as T;
}

/** Every PaymentIntent the fake made for an account (declined ones too), oldest first. */
export async function paymentIntentsOf(accountId: string): Promise<FakePaymentIntent[]> {
  const page = await fakeStripe<{ data: FakePaymentIntent[] }>("/v1/payment_intents?limit=10000");
  return page.data.filter((pi) => pi.metadata.account_id === accountId).reverse();
}

/** Tells the fake what the next charges to a card get (decline codes, or "succeeded"). */
export async function scriptCard(paymentMethod: string, outcomes: string[]): Promise<void> {
  await fakeStripe(`/__cards/${paymentMethod}`, { method: "POST", body: JSON.stringify({ outcomes }) });
}

/**
 * A card saved as a checkout with save_payment_method saves one: its PaymentIntent succeeded with
 * setup_future_usage off_session, and Stripe says so by webhook.
 */
export async function saveCard(accountId: string, paymentMethod: string, customer = `cus_${accountId}`, created = Math.floor(Date.now() / 1000)) {
  // The account's Stripe customer, as its first checkout here creates it: a card is kept only for it.
  await env.DB.prepare("INSERT INTO stripe_customers (account_id, customer_id, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (account_id) DO NOTHING")
    .bind(accountId, customer, Date.now())
    .run();
  const pi = {
    id: `pi_checkout_${accountId}_${paymentMethod}_${created}`,
    object: "payment_intent",
    amount: 500,
    amount_received: 500,
    currency: "usd",
    customer,
    payment_method: paymentMethod,
    setup_future_usage: "off_session",
    status: "succeeded",
    created,
    metadata: { account_id: accountId, package_id: PACKAGE.id, credits: String(PACKAGE.credits) },
  };
  const res = await deliver(event("payment_intent.succeeded", pi));
  expect(res.status).toBe(200);
  return pi;
}

/** Delivers the webhook Stripe sends for a PaymentIntent the fake made (succeeded or failed). */
export async function deliverOutcome(pi: FakePaymentIntent) {
  const type = pi.status === "succeeded" ? "payment_intent.succeeded" : "payment_intent.payment_failed";
  const res = await deliver(event(type, { object: "payment_intent", ...pi }));
  expect(res.status).toBe(200);
  return res;
}

/** The auto-recharge PaymentIntents the fake made for an account (not its checkouts' own), oldest first. */
export async function rechargesOf(accountId: string): Promise<FakePaymentIntent[]> {
  return (await paymentIntentsOf(accountId)).filter((pi) => pi.metadata.kind === "auto_recharge");
}

type PaymentEvent = "checkout.session.completed" | "payment_intent.succeeded";

export interface Bought {
  session: Record<string, unknown> & { id: string };
  payment_intent: FakePaymentIntent;
  /** The events "Stripe" wrote to its log for the payment: what its webhook would deliver. */
  events: Record<PaymentEvent, { id: string; type: string }>;
}

/**
 * Buys the package as a user does: a checkout session through the API, paid on "Stripe's page" (the
 * fake's /__pay, with `paymentMethod`), then Stripe's events delivered to the webhook in the order
 * given (both by default; a test may hold one back).
 */
export async function buy(
  accountId: string,
  options: { save?: boolean; paymentMethod?: string; deliver?: PaymentEvent[] },
): Promise<Bought> {
  const created = await api("POST", `/v1/accounts/${accountId}/checkout-sessions`, { body: { package_id: PACKAGE.id, save_payment_method: options.save ?? false } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const paid = await fakeStripe<Bought>(`/__pay/${created.body.id}`, { method: "POST", body: JSON.stringify({ payment_method: options.paymentMethod ?? "pm_card_visa" }) });
  for (const type of options.deliver ?? ["checkout.session.completed", "payment_intent.succeeded"]) {
    const res = await deliver(paid.events[type]);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }
  return paid;
}
