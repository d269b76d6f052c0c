// The hosted page (/portal/*): Hono JSX rendered on the server. A session cookie binds every request to
// one account (session.ts); no account id is ever read from a URL or a form. Every state change is a
// POST carrying the session's CSRF token; every answer carries a strict CSP, frame-ancestors 'none'
// and no-referrer.
import { Hono, type Context } from "hono";
import type { Child } from "hono/jsx";
import { getCookie, setCookie } from "hono/cookie";
import type { AccountView } from "../../durable-objects/views";
import { applyAutoRecharge } from "../api/auto-recharge";
import { ledgerOf } from "../api/ledger";
import { parsePurchaseExpiryDays } from "../../durable-objects/ledger/purchases";
import type { Env } from "../env";
import { ApiError } from "../http/errors";
import { parseMoney } from "../money/currency";
import { APP_CSS, themeCss } from "./assets";
import { accountOf, averages, checkoutOf, dailyUsage, historyPage, packageList, priceList, purchaseList } from "./data";
import { creditDecimals, formats, localeOf, type Formats } from "./format";
import { brandOf, Layout } from "./layout";
import { Buy, CheckoutReturn } from "./pages/buy";
import { Controls, type FieldErrors } from "./pages/controls";
import { Overview } from "./pages/overview";
import { Policies } from "./pages/policies";
import { Prices } from "./pages/prices";
import { Purchases } from "./pages/purchases";
import { History, SWATCH_CSS, UsageChart } from "./pages/usage";
import { COOKIE, cookieIsSecure, csrfToken, csrfValid, newSession, openSession, redeemLink, sealSession, sessionSecret, SESSION_TTL_MS, type PortalSession } from "./session";

type PortalEnv = { Bindings: Env; Variables: { session: PortalSession; secret: string } };

const CSP = [
  "default-src 'none'",
  "style-src 'self'",
  "img-src 'self' https: data:",
  "form-action 'self' https://checkout.stripe.com",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

export const portal = new Hono<PortalEnv>();

portal.use("*", async (c, next) => {
  await next();
  c.header("Content-Security-Policy", CSP);
  c.header("X-Frame-Options", "DENY");
  c.header("Referrer-Policy", "no-referrer");
  c.header("X-Content-Type-Options", "nosniff");
  if (!c.res.headers.has("Cache-Control")) c.header("Cache-Control", "no-store");
});

portal.get("/portal/assets/app.css", (c) => c.body(APP_CSS + SWATCH_CSS, 200, { "Content-Type": "text/css; charset=utf-8", "Cache-Control": "public, max-age=300" }));
portal.get("/portal/assets/theme.css", (c) => c.body(themeCss(c.env.PORTAL_ACCENT_COLOR), 200, { "Content-Type": "text/css; charset=utf-8", "Cache-Control": "public, max-age=300" }));

/** A page for someone without a session: a link used, expired, unknown, or no cookie at all. */
function signedOut(c: Context<PortalEnv>, why: "used" | "expired" | "unknown" | "none" | "unconfigured", returnUrl: string | null, status: 400 | 401 | 403 | 410 | 503 = 401) {
  const text = {
    used: "This link was already used. Links to this page work once.",
    expired: "This link has expired. Links to this page are valid for one hour.",
    unknown: "This link is not valid.",
    none: "Your session has ended, or this page was opened without a link.",
    unconfigured: "This page is not set up yet (SESSION_SECRET is missing).",
  }[why];
  return c.html(
    <Layout brand={brandOf(c.env)} title="Open this page from the app" lang={localeOf(c.req.header("accept-language"))} returnUrl={returnUrl}>
      <div class="card" data-testid="signed-out">
        <p>{text}</p>
        <p>{returnUrl ? <a href={returnUrl}>Go back to the app</a> : "Go back to the app"} and open your credits page from there again.</p>
      </div>
    </Layout>,
    status,
  );
}

portal.get("/portal/enter", async (c) => {
  const secret = sessionSecret(c.env);
  if (!secret) return signedOut(c, "unconfigured", null, 503);
  const now = Date.now();
  const redeemed = await redeemLink(c.env.DB, c.req.query("token") ?? "", now);
  if (!redeemed.ok) return signedOut(c, redeemed.why, redeemed.returnUrl, redeemed.why === "unknown" ? 400 : 410);
  const session = newSession(redeemed.accountId, redeemed.returnUrl, now);
  setCookie(c, COOKIE, await sealSession(secret, session), {
    httpOnly: true,
    secure: cookieIsSecure(c.env, new URL(c.req.url)),
    sameSite: "Lax",
    path: "/portal",
    maxAge: Math.floor(SESSION_TTL_MS / 1000),
  });
  return c.redirect("/portal", 303);
});

// Everything else needs the session.
const guarded = async (c: Context<PortalEnv>, next: () => Promise<void>) => {
  const secret = sessionSecret(c.env);
  if (!secret) return signedOut(c, "unconfigured", null, 503);
  const session = await openSession(secret, getCookie(c, COOKIE), Date.now());
  if (!session) return signedOut(c, "none", null);
  c.set("session", session);
  c.set("secret", secret);
  if (c.req.method === "POST") {
    const form = await c.req.parseBody();
    if (!(await csrfValid(secret, session, form.csrf))) {
      return c.html(
        <Layout brand={brandOf(c.env)} title="This form is out of date" lang={localeOf(c.req.header("accept-language"))} returnUrl={session.returnUrl}>
          <div class="card">
            <p>Nothing was changed: the form was not sent from this page, or your session changed. Open the page again and retry.</p>
            <a href="/portal">Back to the overview</a>
          </div>
        </Layout>,
        403,
      );
    }
  }
  await next();
};
// The stylesheets and the link itself are the only things served without a session.
portal.use("*", async (c, next) => (c.req.path.startsWith("/portal/assets/") || c.req.path === "/portal/enter" ? next() : guarded(c, next)));

interface Ctx {
  account: AccountView;
  f: Formats;
  session: PortalSession;
  csrf: string;
}

async function context(c: Context<PortalEnv>): Promise<Ctx | Response> {
  const session = c.get("session");
  const account = await accountOf(c.env, session.accountId);
  if (!account) return signedOut(c, "none", session.returnUrl, 403);
  return { account, f: formats(c.env, c.req.header("accept-language"), account.time_zone), session, csrf: await csrfToken(c.get("secret"), session) };
}

const page = (c: Context<PortalEnv>, x: Ctx, title: string, active: string, body: Child, status: 200 | 422 | 502 = 200) =>
  c.html(
    <Layout brand={brandOf(c.env)} title={title} active={active} lang={x.f.locale} returnUrl={x.session.returnUrl}>
      {body}
    </Layout>,
    status,
  );

portal.get("/portal", async (c) => {
  const x = await context(c);
  if (x instanceof Response) return x;
  const now = Date.now();
  const prices = await priceList(c.env);
  const avg = await averages(c.env, x.session.accountId, prices.map((p) => p.operation).slice(0, 20));
  const remaining = [...avg.entries()]
    .filter(([, v]) => v.remaining !== null)
    .map(([operation, v]) => ({ operation, count: v.remaining as number }))
    .slice(0, 3);
  return page(c, x, "Your credits", "/portal", <Overview account={x.account} f={x.f} now={now} remaining={remaining} />);
});

portal.get("/portal/prices", async (c) => {
  const x = await context(c);
  if (x instanceof Response) return x;
  const [prices, packages] = await Promise.all([priceList(c.env), packageList(c.env)]);
  const avg = await averages(c.env, x.session.accountId, prices.map((p) => p.operation).slice(0, 50));
  const smallest = [...packages].sort((a, b) => a.credits - b.credits)[0];
  const rate = smallest ? { perCredit: smallest.price.amount / smallest.credits, currency: smallest.price.currency } : null;
  return page(c, x, "Prices", "/portal/prices", <Prices prices={prices} f={x.f} averages={avg} rate={rate} />);
});

portal.get("/portal/buy", async (c) => {
  const x = await context(c);
  if (x instanceof Response) return x;
  const packages = await packageList(c.env);
  return page(c, x, "Buy credits", "/portal/buy", <Buy account={x.account} packages={packages} f={x.f} csrf={x.csrf} error={null} cancelled={c.req.query("cancelled") === "1"} />);
});

portal.post("/portal/buy", async (c) => {
  const x = await context(c);
  if (x instanceof Response) return x;
  const form = await c.req.parseBody();
  const packageId = typeof form.package_id === "string" ? form.package_id : "";
  const origin = new URL(c.req.url).origin;
  const { createCheckout, packageOnSale } = await import("../stripe/checkout");
  try {
    const pkg = await packageOnSale(c.env, packageId);
    // Each press of "Buy" is its own checkout; the session is what makes a retry safe.
    const session = await createCheckout(
      c.env,
      {
        accountId: x.session.accountId,
        packageId: pkg.id,
        credits: pkg.credits,
        amount: pkg.priceAmount,
        currency: pkg.currency,
        successUrl: `${origin}/portal/checkout/return?session_id={CHECKOUT_SESSION_ID}`,
        cancelUrl: `${origin}/portal/buy?cancelled=1`,
        savePaymentMethod: form.save_card === "1",
      },
      crypto.randomUUID(),
      origin,
    );
    return c.redirect(session.url, 303);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    const packages = await packageList(c.env);
    return page(c, x, "Buy credits", "/portal/buy", <Buy account={x.account} packages={packages} f={x.f} csrf={x.csrf} error={err.message} cancelled={false} />, 502);
  }
});

portal.get("/portal/checkout/return", async (c) => {
  const x = await context(c);
  if (x instanceof Response) return x;
  const row = await checkoutOf(c.env, x.session.accountId, c.req.query("session_id") ?? "");
  const state = !row ? "unknown" : row.lot_id ? "credited" : "waiting";
  const body = <CheckoutReturn state={state} credits={row?.credits ?? null} balance={x.account.balance} f={x.f} />;
  // Waiting: the page looks again every 2 s until the webhook has credited the purchase (no script needed).
  return c.html(
    <Layout
      brand={brandOf(c.env)}
      title={state === "credited" ? "Thank you" : "Confirming your payment"}
      active="/portal/buy"
      lang={x.f.locale}
      returnUrl={x.session.returnUrl}
      head={state === "waiting" ? <meta http-equiv="refresh" content="2" /> : undefined}
    >
      {body}
    </Layout>,
    state === "unknown" ? 404 : 200,
  );
});

const KINDS = ["debit", "capture", "hold", "release", "grant", "purchase", "auto_recharge", "expire", "allowance", "clawback"];

portal.get("/portal/usage", async (c) => {
  const x = await context(c);
  if (x instanceof Response) return x;
  const now = Date.now();
  const kind = KINDS.includes(c.req.query("kind") ?? "") ? (c.req.query("kind") as string) : "";
  const operation = (c.req.query("operation") ?? "").slice(0, 100);
  const beforeRaw = Number(c.req.query("before"));
  const before = Number.isSafeInteger(beforeRaw) && beforeRaw > 0 ? beforeRaw : undefined;
  const limit = 25;
  const [rows, entries] = await Promise.all([
    dailyUsage(c.env, x.session.accountId, x.account.time_zone, 30, now),
    historyPage(c.env, x.session.accountId, { limit: limit + 1, ...(before ? { before } : {}), ...(kind ? { kind } : {}), ...(operation ? { operation } : {}) }),
  ]);
  const days: string[] = [];
  const { dayKey } = await import("../../durable-objects/ledger/limits");
  for (let i = 29; i >= 0; i--) days.push(dayKey(now - i * 86_400_000, x.account.time_zone));
  const page_ = entries.slice(0, limit);
  const last = page_.at(-1);
  const next = entries.length > limit && last ? `/portal/usage?${new URLSearchParams({ ...(kind ? { kind } : {}), ...(operation ? { operation } : {}), before: String(last.seq) })}` : null;
  return page(
    c,
    x,
    "Usage",
    "/portal/usage",
    <>
      <UsageChart rows={rows} days={[...new Set(days)]} f={x.f} />
      <History entries={page_} f={x.f} filter={{ kind, operation }} next={next} kinds={KINDS} />
    </>,
  );
});

portal.get("/portal/policies", async (c) => {
  const x = await context(c);
  if (x instanceof Response) return x;
  return page(c, x, "Expiry and rollover", "/portal/policies", <Policies account={x.account} f={x.f} purchaseExpiryDays={parsePurchaseExpiryDays(c.env.PURCHASE_EXPIRY_DAYS)} />);
});

portal.get("/portal/purchases", async (c) => {
  const x = await context(c);
  if (x instanceof Response) return x;
  return page(c, x, "Purchases", "/portal/purchases", <Purchases purchases={await purchaseList(c.env, x.session.accountId)} f={x.f} />);
});

// ---- controls -------------------------------------------------------------------------------------

async function controlsPage(c: Context<PortalEnv>, x: Ctx, opts: { saved?: string | null; errors?: FieldErrors; form?: string | null; values?: Record<string, string> } = {}) {
  const packages = await packageList(c.env);
  const status = opts.errors && Object.keys(opts.errors).length ? 422 : 200;
  return page(
    c,
    x,
    "Controls",
    "/portal/controls",
    <Controls account={x.account} packages={packages} f={x.f} decimals={creditDecimals(c.env)} csrf={x.csrf} saved={opts.saved ?? null} errors={opts.errors ?? {}} form={opts.form ?? null} values={opts.values ?? {}} />,
    status,
  );
}

portal.get("/portal/controls", async (c) => {
  const x = await context(c);
  if (x instanceof Response) return x;
  const saved = { "auto-recharge": "auto-recharge", limits: "spending limits", alerts: "low-balance warning" }[c.req.query("saved") ?? ""] ?? null;
  return controlsPage(c, x, { saved });
});

/**
 * A credits field as typed, with CREDIT_DECIMALS digits after the point at most → integer units
 * (× 10^decimals); "" → null; a message when it cannot be read. Money is read by parseMoney instead.
 */
function creditsField(raw: string, decimals: number): number | null | string {
  const v = raw.trim();
  if (v === "") return null;
  const m = new RegExp(`^(\\d{1,15})(?:\\.(\\d{0,${decimals}}))?$`).exec(v);
  if (!m) return decimals > 0 ? `Enter a number with at most ${decimals} decimals.` : "Enter a whole number.";
  const value = Number(m[1]) * 10 ** decimals + Number((m[2] ?? "").padEnd(decimals, "0") || "0");
  return Number.isSafeInteger(value) ? value : "This number is too large.";
}

async function formValues(c: Context<PortalEnv>): Promise<Record<string, string>> {
  const form = await c.req.parseBody();
  return Object.fromEntries(Object.entries(form).filter((e): e is [string, string] => typeof e[1] === "string"));
}

portal.post("/portal/controls/limits", async (c) => {
  const x = await context(c);
  if (x instanceof Response) return x;
  const values = await formValues(c);
  const decimals = creditDecimals(c.env);
  const errors: FieldErrors = {};
  const daily = creditsField(values.daily ?? "", decimals);
  const monthly = creditsField(values.monthly ?? "", decimals);
  if (typeof daily === "string") errors.daily = daily;
  if (typeof monthly === "string") errors.monthly = monthly;
  if (Object.keys(errors).length) return controlsPage(c, x, { errors, form: "limits", values });
  const reply = await ledgerOf(c.env, x.session.accountId).setLimits({ daily: daily as number | null, monthly: monthly as number | null });
  if (reply.status !== 200) return controlsPage(c, x, { errors: { daily: errorMessage(reply.json) }, form: "limits", values });
  return c.redirect("/portal/controls?saved=limits#limits", 303);
});

portal.post("/portal/controls/alerts", async (c) => {
  const x = await context(c);
  if (x instanceof Response) return x;
  const values = await formValues(c);
  const threshold = creditsField(values.low_balance_threshold ?? "", creditDecimals(c.env));
  if (typeof threshold === "string") return controlsPage(c, x, { errors: { low_balance_threshold: threshold }, form: "alerts", values });
  const reply = await ledgerOf(c.env, x.session.accountId).setAlerts({ lowBalanceThreshold: threshold });
  if (reply.status !== 200) return controlsPage(c, x, { errors: { low_balance_threshold: errorMessage(reply.json) }, form: "alerts", values });
  return c.redirect("/portal/controls?saved=alerts#alerts", 303);
});

portal.post("/portal/controls/auto-recharge", async (c) => {
  const x = await context(c);
  if (x instanceof Response) return x;
  const values = await formValues(c);
  const decimals = creditDecimals(c.env);
  const errors: FieldErrors = {};
  const threshold = creditsField(values.threshold ?? "", decimals);
  if (threshold === null) errors.threshold = "Enter the balance below which to buy.";
  else if (typeof threshold === "string") errors.threshold = threshold;
  const packages = await packageList(c.env);
  const pkg = packages.find((p) => p.id === values.package_id);
  if (!pkg) errors.package_id = "Choose a package.";
  // Read in the chosen package's currency: that is the currency the limit is charged in.
  const limitText = (values.monthly_limit ?? "").trim();
  const limit = pkg && limitText !== "" ? parseMoney(limitText, pkg.price.currency) : null;
  if (limit && !limit.ok) errors.monthly_limit = limit.message;
  else if (limit?.ok && limit.minor < 1) errors.monthly_limit = "Enter an amount above zero, or leave it empty for no limit.";
  const monthlyLimit = limit?.ok ? limit.minor : null;
  if (Object.keys(errors).length) return controlsPage(c, x, { errors, form: "auto-recharge", values });
  try {
    const reply = await applyAutoRecharge(c.env, x.session.accountId, {
      enabled: values.enabled === "1",
      threshold: threshold as number,
      package_id: (pkg as { id: string }).id,
      monthly_limit: monthlyLimit,
    });
    if (reply.status !== 200) return controlsPage(c, x, { errors: { threshold: errorMessage(reply.json) }, form: "auto-recharge", values });
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    const field = typeof err.details.field === "string" ? err.details.field : "threshold";
    return controlsPage(c, x, { errors: { [field]: err.message }, form: "auto-recharge", values });
  }
  return c.redirect("/portal/controls?saved=auto-recharge#auto-recharge", 303);
});

function errorMessage(json: string): string {
  try {
    return (JSON.parse(json) as { error?: { message?: string } }).error?.message ?? "This could not be saved.";
  } catch {
    return "This could not be saved.";
  }
}
