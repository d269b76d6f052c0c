// Proves the browser harness end to end with what Credence serves today (no portal yet): the local
// test checkout page (ENVIRONMENT=development, no STRIPE_SECRET_KEY) at a phone's and a desktop's
// width, checked with axe, then paid for in the browser, the credits arriving through the webhook.

import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Credence, checkA11y, eventually, launchBrowser, newPage, screenshot, startCredence } from "./harness";

const ACCOUNT = "smoke-user";
const WIDTHS = [360, 1280] as const;

describe("browser harness smoke: the local test checkout", () => {
  let credence: Credence | undefined;
  let browser: Browser | undefined;
  let checkoutUrl = "";

  beforeAll(async () => {
    // Both at once: wrangler's start-up is the long part, Chromium's overlaps it.
    const [started, launched] = await Promise.allSettled([startCredence(), launchBrowser()]);
    if (started.status === "fulfilled") credence = started.value;
    if (launched.status === "fulfilled") browser = launched.value;
    if (started.status === "rejected") throw started.reason;
    if (launched.status === "rejected") throw launched.reason;
  });

  afterAll(async () => {
    await browser?.close();
    await credence?.stop();
  });

  it("sets up an account with 1000 credits and a package, and starts a checkout", async () => {
    const { api } = credence!;
    const opened = await api("PUT", `/v1/accounts/${ACCOUNT}`, { name: "Smoke User" });
    expect(opened.status, opened.text).toBe(201);
    const granted = await api("POST", `/v1/accounts/${ACCOUNT}/grants`, { amount: 1000 });
    expect(granted.status, granted.text).toBe(201);
    const pkg = await api("PUT", "/v1/packages/starter", { credits: 1000, price: { amount: 500, currency: "usd" } });
    expect(pkg.status, pkg.text).toBe(200);

    const account = await api("GET", `/v1/accounts/${ACCOUNT}`);
    expect(account.json?.balance, account.text).toBe(1000);

    const checkout = await api("POST", `/v1/accounts/${ACCOUNT}/checkout-sessions`, { package_id: "starter" });
    expect(checkout.status, checkout.text).toBe(201);
    checkoutUrl = checkout.json.url;
    // The local test checkout on this Credence, not Stripe.
    expect(checkoutUrl.startsWith(`${credence!.url}/checkout/local/`), checkoutUrl).toBe(true);
  });

  for (const width of WIDTHS) {
    it(`shows the checkout page at ${width} px with a Pay button and no serious accessibility violations`, async () => {
      expect(checkoutUrl, "the checkout test above failed").not.toBe("");
      const page = await newPage(browser!, width);
      try {
        const response = await page.goto(checkoutUrl);
        expect(response?.status()).toBe(200);
        await page.getByRole("button", { name: /^Pay\b/ }).waitFor({ state: "visible", timeout: 10_000 });
        await screenshot(page, "local-checkout", width);
        expect(await checkA11y(page)).toEqual([]);
      } finally {
        await page.context().close();
      }
    });
  }

  it("pays in the browser and the credits arrive: balance 1000 → 2000", async () => {
    expect(checkoutUrl, "the checkout test above failed").not.toBe("");
    const page: Page = await newPage(browser!, 1280);
    try {
      await page.goto(checkoutUrl);
      const pay = page.getByRole("button", { name: /^Pay\b/ });
      await pay.waitFor({ state: "visible", timeout: 10_000 });

      // The form posts to /checkout/local/<id>/pay, which answers 303 to the success page.
      const posted = page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname.endsWith("/pay"));
      await pay.click();
      const answer = await posted;
      expect(answer.status(), answer.status() === 303 ? "" : await answer.text()).toBe(303);
      await page.waitForURL((u) => u.pathname === "/checkout/success", { waitUntil: "load" });
      await page.getByRole("heading", { name: "Payment received" }).waitFor({ state: "visible", timeout: 10_000 });
      await screenshot(page, "local-checkout-paid", 1280);

      const { api } = credence!;
      let last = "";
      const balance = await eventually(
        async () => {
          const account = await api("GET", `/v1/accounts/${ACCOUNT}`);
          last = account.text;
          return account.json?.balance === 2000 ? 2000 : undefined;
        },
        15_000,
        () => `balance of ${ACCOUNT} to reach 2000; last answer: ${last}`,
      );
      expect(balance).toBe(2000);
    } finally {
      await page.context().close();
    }
  });
});
