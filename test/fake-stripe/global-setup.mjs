// vitest globalSetup: starts the fake Stripe API on a free port before any test file runs, and hands
// its address to vitest.config.ts (cloudflareTest's options read it with inject("stripeApiBase")),
// which binds it as STRIPE_API_BASE so the Worker's Stripe client talks to it.
import { startFakeStripe } from "./server.mjs";

export default async function setup({ provide }) {
  const fake = await startFakeStripe();
  provide("stripeApiBase", fake.url);
  return () => fake.close();
}
