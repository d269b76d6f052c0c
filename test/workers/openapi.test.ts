import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api } from "./helpers";

// Every route of API.md sections Accounts, Pricing and estimates, Spending, History (entries, usage),
// Controls built so far (limits, alerts, allowance, block) and Keys, and the admin health view.
const CONTRACT: [method: string, path: string][] = [
  ["put", "/v1/accounts/{id}"],
  ["get", "/v1/accounts/{id}"],
  ["get", "/v1/prices"],
  ["put", "/v1/prices/{operation}"],
  ["post", "/v1/accounts/{id}/quote"],
  ["post", "/v1/accounts/{id}/debits"],
  ["post", "/v1/accounts/{id}/holds"],
  ["post", "/v1/accounts/{id}/holds/{hold_id}/capture"],
  ["post", "/v1/accounts/{id}/holds/{hold_id}/release"],
  ["post", "/v1/accounts/{id}/grants"],
  ["get", "/v1/accounts/{id}/entries"],
  ["get", "/v1/accounts/{id}/usage"],
  ["put", "/v1/accounts/{id}/limits"],
  ["put", "/v1/accounts/{id}/alerts"],
  ["put", "/v1/accounts/{id}/allowance"],
  ["put", "/v1/accounts/{id}/auto-recharge"],
  ["put", "/v1/accounts/{id}/block"],
  ["get", "/v1/admin/health"],
  ["post", "/v1/api-keys"],
  ["get", "/v1/api-keys"],
  ["delete", "/v1/api-keys/{id}"],
  ["post", "/v1/accounts/{id}/portal-sessions"],
  ["post", "/v1/webhook-endpoints"],
  ["get", "/v1/webhook-endpoints"],
  ["delete", "/v1/webhook-endpoints/{id}"],
  ["post", "/v1/webhook-endpoints/{id}/rotate-secret"],
  ["get", "/v1/webhook-endpoints/{id}/deliveries"],
  ["post", "/v1/webhook-endpoints/{id}/deliveries/{event_id}/retry"],
];

const get = (path: string) => exports.default.fetch(`https://credence.test${path}`);

interface Schema {
  $ref?: string;
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  items?: Schema;
}

interface Response {
  content?: { "application/json"?: { schema?: Schema } };
}

interface Doc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { responses: Record<string, Response>; parameters?: { name: string; in: string }[] }>>;
  components?: { securitySchemes?: Record<string, unknown>; schemas?: Record<string, Schema> };
}

/** The property names a schema documents, following $ref and allOf. */
function properties(doc: Doc, schema: Schema | undefined): Record<string, Schema> {
  if (!schema) return {};
  if (schema.$ref) return properties(doc, doc.components?.schemas?.[schema.$ref.replace("#/components/schemas/", "")]);
  const own = { ...schema.properties };
  for (const part of schema.allOf ?? []) Object.assign(own, properties(doc, part));
  return own;
}

const ACCOUNT = ["id", "balance", "available", "held", "debt", "lots", "holds", "limits", "low_balance", "auto_recharge", "next_expiry"];

// The answers API.md promises, route by route: [method, path, status, fields, fields of each item of `data`].
const ANSWERS: [string, string, string, string[], string[]?][] = [
  ["put", "/v1/accounts/{id}", "201", ACCOUNT],
  ["put", "/v1/accounts/{id}", "200", ACCOUNT],
  ["get", "/v1/accounts/{id}", "200", ACCOUNT],
  ["get", "/v1/prices", "200", ["data"], ["operation", "rates", "description"]],
  ["put", "/v1/prices/{operation}", "200", ["operation", "rates", "description"]],
  ["post", "/v1/accounts/{id}/quote", "200", ["cost", "balance", "available", "affordable", "available_after", "remaining_operations", "breakdown"]],
  ["post", "/v1/accounts/{id}/debits", "201", ["entry_id", "cost", "balance", "available"]],
  ["post", "/v1/accounts/{id}/holds", "201", ["hold_id", "amount", "expires_at", "available"]],
  ["post", "/v1/accounts/{id}/holds/{hold_id}/capture", "200", ["entry_id", "cost", "uncharged", "released", "overrun", "balance", "available"]],
  ["post", "/v1/accounts/{id}/holds/{hold_id}/release", "200", ["released", "available"]],
  ["post", "/v1/accounts/{id}/grants", "201", ["lot_id", "balance", "available"]],
  [
    "get",
    "/v1/accounts/{id}/entries",
    "200",
    ["data", "next_cursor"],
    ["id", "kind", "amount", "balance_after", "operation", "quantities", "hold_id", "description", "metadata", "created_at"],
  ],
  ["get", "/v1/accounts/{id}/usage", "200", ["data", "granularity", "from", "to", "time_zone"], ["period", "operation", "count", "credits"]],
  ["post", "/v1/api-keys", "201", ["id", "key", "prefix"]],
];

describe("GET /openapi.json", () => {
  it("is an OpenAPI 3.1 document, served without a key", async () => {
    const res = await get("/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const doc = (await res.json()) as Doc;
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info).toMatchObject({ title: "Credence" });
    expect(doc.components?.securitySchemes).toHaveProperty("bearer");
  });

  it.each(CONTRACT)("documents %s %s", async (method, path) => {
    const doc = (await (await get("/openapi.json")).json()) as Doc;
    expect(Object.keys(doc.paths)).toContain(path);
    const op = doc.paths[path]?.[method];
    expect(op, `${method} ${path}`).toBeDefined();
    expect(Object.keys(op?.responses ?? {}).length).toBeGreaterThan(0);
    // Path parameters are declared as such.
    for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
      expect(op?.parameters ?? []).toContainEqual(expect.objectContaining({ name, in: "path" }));
    }
  });

  it.each(ANSWERS)("the %s %s %s answer documents the fields API.md names", async (method, path, status, fields, itemFields) => {
    const doc = (await (await get("/openapi.json")).json()) as Doc;
    const response = doc.paths[path]?.[method]?.responses[status];
    expect(response, `${method} ${path} ${status}`).toBeDefined();
    const props = properties(doc, response?.content?.["application/json"]?.schema);
    expect(Object.keys(props)).toEqual(expect.arrayContaining(fields));
    if (itemFields) expect(Object.keys(properties(doc, props.data?.items))).toEqual(expect.arrayContaining(itemFields));
  });

  it("documents the quote breakdown's exact costs as text, and 429 wherever a key is checked", async () => {
    const doc = (await (await get("/openapi.json")).json()) as Doc;
    const quote = properties(doc, doc.paths["/v1/accounts/{id}/quote"]?.post?.responses["200"]?.content?.["application/json"]?.schema);
    const line = properties(doc, (quote.breakdown as { items?: Schema } | undefined)?.items) as Record<string, { type?: string; description?: string }>;
    expect(line.cost?.type).toBe("string");
    expect(line.cost?.description).toMatch(/fraction/);
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if ("401" in op.responses) expect(op.responses, `${method} ${path}`).toHaveProperty("429");
      }
    }
  });

  it("documents the error responses with the error format", async () => {
    const doc = (await (await get("/openapi.json")).json()) as Doc;
    const debit = doc.paths["/v1/accounts/{id}/debits"]?.post;
    expect(Object.keys(debit?.responses ?? {})).toEqual(expect.arrayContaining(["201", "400", "401", "402", "404", "409"]));
  });
});

describe("GET /docs", () => {
  it("is an HTML page listing every route of the contract", async () => {
    const res = await get("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain("/openapi.json");
    for (const [method, path] of CONTRACT) {
      const row = new RegExp(`>${method.toUpperCase()}</code></td><td><code>${path.replace(/[{}]/g, "\\$&")}</code>`);
      expect(html, `${method} ${path}`).toMatch(row);
    }
  });
});

describe("unknown routes", () => {
  it("an unknown path is a 404 in the error format", async () => {
    const res = await get("/nowhere");
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe("not_found");
    expect(typeof body.error.message).toBe("string");
  });

  it("an unknown /v1 path with a valid key is a 404 in the error format", async () => {
    const res = await api("GET", "/v1/nothing-here");
    expect(res.status).toBe(404);
    expect(res.body.error.type).toBe("not_found");
    expect(res.body.error.message).toContain("/v1/nothing-here");
  });

  it("a known path with another method is a 404 in the error format", async () => {
    const res = await api("DELETE", "/v1/prices");
    expect(res.status).toBe(404);
    expect(res.body.error.type).toBe("not_found");
  });
});
