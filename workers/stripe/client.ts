// The Stripe client, built for Workers: requests go through fetch and signatures are checked with
// SubtleCrypto. STRIPE_API_BASE points it at another Stripe API (a fake one in tests and local runs).
import Stripe from "stripe";
import type { Env } from "../env";

/** The API version the code is written against (the package's own); pinned so an upgrade is explicit. */
export const STRIPE_API_VERSION = Stripe.API_VERSION;

/** Retries of a failed request (network error, 409 lock, 5xx), each with the same idempotency key. */
const MAX_NETWORK_RETRIES = 2;
const TIMEOUT_MS = 20_000;

export const cryptoProvider = Stripe.createSubtleCryptoProvider();

/** host, port and protocol of an API base such as `http://127.0.0.1:12111`. */
export function apiAddress(base: string): { host: string; port: number; protocol: "http" | "https" } {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new Error(`STRIPE_API_BASE '${base}' is not a URL such as http://127.0.0.1:12111`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`STRIPE_API_BASE '${base}' must be http(s)`);
  const protocol = url.protocol === "http:" ? "http" : "https";
  return { host: url.hostname, port: url.port ? Number(url.port) : protocol === "http" ? 80 : 443, protocol };
}

/** A client for the given key; null when no key is configured. */
export function stripeClient(env: Pick<Env, "STRIPE_SECRET_KEY" | "STRIPE_API_BASE">): Stripe | null {
  if (!env.STRIPE_SECRET_KEY) return null;
  return new Stripe(env.STRIPE_SECRET_KEY, {
    apiVersion: STRIPE_API_VERSION,
    httpClient: Stripe.createFetchHttpClient(),
    maxNetworkRetries: MAX_NETWORK_RETRIES,
    timeout: TIMEOUT_MS,
    appInfo: { name: "credence" },
    ...(env.STRIPE_API_BASE ? apiAddress(env.STRIPE_API_BASE) : {}),
  });
}
