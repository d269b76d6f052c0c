// The pages Stripe sends a buyer back to when the app gave no success_url / cancel_url of its own.
// Plain and static: the credits arrive through the webhook, not through these pages.
import { Hono } from "hono";
import type { AppEnv } from "../http/router";

export const DEFAULT_SUCCESS_PATH = "/checkout/success";
export const DEFAULT_CANCEL_PATH = "/checkout/cancel";

const page = (title: string, text: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
  `<title>${title}</title></head><body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem">` +
  `<h1>${title}</h1><p>${text}</p></body></html>`;

export const checkoutPages = new Hono<AppEnv>();

checkoutPages.get(DEFAULT_SUCCESS_PATH, (c) =>
  c.html(page("Payment received", "Thank you. Your credits are added as soon as the payment is confirmed, usually within seconds. You can close this page.")),
);

checkoutPages.get(DEFAULT_CANCEL_PATH, (c) => c.html(page("Checkout cancelled", "Nothing was charged. You can close this page.")));
