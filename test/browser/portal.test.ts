// The hosted page in a real browser (headless Chromium) against `wrangler dev`, at a phone's and a
// desktop's width: open a portal link, see the balance, buy a package through the local test checkout
// and see the new balance once the webhook has credited it, change auto-recharge and a spending limit,
// and see a debit made through the API appear in the history and the chart. Every page is checked
// with axe (no serious or critical violation) and, with SCREENSHOTS=1, photographed for the README.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Credence, checkA11y, eventually, launchBrowser, newPage, screenshot, startCredence } from "./harness";

const WIDTHS = [360, 1280] as const;

describe("the hosted page", () => {
  let credence: Credence;
  let browser: Browser;

  beforeAll(async () => {
    const [started, launched] = await Promise.allSettled([startCredence(), launchBrowser()]);
    if (started.status === "rejected") throw started.reason;
    if (launched.status === "rejected") throw launched.reason;
    credence = started.value;
    browser = launched.value;
    const { api } = credence;
    const ok = (r: { status: number; text: string }, status: number) => expect(r.status, r.text).toBe(status);
    ok(await api("PUT", "/v1/prices/chat.demo", { rates: { input_tokens: { credits: 100, per: 1000 }, output_tokens: { credits: 300, per: 1000 } }, description: "Chat, per token" }), 200);
    ok(await api("PUT", "/v1/prices/image.demo", { rates: { images: { credits: 500, per: 1 } }, description: "One image" }), 200);
    ok(await api("PUT", "/v1/packages/starter", { credits: 1000, price: { amount: 500, currency: "usd" } }), 200);
    ok(await api("PUT", "/v1/packages/pro", { credits: 5000, price: { amount: 2000, currency: "usd" } }), 200);
  });

  afterAll(async () => {
    await browser?.close();
    await credence?.stop();
  });

  for (const width of WIDTHS) {
    it(`works end to end at ${width} px, every page accessible`, async () => {
      const { api } = credence;
      const id = `portal-${width}`;
      expect((await api("PUT", `/v1/accounts/${id}`, { name: "Browser User", time_zone: "Europe/Paris" })).status).toBe(201);
      expect((await api("POST", `/v1/accounts/${id}/grants`, { amount: 2000, metadata: { seed: "welcome" } })).status).toBe(201);
      expect((await api("POST", `/v1/accounts/${id}/debits`, { operation: "image.demo", quantities: { images: 1 } })).status).toBe(201);
      const link = await api("POST", `/v1/accounts/${id}/portal-sessions`, { return_url: "https://app.example/account" });
      expect(link.status, link.text).toBe(201);

      const page = await newPage(browser, width);
      const visit = async (name: string, path?: string) => {
        if (path) await page.goto(`${credence.url}${path}`);
        expect(await checkA11y(page), `${name} at ${width} px`).toEqual([]);
        await screenshot(page, name, width);
      };
      try {
        // The link signs in and lands on the overview: 20.00 − 5.00 = 15.00 credits (CREDIT_DECIMALS 2).
        await page.goto(link.json.url);
        expect(new URL(page.url()).pathname).toBe("/portal");
        await expect.poll(() => page.getByTestId("balance").innerText()).toMatch(/^15\.00/);
        // Keyboard: the first Tab reaches the skip link.
        await page.keyboard.press("Tab");
        expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
        await visit("overview");
        await visit("prices", "/portal/prices");
        expect(await page.getByRole("row", { name: /image\.demo/ }).innerText()).toMatch(/5\.00 credits per 1 images/);

        // Buy the starter package through the local test checkout.
        await visit("buy", "/portal/buy");
        await page.locator('form[data-package="starter"]').getByRole("button", { name: /^Buy/ }).click();
        await page.getByRole("button", { name: /^Pay\b/ }).click();
        await page.waitForURL(/\/portal\/checkout\/return/);
        await eventually(
          async () => ((await page.getByTestId("purchase-status").innerText().catch(() => "")) === "Credited" ? true : (await page.reload(), undefined)),
          20_000,
          () => `the purchase was not shown as credited at ${page.url()}`,
        );
        expect(await page.getByTestId("balance").innerText()).toMatch(/^25\.00/);
        await visit("checkout-return");

        // Auto-recharge and a daily limit, confirmed on the page and applied to the account.
        await page.goto(`${credence.url}/portal/controls`);
        await page.getByLabel("Auto-recharge on").check();
        await page.getByLabel("Threshold (credits)").fill("5");
        await page.getByLabel("Package to buy").selectOption("starter");
        await page.getByLabel(/^Monthly limit \(money/).fill("20");
        await page.getByRole("button", { name: "Save auto-recharge" }).click();
        await expect.poll(() => page.getByRole("status").innerText()).toContain("Saved: auto-recharge.");
        await page.getByLabel("Daily limit (credits)").fill("50");
        await page.getByRole("button", { name: "Save limits" }).click();
        await expect.poll(() => page.getByRole("status").innerText()).toContain("Saved: spending limits.");
        // A wrong value is shown next to its field.
        await page.getByLabel("Warn me below (credits; empty: never)").fill("1.234");
        await page.getByRole("button", { name: "Save warning" }).click();
        expect(await page.locator("#low_balance_threshold-error").innerText()).toContain("at most 2 decimals");
        await visit("controls");
        const account = (await api("GET", `/v1/accounts/${id}`)).json;
        expect(account.auto_recharge).toMatchObject({ enabled: true, threshold: 500, package_id: "starter", monthly_limit: 2000 });
        expect(account.limits.daily).toBe(5000);
        expect(account.low_balance.threshold).toBeNull();

        // A debit made through the API shows in the history and the chart (through the history Queue).
        expect((await api("POST", `/v1/accounts/${id}/debits`, { operation: "chat.demo", quantities: { input_tokens: 2000, output_tokens: 1000 } })).status).toBe(201);
        await page.goto(`${credence.url}/portal/usage`);
        // The page reads the history and the chart's daily usage from D1 at the same time: a render can
        // fall between the two when the Queue's write lands, so wait until the page shows both.
        const debitRow = page.locator('#history tr[data-kind="debit"]', { hasText: "chat.demo" });
        const chartBar = page.locator('svg[data-testid="usage-chart"] rect[data-operation="chat.demo"]');
        await eventually(
          async () => ((await debitRow.count()) > 0 && (await chartBar.count()) > 0 ? true : (await page.reload(), undefined)),
          20_000,
          () => "the chat.demo debit did not reach the history and the chart",
        );
        expect(await debitRow.first().innerText()).toMatch(/-5\.00/);
        expect(await chartBar.count()).toBe(1);
        await visit("usage");
        await visit("policies", "/portal/policies");
        await visit("purchases", "/portal/purchases");
        expect(await page.getByRole("row", { name: /10\.00/ }).first().innerText()).toMatch(/\$5\.00/);
      } finally {
        await page.context().close();
      }
    });
  }

  it("a used link shows the way back, never the account", async () => {
    const { api } = credence;
    const link = await api("POST", "/v1/accounts/portal-360/portal-sessions", { return_url: "https://app.example/account" });
    const page = await newPage(browser, 360);
    try {
      await page.goto(link.json.url);
      await page.context().clearCookies();
      const again = await page.goto(link.json.url);
      expect(again?.status()).toBe(410);
      expect(await page.getByTestId("signed-out").innerText()).toContain("already used");
      expect(await page.getByRole("link", { name: "Go back to the app" }).getAttribute("href")).toBe("https://app.example/account");
      expect(await checkA11y(page)).toEqual([]);
      await screenshot(page, "link-used", 360);
    } finally {
      await page.context().close();
    }
  });
});
