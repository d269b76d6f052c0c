// Every page of the hosted page renders for a real account, with its data: what a user would see.
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, flush, openAccount } from "./helpers";

const BASE = "https://credence.test";
let cookie = "";
let csrf = "";

const get = async (path: string, headers: Record<string, string> = {}) => {
  const res = await exports.default.fetch(`${BASE}${path}`, { redirect: "manual", headers: { cookie, ...headers } });
  return { status: res.status, html: await res.text(), headers: res.headers };
};
const post = (path: string, form: Record<string, string>) =>
  exports.default.fetch(`${BASE}${path}`, { method: "POST", redirect: "manual", headers: { cookie, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf, ...form }).toString() });

beforeAll(async () => {
  await api("PUT", "/v1/prices/chat.test", { body: { rates: { input_tokens: { credits: 100, per: 1000 } }, description: "A test chat" } });
  await api("PUT", "/v1/packages/pp-small", { body: { credits: 1000, price: { amount: 500, currency: "usd" } } });
  await api("PUT", "/v1/packages/pp-large", { body: { credits: 5000, price: { amount: 2000, currency: "usd" } } });
  await openAccount("pages-user", 20_000);
  await api("PUT", "/v1/accounts/pages-user/alerts", { body: { low_balance_threshold: 19_500 } });
  await api("POST", "/v1/accounts/pages-user/debits", { body: { operation: "chat.test", quantities: { input_tokens: 12_000 } } });
  await api("POST", "/v1/accounts/pages-user/grants", { body: { amount: 300, expires_at: new Date(Date.now() + 3 * 86_400_000).toISOString() } });
  await flush("pages-user");
  const link = await api("POST", "/v1/accounts/pages-user/portal-sessions", { body: {} });
  const entered = await exports.default.fetch(link.body.url, { redirect: "manual" });
  cookie = (entered.headers.get("set-cookie") ?? "").split(";")[0] as string;
  csrf = /name="csrf" value="([0-9a-f]{64})"/.exec((await get("/portal/controls")).html)?.[1] ?? "";
});

describe("the pages", () => {
  it("overview: the balance, available, and banners for a low balance and credits expiring this week", async () => {
    const { status, html } = await get("/portal", { "accept-language": "de-DE,de;q=0.9" });
    expect(status).toBe(200);
    expect(html).toContain('lang="de-DE"');
    // 20,000 − 1,200 + 300 = 19,100 units = 191.00 credits, formatted for a German reader.
    expect(html).toMatch(/data-testid="balance">191,00/);
    expect(html).toContain("Your balance is low");
    expect(html).toContain("credits expire soon");
    expect(html).toMatch(/About <strong>\d[\d.,]*<\/strong> more <code>chat\.test<\/code>/);
  });

  it("prices: per unit, and the typical request in credits and money", async () => {
    const { html } = await get("/portal/prices");
    expect(html).toContain("chat.test");
    expect(html).toContain("1.00 credits per 1,000 input tokens");
    expect(html).toMatch(/12\.00 credits · \$6\.00/);
  });

  it("buy: each package with its discount, price per credit and the balance after", async () => {
    const { html } = await get("/portal/buy");
    expect(html).toContain('data-package="pp-large"');
    expect(html).toContain("save 20%");
    // 20.00 USD for 5,000 units = 50.00 credits: $0.40 per credit; the smaller one $0.50.
    expect(html).toContain("$0.40 per credit");
    expect(html).toContain("$0.50 per credit");
    expect(html).toContain("Balance after: 241.00 credits");
  });

  it("usage: the chart has today's spend by operation, and the history lists it with its balance after", async () => {
    const { html } = await get("/portal/usage");
    expect(html).toMatch(/<rect[^>]*data-operation="chat\.test"/);
    expect(html).toMatch(/<table id="history"/);
    expect(html).toContain("-12.00");
    const spentOnly = await get("/portal/usage?kind=debit");
    expect(spentOnly.html).toContain('data-kind="debit"');
    expect(spentOnly.html).not.toContain('data-kind="grant"');
  });

  it("controls: a bad value is shown next to its field and changes nothing; a good one is confirmed", async () => {
    const bad = await post("/portal/controls/limits", { daily: "1.234", monthly: "" });
    expect(bad.status).toBe(422);
    const html = await bad.text();
    expect(html).toMatch(/id="daily-error"[^>]*>Enter a number with at most 2 decimals/);
    expect(html).toMatch(/aria-invalid="true"/);
    const good = await post("/portal/controls/limits", { daily: "50", monthly: "" });
    expect(good.status).toBe(303);
    expect((await get(good.headers.get("location") as string)).html).toContain("Saved: spending limits.");
    expect((await api("GET", "/v1/accounts/pages-user")).body.limits.daily).toBe(5000);

    // A threshold the package cannot lift the account above (10.00 credits of a 10.00-credit package) is refused.
    const tooHigh = await post("/portal/controls/auto-recharge", { enabled: "1", threshold: "10", package_id: "pp-small", monthly_limit: "20" });
    expect(tooHigh.status).toBe(422);
    expect(await tooHigh.text()).toContain("threshold must be below the package");
    const ar = await post("/portal/controls/auto-recharge", { enabled: "1", threshold: "5", package_id: "pp-small", monthly_limit: "20" });
    expect(ar.status).toBe(303);
    expect((await api("GET", "/v1/accounts/pages-user")).body.auto_recharge).toMatchObject({ enabled: true, threshold: 500, package_id: "pp-small", monthly_limit: 2000, has_payment_method: false });
    const noPackage = await post("/portal/controls/auto-recharge", { enabled: "1", threshold: "10", package_id: "nope" });
    expect(noPackage.status).toBe(422);
    expect(await noPackage.text()).toContain("Choose a package.");
  });

  it("policies and purchases", async () => {
    const policies = await get("/portal/policies");
    expect(policies.html).toContain("expire 365 days after they are added");
    expect(policies.html).toMatch(/Granted/);
    const purchases = await get("/portal/purchases");
    expect(purchases.status).toBe(200);
    expect(purchases.html).toContain("No purchases yet");
  });

  it("assets: the stylesheet and the theme, with no inline style or script anywhere", async () => {
    const css = await get("/portal/assets/app.css");
    expect(css.headers.get("content-type")).toMatch(/text\/css/);
    for (const path of ["/portal", "/portal/prices", "/portal/buy", "/portal/usage", "/portal/controls", "/portal/policies", "/portal/purchases"]) {
      const { html } = await get(path);
      expect(html, path).not.toMatch(/<script|style="/);
    }
  });

  it("purchases: refunds and disputes as they are", async () => {
    const { env } = await import("cloudflare:test");
    await env.DB.batch([
      env.DB.prepare(
        "INSERT INTO purchases (id, account_id, package_id, credits, amount, currency, status, credits_clawed_back, amount_refunded, lot_id, created_at, updated_at) VALUES ('cs_pp_refund', 'pages-user', 'pp-small', 1000, 500, 'usd', 'partially_refunded', 400, 200, 'lot_x', ?1, ?1)",
      ).bind(Date.now() - 60_000),
      env.DB.prepare(
        "INSERT INTO purchases (id, account_id, package_id, credits, amount, currency, status, credits_clawed_back, amount_refunded, lot_id, created_at, updated_at) VALUES ('cs_pp_dispute', 'pages-user', 'pp-small', 1000, 500, 'usd', 'disputed', 1000, 0, 'lot_y', ?1, ?1)",
      ).bind(Date.now()),
    ]);
    const { html } = await get("/portal/purchases");
    expect(html).toContain("Partly refunded");
    expect(html).toContain("Disputed");
    expect(html).toContain("A dispute with your bank is open");
    expect(html).toMatch(/4\.00<\/td>/);
  });

  it("a blocked account and a debt are explained on the overview", async () => {
    await openAccount("pages-blocked", 100);
    await api("PUT", "/v1/accounts/pages-blocked/block", { body: { blocked: true, reason: "unusual activity" } });
    const link = await api("POST", "/v1/accounts/pages-blocked/portal-sessions", { body: {} });
    const entered = await exports.default.fetch(link.body.url, { redirect: "manual" });
    const own = (entered.headers.get("set-cookie") ?? "").split(";")[0] as string;
    const html = await (await exports.default.fetch(`${BASE}/portal`, { headers: { cookie: own } })).text();
    expect(html).toContain("Spending is paused.");
    expect(html).toContain("unusual activity");
  });

  it("branding: product name, logo, support link and a dark-enough accent from the vars", async () => {
    const { env } = await import("cloudflare:test");
    const { createApp } = await import("../../workers/app");
    const branded = { ...env, PORTAL_PRODUCT_NAME: "Acme AI", PORTAL_LOGO_URL: "https://cdn.acme.example/logo.svg", PORTAL_SUPPORT_URL: "https://acme.example/help", PORTAL_ACCENT_COLOR: "#7a1fa2" };
    const html = await (await createApp().request(`${BASE}/portal/prices`, { headers: { cookie } }, branded)).text();
    expect(html).toContain("<title>Prices · Acme AI</title>");
    expect(html).toContain('src="https://cdn.acme.example/logo.svg"');
    expect(html).toContain('href="https://acme.example/help"');
    expect(await (await createApp().request(`${BASE}/portal/assets/theme.css`, {}, branded)).text()).toBe(":root{--accent:#7a1fa2}");
    // Too light for white text (AA): the default accent instead.
    expect(await (await createApp().request(`${BASE}/portal/assets/theme.css`, {}, { ...branded, PORTAL_ACCENT_COLOR: "#ffee00" })).text()).toBe(":root{--accent:#3b5bdb}");
  });
});
