// The webhook endpoints API (admin): what it accepts, that the secret is shown once, and who may call it.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../workers/app";
import { ADMIN_KEY, api, freshKey } from "./helpers";

describe("POST /v1/webhook-endpoints", () => {
  it("creates an endpoint with a whsec_ secret shown once, never listed again", async () => {
    const created = await api("POST", "/v1/webhook-endpoints", { body: { url: "https://ops.example/hooks", events: ["balance.low", "purchase.completed"], description: "ops" } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.stringMatching(/^we_/), url: "https://ops.example/hooks", events: ["balance.low", "purchase.completed"], status: "active" });
    expect(created.body.secret).toMatch(/^whsec_/);
    const listed = await api("GET", "/v1/webhook-endpoints");
    expect(listed.status).toBe(200);
    const mine = listed.body.data.find((e: { id: string }) => e.id === created.body.id);
    expect(mine).toMatchObject({ url: "https://ops.example/hooks", status: "active" });
    expect(JSON.stringify(listed.body)).not.toContain(created.body.secret);
    expect(mine).not.toHaveProperty("secret");
  });

  it("refuses a URL that is not https (http://localhost only in development), unknown events and extra fields", async () => {
    const refused = async (body: unknown, field: string) => {
      const res = await api("POST", "/v1/webhook-endpoints", { body });
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(JSON.stringify(res.body.error)).toContain(field);
    };
    await refused({ url: "http://ops.example/hooks", events: ["*"] }, "url");
    await refused({ url: "http://localhost:9000/hooks", events: ["*"] }, "url");
    await refused({ url: "ftp://ops.example", events: ["*"] }, "url");
    await refused({ url: "https://user:pw@ops.example", events: ["*"] }, "url");
    await refused({ url: "not a url", events: ["*"] }, "url");
    await refused({ url: "https://ops.example", events: ["balance.lowish"] }, "events");
    await refused({ url: "https://ops.example", events: [] }, "events");
    await refused({ url: "https://ops.example", events: ["*"], secret: "mine" }, "secret");
  });

  it("is admin only, and 404s an unknown endpoint", async () => {
    const write = await api("POST", "/v1/api-keys", { body: { name: "writer", scopes: ["read", "write"] } });
    const asWriter = await api("POST", "/v1/webhook-endpoints", { body: { url: "https://ops.example", events: ["*"] }, key: write.body.key });
    expect(asWriter.status).toBe(403);
    expect((await api("GET", "/v1/webhook-endpoints", { key: write.body.key })).status).toBe(403);
    expect((await api("GET", "/v1/webhook-endpoints", { key: null })).status).toBe(401);
    expect((await api("DELETE", "/v1/webhook-endpoints/we_00000000000000000000")).status).toBe(404);
    expect((await api("POST", "/v1/webhook-endpoints/we_00000000000000000000/rotate-secret", { idem: freshKey() })).status).toBe(404);
    expect((await api("GET", "/v1/webhook-endpoints/we_00000000000000000000/deliveries")).status).toBe(404);
  });

  it("accepts http://localhost and 127.0.0.1 in development, for a receiver on the laptop", async () => {
    const dev = { ...env, ENVIRONMENT: "development" };
    for (const url of ["http://localhost:9000/hooks", "http://127.0.0.1:9000/hooks"]) {
      const res = await createApp().request(
        "https://credence.test/v1/webhook-endpoints",
        { method: "POST", headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json", "idempotency-key": freshKey() }, body: JSON.stringify({ url, events: ["*"] }) },
        dev,
      );
      expect(res.status).toBe(201);
    }
  });
});
