// The hosted page's entry and its security, in the Workers runtime: one-time links, the session cookie
// bound to one account, CSRF on every form, and the headers every page carries.
import { env } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, openAccount } from "./helpers";

const BASE = "https://credence.test";

async function link(accountId: string, returnUrl?: string): Promise<string> {
  const res = await api("POST", `/v1/accounts/${accountId}/portal-sessions`, { body: returnUrl ? { return_url: returnUrl } : {} });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(Date.parse(res.body.expires_at) - Date.now()).toBeGreaterThan(59 * 60_000);
  return res.body.url as string;
}

const get = (path: string, cookie?: string) => exports.default.fetch(`${BASE}${path}`, { redirect: "manual", headers: cookie ? { cookie } : {} });

/** Opens a link like a browser: the cookie it sets. */
async function enter(url: string): Promise<string> {
  const res = await get(new URL(url).pathname + new URL(url).search);
  expect(res.status).toBe(303);
  expect(res.headers.get("location")).toBe("/portal");
  const setCookie = res.headers.get("set-cookie") ?? "";
  expect(setCookie).toMatch(/HttpOnly/i);
  expect(setCookie).toMatch(/Secure/i);
  expect(setCookie).toMatch(/SameSite=Lax/i);
  expect(Number(/Max-Age=(\d+)/i.exec(setCookie)?.[1])).toBeLessThanOrEqual(12 * 3600);
  return setCookie.split(";")[0] as string;
}

function csrfOf(html: string): string {
  return /name="csrf" value="([0-9a-f]{64})"/.exec(html)?.[1] ?? "";
}

const post = (path: string, cookie: string, form: Record<string, string>) =>
  exports.default.fetch(`${BASE}${path}`, { method: "POST", redirect: "manual", headers: { cookie, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() });

describe("portal links and sessions", () => {
  it("a link opens the page once, for its own account, with strict headers", async () => {
    await openAccount("portal-a", 1234);
    const url = await link("portal-a", "https://app.example/settings");
    const cookie = await enter(url);
    const page = await get("/portal", cookie);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    const html = await page.text();
    expect(html).toContain('data-testid="balance"');
    // 1234 units with wrangler.toml's CREDIT_DECIMALS = 2.
    expect(html).toContain("12.34");
    expect(html).toContain("https://app.example/settings");
    // Used once: the second opening is refused, with the way back.
    const again = await get(new URL(url).pathname + new URL(url).search);
    expect(again.status).toBe(410);
    const text = await again.text();
    expect(text).toContain("already used");
    expect(text).toContain("https://app.example/settings");
    expect(text).not.toMatch(/at .*\(.*:\d+:\d+\)/);
  });

  it("without a cookie, with a forged one, or with an expired link: the signed-out page, never the account", async () => {
    await openAccount("portal-b", 10);
    const none = await get("/portal");
    expect(none.status).toBe(401);
    expect(await none.text()).toContain('data-testid="signed-out"');
    const forged = await get("/portal", "credence_portal=eyJhIjoicG9ydGFsLWIifQ.0000");
    expect(forged.status).toBe(401);
    const url = await link("portal-b");
    const token = new URL(url).searchParams.get("token") as string;
    const { sha256Hex } = await import("../../workers/http/crypto");
    await env.DB.prepare("UPDATE portal_links SET expires_at = ?2 WHERE token_hash = ?1").bind(await sha256Hex(token), Date.now() - 1).run();
    const expired = await get(new URL(url).pathname + new URL(url).search);
    expect(expired.status).toBe(410);
    expect(await expired.text()).toContain("expired");
    expect((await get("/portal/enter?token=nope")).status).toBe(400);
  });

  it("a POST without the CSRF token, or with another session's, is refused and changes nothing", async () => {
    await openAccount("portal-c", 100);
    await openAccount("portal-d", 100);
    const c = await enter(await link("portal-c"));
    const d = await enter(await link("portal-d"));
    const dToken = csrfOf(await (await get("/portal/controls", d)).text());
    const cToken = csrfOf(await (await get("/portal/controls", c)).text());
    expect(cToken).not.toBe(dToken);
    expect((await post("/portal/controls/limits", c, { daily: "5" })).status).toBe(403);
    expect((await post("/portal/controls/limits", c, { daily: "5", csrf: dToken })).status).toBe(403);
    expect((await api("GET", "/v1/accounts/portal-c")).body.limits.daily).toBeNull();
    const ok = await post("/portal/controls/limits", c, { daily: "5", monthly: "", csrf: cToken });
    expect(ok.status).toBe(303);
    expect((await api("GET", "/v1/accounts/portal-c")).body.limits.daily).toBe(500);
    // portal-d's session never touched portal-c, and the other way round.
    expect((await api("GET", "/v1/accounts/portal-d")).body.limits.daily).toBeNull();
  });

  it("no account id in a URL or a form reaches another account", async () => {
    await openAccount("portal-e", 100);
    await openAccount("portal-f", 999_999);
    const e = await enter(await link("portal-e"));
    const token = csrfOf(await (await get("/portal/controls", e)).text());
    // Ids slipped in are ignored: the session's account is the only one.
    const page = await (await get("/portal?account=portal-f&id=portal-f", e)).text();
    expect(page).not.toContain("9,999.99");
    await post("/portal/controls/limits", e, { daily: "7", csrf: token, account_id: "portal-f", id: "portal-f" });
    expect((await api("GET", "/v1/accounts/portal-f")).body.limits.daily).toBeNull();
    expect((await api("GET", "/v1/accounts/portal-e")).body.limits.daily).toBe(700);
    // Another account's checkout is "not one of yours".
    await env.DB.prepare(
      "INSERT INTO purchases (id, account_id, package_id, credits, amount, currency, status, created_at, updated_at) VALUES ('cs_of_f', 'portal-f', 'p', 10, 10, 'usd', 'paid', 1, 1)",
    ).run();
    const other = await get("/portal/checkout/return?session_id=cs_of_f", e);
    expect(other.status).toBe(404);
  });

  it("is 503 without SESSION_SECRET, and 404 for an unknown account", async () => {
    expect((await api("POST", "/v1/accounts/nobody-here/portal-sessions", { body: {} })).status).toBe(404);
    await openAccount("portal-g", 1);
    const { createApp } = await import("../../workers/app");
    const res = await createApp().request(
      `${BASE}/v1/accounts/portal-g/portal-sessions`,
      { method: "POST", headers: { authorization: `Bearer ${env.ADMIN_API_KEY}`, "content-type": "application/json" }, body: "{}" },
      { ...env, SESSION_SECRET: undefined },
    );
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("portal_not_configured");
  });
});
