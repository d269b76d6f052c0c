import { z } from "@hono/zod-openapi";
import { asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { packages } from "../db/schema";
import { requireScope } from "../http/auth";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { errors, jsonBody, jsonResponse, PositiveCredits } from "./schemas";

const PackageBody = z
  .object({
    credits: PositiveCredits,
    price: z.object({ amount: PositiveCredits, currency: z.string().regex(/^[a-z]{3}$/, "is a lowercase ISO 4217 code such as 'usd'") }).strict(),
    active: z.boolean().optional(),
  })
  .strict()
  .openapi("PackageInput");

const Package = z
  .object({
    id: z.string(),
    credits: z.number().int(),
    price: z.object({ amount: z.number().int(), currency: z.string() }),
    unit_price: z.number(),
    discount_percent: z.number(),
    active: z.boolean(),
  })
  .openapi("Package");

type Row = typeof packages.$inferSelect;

/** Price per credit, and the saving against the smallest package of the same currency. */
export function describePackages(rows: Row[]) {
  const smallest = new Map<string, Row>();
  for (const row of rows) {
    const s = smallest.get(row.currency);
    if (!s || row.credits < s.credits) smallest.set(row.currency, row);
  }
  return rows.map((row) => {
    const base = smallest.get(row.currency) as Row;
    const unit = row.priceAmount / row.credits;
    const baseUnit = base.priceAmount / base.credits;
    return {
      id: row.id,
      credits: row.credits,
      price: { amount: row.priceAmount, currency: row.currency },
      unit_price: Math.round(unit * 10_000) / 10_000,
      discount_percent: Math.max(0, Math.round((1 - unit / baseUnit) * 1000) / 10),
      active: row.active,
    };
  });
}

export const catalogue = newRouter();

serve(catalogue, {
  method: "get",
  path: "/v1/packages",
  summary: "Credit packages on sale, with per-credit price and bulk discount",
  middleware: [requireScope("read")] as const,
  responses: { 200: jsonResponse(z.object({ data: z.array(Package) }), "Packages"), ...errors(401) },
}, async (c) => {
  const rows = await drizzle(c.env.DB).select().from(packages).where(eq(packages.active, true)).orderBy(asc(packages.credits)).all();
  return c.json({ data: describePackages(rows) }, 200);
});

serve(catalogue, {
  method: "put",
  path: "/v1/packages/{id}",
  summary: "Create or change a credit package (admin)",
  middleware: [requireScope("admin")] as const,
  request: {
    params: z.object({ id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).openapi({ param: { name: "id", in: "path" } }) }),
    body: jsonBody(PackageBody),
  },
  responses: { 200: jsonResponse(Package, "The package"), ...errors(400, 401, 403) },
}, async (c, { params, body }) => {
  const { id } = params;
  const db = drizzle(c.env.DB);
  const row: Row = { id, credits: body.credits, priceAmount: body.price.amount, currency: body.price.currency, active: body.active ?? true, updatedAt: Date.now() };
  await db.insert(packages).values(row).onConflictDoUpdate({ target: packages.id, set: row });
  const all = await db.select().from(packages).where(eq(packages.active, true)).all();
  const described = describePackages(all.some((r) => r.id === id) ? all : [...all, row]);
  return c.json(described.find((p) => p.id === id) as (typeof described)[number], 200);
});
