import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import committed from "../../client/openapi.json";
import { Credence, type FetchLike } from "../../client/src/index";
import { adminClient } from "./client-helpers";
import { flush } from "./helpers";

// The client's types are generated from client/openapi.json (openapi-typescript → client/src/schema.d.ts),
// which is generated from the app's zod schemas: never hand-copied. This fails when the committed
// document no longer matches what the app serves, i.e. the client's types have drifted from the API.
describe("client/openapi.json", () => {
  it("is the OpenAPI document the app generates now", async () => {
    const res = await exports.default.fetch("https://credence.test/openapi.json");
    expect(res.status).toBe(200);
    const current = await res.json();
    expect(
      current,
      "client/openapi.json is out of date with the app's zod schemas: run `npm run client:generate` and commit client/openapi.json and client/src/schema.d.ts",
    ).toEqual(committed);
  });
});

// A route the app serves without a client method would be an API the client silently lacks. Every
// method is called against a recording fetch, and the routes it reached must be the document's.
describe("the client's methods", () => {
  it("reach every route of the OpenAPI document, and nothing else", async () => {
    const reached = new Set<string>();
    const templates = Object.entries(committed.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({
        route: `${method.toUpperCase()} ${path}`,
        match: new RegExp(`^${method.toUpperCase()} ${path.replace(/\{[^}]+\}/g, "[^/]+")}$`),
      })),
    );
    const recording: FetchLike = async (input, init) => {
      const call = `${init.method} ${new URL(input).pathname}`;
      const template = templates.find((t) => t.match.test(call));
      reached.add(template?.route ?? `unknown: ${call}`);
      return Response.json({ data: [], next_cursor: null });
    };
    const c = new Credence({ apiKey: "k", baseUrl: "https://credence.test", fetch: recording });
    const body = {} as never;
    await Promise.all([
      c.accounts.get("a"), c.accounts.upsert("a"), c.accounts.block("a", body),
      c.quote("a", body), c.debits.create("a", body),
      c.holds.create("a", body), c.holds.capture("a", "h", body), c.holds.release("a", "h"),
      c.grants.create("a", body), c.entries.list("a").toArray(), c.usage.get("a"),
      c.limits.set("a", body), c.alerts.set("a", body), c.autoRecharge.set("a", body), c.allowance.set("a", body),
      c.prices.list(), c.prices.set("op", body), c.packages.list(), c.packages.set("p", body),
      c.checkoutSessions.create("a", body), c.purchases.list("a").toArray(), c.portalSessions.create("a"),
      c.apiKeys.create(body), c.apiKeys.list(), c.apiKeys.revoke("k"),
      c.webhookEndpoints.create(body), c.webhookEndpoints.list(), c.webhookEndpoints.disable("e"),
      c.webhookEndpoints.rotateSecret("e"), c.webhookEndpoints.deliveries("e").toArray(), c.webhookEndpoints.retry("e", "ev"),
      c.admin.health(),
    ]);
    expect([...reached].sort()).toEqual(templates.map((t) => t.route).sort());
  });
});

// The client's types are only as true as the document: an answer field the document does not name would
// be invisible to typed code, and a documented one that never comes would be a lie. The answers of the
// money routes are compared with their documented objects, field by field.
describe("the money routes' answers", () => {
  type JsonSchema = { $ref?: string; properties?: Record<string, JsonSchema>; required?: string[]; items?: JsonSchema };
  const doc = committed as unknown as { components: { schemas: Record<string, JsonSchema> } };
  const resolve = (schema: JsonSchema): JsonSchema =>
    schema.$ref ? doc.components.schemas[schema.$ref.replace("#/components/schemas/", "")]! : schema;
  /** The fields an answer (an object the document describes by `name`) has that it should not, or lacks. */
  function mismatch(name: string, answer: object): string[] {
    const schema = resolve({ $ref: `#/components/schemas/${name}` });
    const documented = Object.keys(schema.properties ?? {});
    const got = Object.keys(answer);
    return [
      ...got.filter((k) => !documented.includes(k)).map((k) => `${name}.${k} is not documented`),
      ...(schema.required ?? []).filter((k) => !got.includes(k)).map((k) => `${name}.${k} is documented as required but missing`),
    ];
  }

  it("have exactly the documented fields", async () => {
    const c = adminClient();
    const id = `schema-${Date.now().toString(36)}`;
    await c.prices.set("schema.chat", { rates: { tokens: { credits: 1, per: 10 } } });
    await c.accounts.upsert(id, {});
    const grant = await c.grants.create(id, { amount: 1000 });
    const quote = await c.quote(id, { operation: "schema.chat", quantities: { tokens: 95 } });
    const debit = await c.debits.create(id, { operation: "schema.chat", quantities: { tokens: 100 } });
    const hold = await c.holds.create(id, { amount: 50 });
    const capture = await c.holds.capture(id, hold.hold_id, { amount: 20 });
    const other = await c.holds.create(id, { amount: 10 });
    const release = await c.holds.release(id, other.hold_id);
    await flush(id);
    const entries = await c.entries.list(id).toArray();
    const account = await c.accounts.get(id);

    expect([
      ...mismatch("Grant", grant),
      ...mismatch("Quote", quote),
      ...quote.breakdown.flatMap((line) => mismatch("QuoteLine", line)),
      ...mismatch("Debit", debit),
      ...mismatch("Hold", hold),
      ...mismatch("Capture", capture),
      ...mismatch("Release", release),
      ...entries.flatMap((entry) => mismatch("Entry", entry)),
      ...mismatch("Account", account),
    ]).toEqual([]);
    expect(entries.length).toBeGreaterThanOrEqual(3);
  });

  it("have exactly the documented fields on the catalogue, history and admin routes too", async () => {
    const c = adminClient();
    const id = `schema-${Date.now().toString(36)}-b`;
    await c.accounts.upsert(id, {});
    await c.grants.create(id, { amount: 100 });
    const price = await c.prices.set("schema.image", { rates: { images: { credits: 40, per: 1 } } });
    const pack = await c.packages.set("schema_pack", { credits: 1000, price: { amount: 500, currency: "usd" } });
    await c.debits.create(id, { operation: "schema.image", quantities: { images: 1 } });
    const key = await c.apiKeys.create({ name: "schema", scopes: ["read"] });
    const keys = await c.apiKeys.list();
    const endpoint = await c.webhookEndpoints.create({ url: "https://hooks.example/schema", events: ["*"] });
    const endpoints = await c.webhookEndpoints.list();
    const checkout = await c.checkoutSessions.create(id, { package_id: "schema_pack" });
    const portal = await c.portalSessions.create(id);
    await flush(id);
    const usage = await c.usage.get(id);
    const health = await c.admin.health();

    expect([
      ...mismatch("Price", price),
      ...(await c.prices.list()).data.flatMap((p) => mismatch("Price", p)),
      ...mismatch("Package", pack),
      ...(await c.packages.list()).data.flatMap((p) => mismatch("Package", p)),
      ...keys.data.flatMap((k) => mismatch("ApiKey", k)),
      ...mismatch("ApiKey", await c.apiKeys.revoke(key.id)),
      ...endpoints.data.flatMap((e) => mismatch("WebhookEndpoint", e)),
      ...mismatch("WebhookEndpoint", await c.webhookEndpoints.disable(endpoint.id)),
      ...mismatch("CheckoutSession", checkout),
      ...mismatch("PortalSession", portal),
      ...mismatch("Usage", usage),
      ...mismatch("Health", health),
    ]).toEqual([]);
  });
});
