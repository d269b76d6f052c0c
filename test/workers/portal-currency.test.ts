// The hosted page shows and reads money in Stripe's units. ISK is the case that went wrong: Stripe's API
// counts it in hundredths (amount 250000 = ISK 2,500) while Intl writes krónur with no decimals, so the
// page showed prices 100× too large and read a typed monthly limit 100× too small.
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, openAccount } from "./helpers";

const BASE = "https://credence.test";
const ID = "pc-isk-user";
let cookie = "";
let csrf = "";

// Intl puts a no-break space between "ISK" and the number; the page is compared with plain spaces.
const get = async (path: string, headers: Record<string, string> = {}) => {
  const res = await exports.default.fetch(`${BASE}${path}`, { redirect: "manual", headers: { cookie, ...headers } });
  return { status: res.status, html: (await res.text()).replace(/[\u00a0\u202f]/g, " ") };
};
const post = async (path: string, form: Record<string, string>) => {
  const res = await exports.default.fetch(`${BASE}${path}`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf, ...form }).toString(),
  });
  return { status: res.status, html: (await res.text()).replace(/[\u00a0\u202f]/g, " ") };
};
const autoRecharge = async () => (await api("GET", `/v1/accounts/${ID}`)).body.auto_recharge;

beforeAll(async () => {
  // 5,000 units = 50.00 credits (CREDIT_DECIMALS=2) for ISK 2,500; 10,000 units for ISK 4,500.50.
  expect((await api("PUT", "/v1/packages/pc-isk", { body: { credits: 5000, price: { amount: 250_000, currency: "isk" } } })).status).toBe(200);
  expect((await api("PUT", "/v1/packages/pc-isk-big", { body: { credits: 10_000, price: { amount: 450_050, currency: "isk" } } })).status).toBe(200);
  await openAccount(ID, 1000);
  const link = await api("POST", `/v1/accounts/${ID}/portal-sessions`, { body: {} });
  const entered = await exports.default.fetch(link.body.url, { redirect: "manual" });
  cookie = (entered.headers.get("set-cookie") ?? "").split(";")[0] as string;
  csrf = /name="csrf" value="([0-9a-f]{64})"/.exec((await get("/portal/controls")).html)?.[1] ?? "";
  expect(csrf).not.toBe("");
});

describe("an ISK package on the hosted page", () => {
  it("buy: the price in krónur, with decimals only when the price has them, and per credit", async () => {
    const { status, html } = await get("/portal/buy");
    expect(status).toBe(200);
    const card = (id: string) => new RegExp(`data-package="${id}"[\\s\\S]*?</form>`).exec(html)?.[0] ?? "";
    expect(card("pc-isk")).toContain('<p class="price">ISK 2,500</p>');
    // ISK 2,500 for 50.00 credits.
    expect(card("pc-isk")).toContain("ISK 50 per credit");
    expect(card("pc-isk-big")).toContain('<p class="price">ISK 4,500.5</p>');
    expect(card("pc-isk-big")).toContain("ISK 45.005 per credit");
    expect(html).not.toContain("250,000");

    const german = await get("/portal/buy", { "accept-language": "de-DE" });
    expect(german.html).toContain('<p class="price">2.500 ISK</p>');
  });

  it("controls: the package is offered at its price, and the monthly limit typed in krónur is stored in Stripe's units", async () => {
    const page = await get("/portal/controls");
    expect(page.html).toContain("50.00 credits for ISK 2,500");
    expect(page.html).toContain("Monthly limit (money, in ISK; empty: none)");

    const saved = await post("/portal/controls/auto-recharge", { enabled: "1", threshold: "10", package_id: "pc-isk", monthly_limit: "7500" });
    expect(saved.status).toBe(303);
    // ISK 7,500 is 750,000 in Stripe's API: three packages a month at ISK 2,500.
    expect(await autoRecharge()).toMatchObject({ enabled: true, package_id: "pc-isk", monthly_limit: 750_000 });
    // The field shows the limit again as it was typed, so saving the form unchanged keeps it.
    const again = await get("/portal/controls");
    expect(again.html).toMatch(/id="ar-limit"[^>]*step="0\.01"[^>]*value="7500\.00"/);
    expect(again.html).toContain("Charged this month: ISK 0");

    const half = await post("/portal/controls/auto-recharge", { enabled: "1", threshold: "10", package_id: "pc-isk", monthly_limit: "7500.5" });
    expect(half.status).toBe(303);
    expect((await autoRecharge()).monthly_limit).toBe(750_050);
  });

  it("controls: a limit with more decimals than ISK has is refused next to its field, and nothing changes", async () => {
    const before = await autoRecharge();
    const bad = await post("/portal/controls/auto-recharge", { enabled: "1", threshold: "10", package_id: "pc-isk", monthly_limit: "7500.555" });
    expect(bad.status).toBe(422);
    expect(bad.html).toMatch(/id="monthly_limit-error"[^>]*>Enter an amount in ISK with at most 2 decimals, such as 12\.34\./);
    expect(await autoRecharge()).toEqual(before);
  });
});
