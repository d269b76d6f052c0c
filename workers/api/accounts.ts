import { createRoute, z } from "@hono/zod-openapi";
import { isValidTimeZone } from "../../durable-objects/ledger/limits";
import { requireScope } from "../http/auth";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { ledgerOf } from "./ledger";
import { AccountIdParam, errors, jsonBody, jsonResponse, Metadata } from "./schemas";

const AccountBody = z
  .object({
    name: z.string().max(200).nullable().optional(),
    email: z.string().email().max(320).nullable().optional(),
    metadata: Metadata.nullable().optional(),
    time_zone: z
      .string()
      .refine(isValidTimeZone, "is not an IANA time zone such as 'Europe/Paris'")
      .nullable()
      .optional()
      .openapi({ description: "The calendar for daily and monthly spending limits; UTC when unset." }),
  })
  .strict()
  .openapi("AccountInput");

const Account = z.object({ id: z.string(), balance: z.number().int(), available: z.number().int() }).passthrough().openapi("Account");

export const accounts = newRouter();

accounts.openapi(
  createRoute({
    method: "put",
    path: "/v1/accounts/{id}",
    summary: "Create or update an account",
    middleware: [requireScope("write")] as const,
    request: { params: AccountIdParam, body: jsonBody(AccountBody) },
    responses: { 200: jsonResponse(Account, "Updated"), 201: jsonResponse(Account, "Created"), ...errors(400, 401, 403) },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const reply = await ledgerOf(c.env, id).open({
      id,
      name: body.name,
      email: body.email,
      metadata: body.metadata,
      timeZone: body.time_zone,
    });
    return send(c, reply);
  },
);

accounts.openapi(
  createRoute({
    method: "get",
    path: "/v1/accounts/{id}",
    summary: "Balance, lots, holds, limits and next expiry of an account",
    middleware: [requireScope("read")] as const,
    request: { params: AccountIdParam },
    responses: { 200: jsonResponse(Account, "The account"), ...errors(400, 401, 404) },
  }),
  async (c) => send(c, await ledgerOf(c.env, c.req.valid("param").id).view()),
);
