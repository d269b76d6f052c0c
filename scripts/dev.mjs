#!/usr/bin/env node
// `npm run dev`: one command from a fresh clone to a running, seeded Credence.
//
//   1. makes .dev.vars with a random ADMIN_API_KEY the first time (never touches an existing key);
//   2. applies the D1 migrations to the local database;
//   3. starts `wrangler dev` (PORT, default 8787) and streams its output;
//   4. once /health answers, seeds prices, packages and a demo account THROUGH THE HTTP API, so the
//      seed exercises the same validation and ledger rules as any app would, and is idempotent;
//   5. prints the URL, the admin key and curl examples to paste.
//
// Plain Node ESM with no dependencies beyond wrangler itself.

import { spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { d1Bindings } from "./d1-bindings.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DEV_VARS = join(ROOT, ".dev.vars");
// Bind to IPv4 loopback explicitly: wrangler's default "localhost" may resolve to ::1 only, and then
// the URL printed below (and the health probe) would not answer.
const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 10_000;

// ---- small helpers ---------------------------------------------------------------------------------

const say = (line = "") => process.stdout.write(`${line}\n`);
const bold = (text) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);

function fail(message) {
  process.stderr.write(`\n[dev] ${message}\n`);
  process.exit(1);
}

function parsePort(value) {
  if (value === undefined || value === "") return 8787;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`PORT must be an integer 1-65535, got '${value}'.`);
  return port;
}

/** wrangler's own entry point, run with this Node: no npx lookup, no shell, works the same on Windows. */
function wranglerBin() {
  try {
    return createRequire(join(ROOT, "package.json")).resolve("wrangler/bin/wrangler.js");
  } catch {
    return fail("wrangler is not installed here. Run `npm install` first.");
  }
}

// ---- 1. .dev.vars --------------------------------------------------------------------------------

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `cr_admin_` + 32 base-62 characters (~190 bits); randomInt is unbiased, unlike byte % 62. */
function newAdminKey() {
  let out = "cr_admin_";
  for (let i = 0; i < 32; i++) out += BASE62[randomInt(62)];
  return out;
}

/** Reads KEY=value (optionally quoted) from a dotenv-style file, as wrangler does for .dev.vars. */
function readVar(text, name) {
  for (const line of text.split(/\r?\n/)) {
    const m = line.match(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/);
    if (!m || m[1] !== name) continue;
    const raw = m[2];
    const quoted = raw.match(/^(["'])(.*)\1$/);
    return quoted ? quoted[2] : raw.replace(/\s+#.*$/, "");
  }
  return undefined;
}

/**
 * The admin key wrangler dev will load. A missing file is created; an existing one is never rewritten
 * (it may hold Stripe keys and the like): if it lacks ADMIN_API_KEY, one line is appended.
 */
function ensureDevVars() {
  if (!existsSync(DEV_VARS)) {
    const key = newAdminKey();
    writeFileSync(
      DEV_VARS,
      `# Local secrets for \`wrangler dev\` (git-ignored). Created by scripts/dev.mjs.\n` +
        `# The bootstrap admin API key: send it as 'Authorization: Bearer <key>'.\n` +
        `ADMIN_API_KEY=${key}\n`,
      { mode: 0o600 },
    );
    say(`[dev] created .dev.vars with a new ADMIN_API_KEY`);
    return key;
  }
  const existing = readVar(readFileSync(DEV_VARS, "utf8"), "ADMIN_API_KEY");
  if (existing) {
    if (existing.length < 8) fail("ADMIN_API_KEY in .dev.vars is shorter than 8 characters; the API would never accept it.");
    return existing;
  }
  const key = newAdminKey();
  appendFileSync(DEV_VARS, `\nADMIN_API_KEY=${key}\n`);
  say(`[dev] .dev.vars had no ADMIN_API_KEY; appended a new one`);
  return key;
}

/**
 * What the local test checkout needs: ENVIRONMENT=development (the page exists only then) and a
 * webhook secret to sign its test payments with. Lines already there are kept as they are (real
 * Stripe test keys included: with STRIPE_SECRET_KEY set, checkout goes to Stripe instead).
 */
function ensureLocalPayments() {
  const text = readFileSync(DEV_VARS, "utf8");
  const add = [];
  if (readVar(text, "ENVIRONMENT") === undefined) add.push("# The local test checkout exists only in development.", "ENVIRONMENT=development");
  if (readVar(text, "STRIPE_WEBHOOK_SECRET") === undefined) {
    let secret = "whsec_local_";
    for (let i = 0; i < 32; i++) secret += BASE62[randomInt(62)];
    add.push("# Signs the local test checkout's payments; replace with your endpoint's secret to use real Stripe.", `STRIPE_WEBHOOK_SECRET=${secret}`);
  }
  if (readVar(text, "SESSION_SECRET") === undefined) {
    let secret = "";
    for (let i = 0; i < 40; i++) secret += BASE62[randomInt(62)];
    add.push("# Signs the hosted page's session cookies.", `SESSION_SECRET=${secret}`);
  }
  if (add.length) {
    appendFileSync(DEV_VARS, `${text.endsWith("\n") ? "" : "\n"}${add.join("\n")}\n`);
    say(`[dev] .dev.vars: added ${add.filter((l) => !l.startsWith("#")).map((l) => l.split("=")[0]).join(" and ")} for local payments and the hosted page`);
  }
  return readVar(readFileSync(DEV_VARS, "utf8"), "STRIPE_SECRET_KEY") === undefined;
}

// ---- child processes and signals -------------------------------------------------------------------

/** The child currently running (migrations, then wrangler dev), so a signal reaches it. */
let child = null;
let stopping = false;

function run(args, { env = process.env, stdin = "inherit" } = {}) {
  const proc = spawn(process.execPath, [wranglerBin(), ...args], { cwd: ROOT, env, stdio: [stdin, "inherit", "inherit"] });
  child = proc;
  const exited = new Promise((resolve) => {
    proc.on("exit", (code, signal) => resolve({ code, signal }));
    proc.on("error", (err) => {
      process.stderr.write(`[dev] could not start wrangler: ${err.message}\n`);
      resolve({ code: 1, signal: null });
    });
  });
  return { proc, exited };
}

/**
 * Ctrl-C in a terminal already reaches wrangler (same process group); forwarding matters when only
 * this process is signalled (`kill <pid>`, a process manager, an IDE's stop button). A second signal,
 * or wrangler ignoring the first for STOP_GRACE_MS, ends it with SIGKILL.
 */
function onSignal(signal) {
  if (!child || child.exitCode !== null || child.signalCode !== null) process.exit(0);
  if (stopping) {
    child.kill("SIGKILL");
    return;
  }
  stopping = true;
  say(`\n[dev] ${signal}: stopping wrangler…`);
  child.kill(signal);
  setTimeout(() => child?.kill("SIGKILL"), STOP_GRACE_MS).unref();
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => onSignal(signal));

// ---- 2. migrations ---------------------------------------------------------------------------------

async function applyMigrations() {
  for (const binding of d1Bindings(ROOT)) {
    say(`[dev] applying D1 migrations to the local database ${binding}…`);
    // `migrations apply` asks "Ok to proceed?" on a terminal. Wrangler answers yes by itself when it is
    // not interactive (stdin not a TTY) or CI is set; both are set here so it can never sit waiting.
    const { exited } = run(["d1", "migrations", "apply", binding, "--local"], { env: { ...process.env, CI: "true" }, stdin: "ignore" });
    const { code, signal } = await exited;
    child = null;
    if (stopping) process.exit(0);
    if (code !== 0) fail(`wrangler d1 migrations apply ${binding} failed (${signal ?? `exit ${code}`}).`);
  }
}

// ---- 3 and 4. wrangler dev, then wait for /health ----------------------------------------------------

async function waitForHealth(url, exited) {
  let gone = false;
  exited.then(() => (gone = true));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && !gone) {
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return true;
    } catch {
      // Not listening yet (or still bundling): try again shortly.
    }
    await sleep(300);
  }
  return false;
}

// ---- 5. seeding through the HTTP API ---------------------------------------------------------------

const PRICES = {
  "chat.gpt-4o": {
    description: "Chat completion, billed per token",
    rates: { input_tokens: { credits: 250, per: 1_000_000 }, output_tokens: { credits: 1000, per: 1_000_000 } },
  },
  "image.generate": { description: "One generated image", rates: { images: { credits: 400, per: 1 } } },
  "embed.text-small": { description: "Text embedding, billed per input token", rates: { input_tokens: { credits: 2, per: 1_000_000 } } },
};

const PACKAGES = {
  starter: { credits: 1000, price: { amount: 500, currency: "usd" } },
  pro: { credits: 5000, price: { amount: 2250, currency: "usd" } },
  scale: { credits: 20000, price: { amount: 8000, currency: "usd" } },
};

const DEMO_ACCOUNT = "demo-user";
/**
 * A monthly allowance on the demo account, so a new user sees one (README, "Allowances and rollover").
 * Setting the same allowance again changes nothing, so every `npm run dev` can send it.
 */
const DEMO_ALLOWANCE = { amount: 1000, interval: "month", rollover_max: 500, rollover_expires_after_intervals: 1 };
const DAY_MS = 24 * 3600 * 1000;

/**
 * The demo grants. Each is guarded twice against a second grant on a later `npm run dev`: a fixed
 * Idempotency-Key (the object keeps it at least 7 days), and a `seed` tag in the entry's metadata that
 * the seed looks for in the account's history first (which outlives the key).
 */
function demoGrants(now) {
  return [
    { key: "seed-demo-welcome", body: { amount: 5000, description: "Welcome credits", metadata: { seed: "welcome" } } },
    {
      key: "seed-demo-promo",
      body: {
        amount: 1500,
        source: "promo",
        expires_at: new Date(now + 30 * DAY_MS).toISOString(),
        description: "Launch promo (expires in 30 days)",
        metadata: { seed: "promo" },
      },
    },
  ];
}

class SeedError extends Error {}

function client(url, adminKey) {
  return async function call(method, path, body, headers = {}) {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminKey}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON (a crash page, say): keep the text for the error message.
    }
    return { status: res.status, json, text, replayed: res.headers.get("idempotent-replayed") === "true" };
  };
}

function expect(answer, ok, what) {
  if (!ok.includes(answer.status)) throw new SeedError(`${what}: HTTP ${answer.status} ${answer.text.slice(0, 500)}`);
  return answer;
}

/** Every step is an upsert or carries a fixed key, so seeding again changes nothing. */
async function seed(url, adminKey) {
  const call = client(url, adminKey);
  for (const [operation, price] of Object.entries(PRICES)) {
    expect(await call("PUT", `/v1/prices/${operation}`, price), [200], `PUT /v1/prices/${operation}`);
  }
  for (const [id, pkg] of Object.entries(PACKAGES)) {
    expect(await call("PUT", `/v1/packages/${id}`, pkg), [200], `PUT /v1/packages/${id}`);
  }
  const opened = expect(
    await call("PUT", `/v1/accounts/${DEMO_ACCOUNT}`, { name: "Demo User", email: "demo@example.com" }),
    [200, 201],
    `PUT /v1/accounts/${DEMO_ACCOUNT}`,
  );

  // History is read from D1, so a brand-new account has none: only look when it already existed.
  const seeded = new Set();
  if (opened.status === 200) {
    const history = expect(await call("GET", `/v1/accounts/${DEMO_ACCOUNT}/entries?kind=grant&limit=100`), [200], "GET entries");
    for (const entry of history.json?.data ?? []) if (entry.metadata?.seed) seeded.add(entry.metadata.seed);
  }
  const granted = [];
  for (const grant of demoGrants(Date.now())) {
    if (seeded.has(grant.body.metadata.seed)) continue;
    const answer = await call("POST", `/v1/accounts/${DEMO_ACCOUNT}/grants`, grant.body, { "idempotency-key": grant.key });
    // 409 idempotency_conflict: this key already granted, with another expires_at (a run moments ago
    // whose entry has not reached D1 yet). Already seeded, which is what we wanted.
    if (answer.status === 409 && answer.json?.error?.type === "idempotency_conflict") continue;
    expect(answer, [201], `POST /v1/accounts/${DEMO_ACCOUNT}/grants (${grant.key})`);
    if (!answer.replayed) granted.push(`${grant.body.amount} (${grant.body.metadata.seed})`);
  }
  expect(await call("PUT", `/v1/accounts/${DEMO_ACCOUNT}/allowance`, DEMO_ALLOWANCE), [200], `PUT /v1/accounts/${DEMO_ACCOUNT}/allowance`);
  const account = expect(await call("GET", `/v1/accounts/${DEMO_ACCOUNT}`), [200], `GET /v1/accounts/${DEMO_ACCOUNT}`).json;
  // A one-time link to the hosted page (valid an hour): open it, buy a package, see the balance change.
  const portal = expect(await call("POST", `/v1/accounts/${DEMO_ACCOUNT}/portal-sessions`, { return_url: url }), [201], "POST portal-sessions").json;
  return { granted, account, portalUrl: portal.url };
}

// ---- the banner ------------------------------------------------------------------------------------

function banner(url, adminKey, result, localCheckout) {
  // -w '\n' ends each answer with a newline, so the next prompt does not run on after the JSON.
  const curl = "curl -s -w '\\n'";
  const auth = `-H "Authorization: Bearer $CREDENCE_API_KEY"`;
  const json = `-H "Content-Type: application/json"`;
  const A = `$CREDENCE_URL/v1/accounts/${DEMO_ACCOUNT}`;
  const rule = "─".repeat(78);
  const lines = [
    "",
    rule,
    bold(`Credence is running at ${url}`),
    ...(result?.portalUrl ? [`  The hosted page for '${DEMO_ACCOUNT}' (one-time link, valid 1 hour): ${bold(result.portalUrl)}`] : []),
    `  Admin API key (from .dev.vars): ${bold(adminKey)}`,
    `  API reference: ${url}/docs    OpenAPI: ${url}/openapi.json`,
  ];
  if (result) {
    const a = result.account;
    lines.push(
      `  Seeded: prices ${Object.keys(PRICES).join(", ")}; packages ${Object.keys(PACKAGES).join(", ")};`,
      `          account '${DEMO_ACCOUNT}' (balance ${a.balance}, available ${a.available})` +
        (result.granted.length ? `; granted now: ${result.granted.join(", ")}` : "; grants already in place"),
    );
    if (a.allowance) {
      lines.push(
        `          allowance ${a.allowance.amount} per ${a.allowance.interval} (up to ${a.allowance.rollover_max} rolls over), this period ends ${a.allowance.current_period_end}`,
      );
    }
  }
  lines.push(
    rule,
    "Paste into bash or zsh:",
    "",
    `  export CREDENCE_URL=${url}`,
    `  export CREDENCE_API_KEY=${adminKey}`,
    "",
    "  # The account: balance, available, lots (with expiry), holds, limits",
    `  ${curl} ${auth} ${A}`,
    "",
    "  # What would a chat call cost, and can the account pay for it?",
    `  ${curl} ${auth} ${json} -X POST ${A}/quote \\`,
    `    -d '{"operation":"chat.gpt-4o","quantities":{"input_tokens":12000,"output_tokens":3500}}'`,
    "",
    "  # Debit an image. Run it twice: the second answer is a replay (Idempotent-Replayed: true)",
    `  ${curl} -i ${auth} ${json} -H "Idempotency-Key: example-debit-1" -X POST ${A}/debits \\`,
    `    -d '{"operation":"image.generate","quantities":{"images":1}}'`,
    "",
    "  # Hold credits for a streaming call, then capture what it actually used",
    `  HOLD=$(curl -s ${auth} ${json} -H "Idempotency-Key: hold-$RANDOM$RANDOM" -X POST ${A}/holds \\`,
    `    -d '{"operation":"chat.gpt-4o","quantities":{"input_tokens":20000,"output_tokens":8000}}' \\`,
    `    | sed -E 's/.*"hold_id":"([^"]+)".*/\\1/'); echo "$HOLD"`,
    `  ${curl} ${auth} ${json} -H "Idempotency-Key: capture-$HOLD" -X POST ${A}/holds/$HOLD/capture \\`,
    `    -d '{"quantities":{"input_tokens":20000,"output_tokens":2100}}'`,
    "",
    "  # History, newest first (reaches D1 through the history Queue within about a second)",
    `  ${curl} ${auth} "${A}/entries?limit=10"`,
    "",
    "  # What was spent per day and operation over the last 30 days, in the account's time zone",
    `  ${curl} ${auth} "${A}/usage?granularity=day"`,
    "",
    localCheckout
      ? "  # Buy the starter package with the local test checkout (no Stripe keys, no money): open the url it prints"
      : "  # Buy the starter package through Stripe Checkout: open the url it prints",
    `  ${curl} ${auth} ${json} -H "Idempotency-Key: buy-$RANDOM$RANDOM" -X POST ${A}/checkout-sessions \\`,
    `    -d '{"package_id":"starter"}'`,
    "  # Then the purchase and the new balance",
    `  ${curl} ${auth} ${A}/purchases`,
    "",
    localCheckout
      ? "  # Auto-recharge (README, \"Auto-recharge\"): buy once saving a test card (pick it on the local checkout page) ..."
      : "  # Auto-recharge (README, \"Auto-recharge\"): buy once saving the card (save_payment_method) ...",
    `  ${curl} ${auth} ${json} -H "Idempotency-Key: save-$RANDOM$RANDOM" -X POST ${A}/checkout-sessions \\`,
    `    -d '{"package_id":"starter","save_payment_method":true}'`,
    "  # ... then top up with starter whenever available credits fall below 2000, at most 50.00 a month",
    `  ${curl} ${auth} -X PUT ${json} ${A}/auto-recharge -d '{"enabled":true,"threshold":2000,"package_id":"starter","monthly_limit":5000}'`,
    "",
    "  # The allowance: what it grants, when the period ends, what rolls over (README, \"Allowances and rollover\")",
    `  ${curl} ${auth} -X PUT ${json} ${A}/allowance -d '{"amount":1000,"interval":"month","rollover_max":500}'`,
    "",
    "  # Run the cron now (wrangler dev --test-scheduled): the sweep, then reconciliation, then what it found",
    `  ${curl} "$CREDENCE_URL/__scheduled?cron=17+*+*+*+*"`,
    `  ${curl} ${auth} $CREDENCE_URL/v1/admin/health`,
    "",
    "  # A fresh one-time link to the hosted page (balance, prices, buying credits, usage, controls)",
    `  ${curl} ${auth} ${json} -X POST ${A}/portal-sessions -d '{}'`,
    "",
    "  # Prices and packages",
    `  ${curl} ${auth} $CREDENCE_URL/v1/prices`,
    `  ${curl} ${auth} $CREDENCE_URL/v1/packages`,
    "",
    `  # API reference in a browser: ${url}/docs`,
    "",
    "  # The typed client's examples (examples/README.md), against a fake model in a second terminal:",
    "  #   node examples/fake-model/server.mjs",
    "  npm run client:build && OPENAI_BASE_URL=http://127.0.0.1:8788/v1 OPENAI_API_KEY=fake npx tsx examples/chat.ts",
    rule,
    "Ctrl-C stops wrangler. Local data lives in .wrangler/state; delete it to start over.",
    "",
  );
  say(lines.join("\n"));
}

// ---- main ------------------------------------------------------------------------------------------

async function main() {
  const port = parsePort(process.env.PORT);
  const url = `http://${HOST}:${port}`;
  wranglerBin(); // fail with "run npm install" before touching anything
  const adminKey = ensureDevVars();
  const localCheckout = ensureLocalPayments();
  await applyMigrations();

  say(`[dev] starting wrangler dev on ${url}…`);
  const { exited } = run(["dev", "--ip", HOST, "--port", String(port), "--test-scheduled"]);
  exited.then(({ code, signal }) => {
    if (!stopping && code !== 0) process.stderr.write(`\n[dev] wrangler dev exited (${signal ?? `exit ${code}`}).\n`);
    // Stopped on purpose: a clean exit. Otherwise pass wrangler's status on.
    process.exit(stopping ? 0 : (code ?? 1));
  });

  if (!(await waitForHealth(url, exited))) {
    if (stopping) return;
    process.stderr.write(`\n[dev] ${url}/health did not answer within ${READY_TIMEOUT_MS / 1000} s; stopping.\n`);
    onSignal("SIGTERM");
    return;
  }
  if (stopping) return;

  let result = null;
  try {
    result = await seed(url, adminKey);
  } catch (err) {
    // Keep the server running: its log above is where the cause will be.
    process.stderr.write(`\n[dev] seeding the demo data failed: ${err instanceof SeedError ? err.message : err?.stack ?? err}\n`);
  }
  banner(url, adminKey, result, localCheckout);
}

main().catch((err) => {
  process.stderr.write(`[dev] ${err?.stack ?? err}\n`);
  if (child) onSignal("SIGTERM");
  else process.exit(1);
});
