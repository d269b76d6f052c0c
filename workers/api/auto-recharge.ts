import { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { WireReply } from "../../durable-objects/reply";
import { packages } from "../db/schema";
import type { Env } from "../env";
import { requireScope } from "../http/auth";
import { ApiError } from "../http/errors";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { savedCardOf } from "../stripe/auto-recharge";
import { Account } from "./accounts";
import { ledgerOf } from "./ledger";
import { AccountIdParam, errors, jsonBody, jsonResponse, NonNegativeCredits, PositiveCredits } from "./schemas";

export const AutoRechargeBody = z
  .object({
    enabled: z.boolean(),
    threshold: NonNegativeCredits.openapi({
      description: "When spending or an expiry takes `available` from at or above this to below it, buy the package (once per crossing); must be below the package's credits",
    }),
    package_id: z.string().min(1).max(64),
    monthly_limit: PositiveCredits.nullable()
      .optional()
      .openapi({ description: "Money charged per calendar month at most, in the package's currency's smallest unit; null or absent: no limit" }),
  })
  .strict()
  .openapi("AutoRechargeInput");

export const autoRecharge = newRouter();

serve(autoRecharge, {
  method: "put",
  path: "/v1/accounts/{id}/auto-recharge",
  summary: "Buy a package with the saved card whenever available credits fall below a threshold, capped per month",
  middleware: [requireScope("write")] as const,
  request: { params: AccountIdParam, body: jsonBody(AutoRechargeBody) },
  responses: { 200: jsonResponse(Account, "The account, with `auto_recharge`"), ...errors(400, 401, 403, 404) },
}, async (c, { params, body }) => send(await applyAutoRecharge(c.env, params.id, body)));

/**
 * Checks the package and hands the plan, with the card D1 keeps, to the account's object (the API
 * route and the hosted page both set auto-recharge through here).
 */
export async function applyAutoRecharge(env: Env, accountId: string, body: z.infer<typeof AutoRechargeBody>): Promise<WireReply> {
  const pkg = await drizzle(env.DB).select().from(packages).where(eq(packages.id, body.package_id)).get();
  if (!pkg) throw new ApiError(400, "invalid_request", `No package '${body.package_id}'.`, { field: "package_id" });
  if (!pkg.active) throw new ApiError(400, "invalid_request", `Package '${body.package_id}' is no longer on sale.`, { field: "package_id" });
  // One charge must lift the account out of the crossing that raised it, or one crossing would need
  // a chain of charges (and each of them would pay for credits that still leave it below).
  if (body.enabled && pkg.credits <= body.threshold) {
    throw new ApiError(400, "invalid_request", `The threshold must be below the package's ${pkg.credits} credits, so that one charge lifts the balance above it.`, {
      field: "threshold",
    });
  }
  const plan = {
    threshold: body.threshold,
    packageId: pkg.id,
    credits: pkg.credits,
    amount: pkg.priceAmount,
    currency: pkg.currency,
    monthlyLimit: body.monthly_limit ?? null,
  };
  // The card a checkout with save_payment_method saved (the object keeps the later of it and its own);
  // without one the account answers has_payment_method: false, held_back: "no_payment_method".
  const card = (await savedCardOf(env, accountId)) ?? undefined;
  return ledgerOf(env, accountId).setAutoRecharge({ enabled: body.enabled, plan, card });
}
