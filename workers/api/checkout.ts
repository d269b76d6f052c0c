import { z } from "@hono/zod-openapi";
import { requireScope } from "../http/auth";
import { idempotency } from "../http/idempotency";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { DEFAULT_CANCEL_PATH, DEFAULT_SUCCESS_PATH } from "../stripe/pages";
import { ledgerOf } from "./ledger";
import { AccountIdParam, errors, IdempotencyHeader, jsonBody, jsonResponse } from "./schemas";

const ReturnUrl = z
  .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
  .max(2000)
  .openapi({ description: "http(s); may contain Stripe's {CHECKOUT_SESSION_ID} placeholder" });

const CheckoutBody = z
  .object({
    package_id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "is not a package id"),
    success_url: ReturnUrl.optional(),
    cancel_url: ReturnUrl.optional(),
    save_payment_method: z
      .boolean()
      .optional()
      .openapi({ description: "Keep the card for off-session charges (auto-recharge)." }),
  })
  .strict()
  .openapi("CheckoutSessionRequest");

const CheckoutSession = z
  .object({ id: z.string().openapi({ example: "cs_test_a1b2c3" }), url: z.string().openapi({ description: "Send the buyer here to pay" }) })
  .openapi("CheckoutSession");

export const checkout = newRouter();

serve(checkout, {
  method: "post",
  path: "/v1/accounts/{id}/checkout-sessions",
  summary: "Start a Stripe Checkout for a credit package",
  description:
    "Creates a Stripe Checkout Session that sells the package at its current price; send the buyer to `url`. " +
    "The credits arrive through the Stripe webhook once the payment succeeds. The same Idempotency-Key " +
    "returns the same session. 503 payments_not_configured when no Stripe key is set; 502 " +
    "payment_provider_error when Stripe refuses (its message is passed on).",
  middleware: [requireScope("write")] as const,
  request: { params: AccountIdParam, headers: IdempotencyHeader, body: jsonBody(CheckoutBody) },
  responses: {
    201: jsonResponse(CheckoutSession, "The session"),
    ...errors(400, 401, 403, 404, 409, 413, 502, 503),
  },
}, async (c, { params, body }) => {
  const { id } = params;
  const { key } = await idempotency(c, `checkout:${id}`, body);
  // Loaded here, not at the top: the Stripe package stays out of isolates that only debit.
  const { createCheckout, packageOnSale } = await import("../stripe/checkout");
  // Both looked up at once; an unknown account is reported before anything about the package.
  const [account, pkg] = await Promise.allSettled([ledgerOf(c.env, id).view(), packageOnSale(c.env, body.package_id)]);
  if (account.status === "rejected") throw account.reason;
  if (account.value.status !== 200) return send(account.value);
  if (pkg.status === "rejected") throw pkg.reason;
  const origin = new URL(c.req.url).origin;
  const session = await createCheckout(c.env, {
    accountId: id,
    packageId: pkg.value.id,
    credits: pkg.value.credits,
    amount: pkg.value.priceAmount,
    currency: pkg.value.currency,
    successUrl: body.success_url ?? `${origin}${DEFAULT_SUCCESS_PATH}?session_id={CHECKOUT_SESSION_ID}`,
    cancelUrl: body.cancel_url ?? `${origin}${DEFAULT_CANCEL_PATH}`,
    savePaymentMethod: body.save_payment_method ?? false,
  }, key, origin);
  return c.json(session, 201);
});
