import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import committed from "../../client/openapi.json";
import { Credence, type FetchLike } from "../../client/src/index";

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
