// The browser test harness: a real Credence under `wrangler dev` and a real Chromium, driven from Node.
//
//   startCredence()        wrangler dev on a free port, with its own fresh local state and secrets
//   launchBrowser()        headless Chromium (Debian's /usr/bin/chromium; playwright downloads nothing)
//   newPage(browser, w)    a page w px wide, CSP bypassed so axe can be injected
//   checkA11y(page)        axe-core's serious and critical violations
//   screenshot(page, ...)  docs/screenshots/<name>-<width>.png, only when SCREENSHOTS=1
//
// Each startCredence() is independent of `npm run dev` and of other runs: it never reads or writes the
// repo's .dev.vars or .wrangler/state (its database, objects and queues live in a temporary directory
// removed by stop()), so it can run while a developer's own `npm run dev` is up.
//
// CREDENCE_HARNESS_LOG=1 echoes wrangler's output; CHROMIUM_PATH points at another Chromium.

import { type ChildProcess, spawn } from "node:child_process";
import { randomInt, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { Result } from "axe-core";
import { type Browser, chromium, type Page } from "playwright-core";
import { d1Bindings } from "../../scripts/d1-bindings.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(join(ROOT, "package.json"));

const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 90_000;
const MIGRATE_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 10_000;
/** How much of wrangler's output is kept for error messages. */
const TAIL_LINES = 60;
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

// ---- small helpers ---------------------------------------------------------------------------------

/** A port nobody listens on right now (the OS picks it; wrangler binds it moments later). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolvePort(address.port) : reject(new Error("no port"))));
    });
  });
}

/** The last lines a process wrote (stdout and stderr interleaved), for error messages. */
class Tail {
  private lines: string[] = [];
  private partial = "";
  constructor(private readonly echo: boolean) {}
  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const lines = text.split(/\r?\n/);
    this.partial = lines.pop() ?? "";
    for (const raw of lines) {
      const line = raw.replace(ANSI, "");
      if (this.echo) process.stderr.write(`[wrangler] ${line}\n`);
      this.lines.push(line);
    }
    if (this.lines.length > TAIL_LINES) this.lines.splice(0, this.lines.length - TAIL_LINES);
  }
  toString(): string {
    return [...this.lines, this.partial].filter((l) => l.trim() !== "").join("\n");
  }
}

/** Is any process of this process group still alive (zombies aside, which signals cannot reach)? */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Process groups this module started and has not stopped yet. If the test process exits without
 * afterAll having run (a crash, a timeout that kills the worker), they are killed on the way out, so
 * no wrangler or workerd outlives the run.
 */
const liveGroups = new Set<number>();
process.on("exit", () => {
  for (const pgid of liveGroups) killGroup(pgid, "SIGKILL");
});

/** wrangler's own entry point, run with this Node: no npx lookup, no shell. */
function wranglerBin(): string {
  return require.resolve("wrangler/bin/wrangler.js");
}

/**
 * The environment wrangler runs with: nothing from the developer's shell may change which variables
 * the Worker sees (CLOUDFLARE_ENV would pick another [env.*] of wrangler.toml;
 * CLOUDFLARE_INCLUDE_PROCESS_ENV would hand the whole shell environment to the Worker).
 */
function wranglerEnv(scratch: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ["CLOUDFLARE_ENV", "CLOUDFLARE_INCLUDE_PROCESS_ENV", "CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV", "NO_COLOR", "FORCE_COLOR"]) delete env[name];
  return {
    ...env,
    // `d1 migrations apply` asks "Ok to proceed?" unless CI is set (or stdin is not a terminal).
    CI: "true",
    NO_COLOR: "1",
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: "true",
    CLOUDFLARE_INCLUDE_PROCESS_ENV: "false",
    // wrangler dev registers running Workers (by name) in a registry shared by every wrangler on the
    // machine; this run's "credence" must not be found by, or replace, a developer's `npm run dev`.
    WRANGLER_REGISTRY_PATH: join(scratch, "registry"),
  };
}

interface Spawned {
  proc: ChildProcess;
  tail: Tail;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runWrangler(args: string[], env: NodeJS.ProcessEnv): Spawned {
  const tail = new Tail(process.env.CREDENCE_HARNESS_LOG === "1");
  // detached: its own process group, so stop() reaches workerd (wrangler's child) too.
  const proc = spawn(process.execPath, [wranglerBin(), ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  if (proc.pid !== undefined) liveGroups.add(proc.pid);
  proc.stdout?.on("data", (d: Buffer) => tail.push(d));
  proc.stderr?.on("data", (d: Buffer) => tail.push(d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    proc.on("exit", (code, signal) => done({ code, signal }));
    proc.on("error", (err) => {
      tail.push(`could not start wrangler: ${err.message}\n`);
      done({ code: 1, signal: null });
    });
  });
  return { proc, tail, exited };
}

/** SIGTERM to the whole group, SIGKILL after STOP_GRACE_MS, and wait until no member is left. */
async function stopGroup(spawned: Spawned): Promise<void> {
  const pgid = spawned.proc.pid;
  if (pgid === undefined) return;
  killGroup(pgid, "SIGTERM");
  const deadline = Date.now() + STOP_GRACE_MS;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(100);
  if (groupAlive(pgid)) {
    killGroup(pgid, "SIGKILL");
    const killDeadline = Date.now() + 5_000;
    while (groupAlive(pgid) && Date.now() < killDeadline) await sleep(100);
  }
  await Promise.race([spawned.exited, sleep(1_000)]);
  if (groupAlive(pgid)) throw new Error(`wrangler's process group ${pgid} is still alive after SIGKILL`);
  liveGroups.delete(pgid);
}

// ---- startCredence ---------------------------------------------------------------------------------

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or null when it is empty or not JSON. */
  json: any;
}

export interface Credence {
  /** e.g. http://127.0.0.1:41234 (no trailing slash) */
  url: string;
  adminKey: string;
  /** An admin API call: Bearer auth, a JSON body when given, a fresh Idempotency-Key on every POST. */
  api(method: string, path: string, body?: unknown): Promise<ApiResponse>;
  /** What wrangler printed last (for assertion messages). */
  logTail(): string;
  /** Stops wrangler and workerd (the whole process group) and deletes this run's state. Idempotent. */
  stop(): Promise<void>;
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** `prefix` + `length` base-62 characters; randomInt is unbiased, unlike byte % 62. */
function randomToken(prefix: string, length = 32): string {
  let out = prefix;
  for (let i = 0; i < length; i++) out += BASE62[randomInt(62)];
  return out;
}

/**
 * Starts Credence under `wrangler dev --local` on a free port, with a fresh persistence directory
 * (the D1 migrations applied to it first) and random secrets, and waits until /health answers.
 */
export async function startCredence(): Promise<Credence> {
  const scratch = mkdtempSync(join(tmpdir(), "credence-browser-"));
  const persistTo = join(scratch, "state");
  const adminKey = randomToken("cr_admin_");
  const secrets = {
    ADMIN_API_KEY: adminKey,
    STRIPE_WEBHOOK_SECRET: randomToken("whsec_browser_"),
    SESSION_SECRET: randomToken("sess_", 48),
  };
  // Secrets go in an env file rather than on the command line (where `ps` shows them). Passing
  // --env-file also makes wrangler skip the repo's .dev.vars, which would otherwise be read and win
  // over --var (a developer's STRIPE_SECRET_KEY there would turn the local test checkout off).
  const envFile = join(scratch, "credence.env");
  writeFileSync(envFile, Object.entries(secrets).map(([k, v]) => `${k}=${v}\n`).join(""), { mode: 0o600 });
  const env = wranglerEnv(scratch);
  const common = ["--env-file", envFile];

  let server: Spawned | null = null;
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      try {
        if (server) await stopGroup(server);
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    })());

  try {
    for (const binding of d1Bindings(ROOT)) {
      const migrate = runWrangler(["d1", "migrations", "apply", binding, "--local", "--persist-to", persistTo, ...common], env);
      const result = await Promise.race([migrate.exited, sleep(MIGRATE_TIMEOUT_MS).then(() => null)]);
      if (result === null) {
        await stopGroup(migrate);
        throw new Error(`wrangler d1 migrations apply ${binding} did not finish within ${MIGRATE_TIMEOUT_MS / 1000} s:\n${migrate.tail}`);
      }
      if (migrate.proc.pid !== undefined) liveGroups.delete(migrate.proc.pid);
      if (result.code !== 0) throw new Error(`wrangler d1 migrations apply ${binding} failed (${result.signal ?? `exit ${result.code}`}):\n${migrate.tail}`);
    }

    const port = await freePort();
    const inspectorPort = await freePort();
    const url = `http://${HOST}:${port}`;
    server = runWrangler(
      [
        "dev",
        "--local",
        "--ip", HOST,
        "--port", String(port),
        "--inspector-port", String(inspectorPort),
        "--persist-to", persistTo,
        "--var", "ENVIRONMENT:development",
        "--test-scheduled",
        "--show-interactive-dev-session=false",
        ...common,
      ],
      env,
    );
    await waitForHealth(url, server);
    return { url, adminKey, api: client(url, adminKey), logTail: () => server?.tail.toString() ?? "", stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

async function waitForHealth(url: string, server: Spawned): Promise<void> {
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  void server.exited.then((e) => (exit = e));
  const started = Date.now();
  let lastError = "";
  while (Date.now() - started < READY_TIMEOUT_MS) {
    if (exit) {
      const { code, signal } = exit;
      throw new Error(`wrangler dev exited (${signal ?? `exit ${code}`}) before ${url}/health answered:\n${server.tail}`);
    }
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
      lastError = `HTTP ${res.status}`;
    } catch (err) {
      lastError = (err as Error).cause ? String((err as Error).cause) : String(err);
    }
    await sleep(250);
  }
  throw new Error(`${url}/health did not answer within ${READY_TIMEOUT_MS / 1000} s (last: ${lastError}). wrangler's output:\n${server.tail}`);
}

function client(url: string, adminKey: string): Credence["api"] {
  return async (method, path, body) => {
    const headers: Record<string, string> = { authorization: `Bearer ${adminKey}`, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (method.toUpperCase() === "POST") headers["idempotency-key"] = randomUUID();
    const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON: the text is there for the assertion message.
    }
    return { status: res.status, headers: res.headers, text, json };
  };
}

/** Polls `probe` until it returns something other than undefined, or throws `describe()` at the deadline. */
export async function eventually<T>(probe: () => Promise<T | undefined>, deadlineMs: number, describe: () => string): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`not within ${deadlineMs / 1000} s: ${describe()}`);
    await sleep(200);
  }
}

// ---- the browser -----------------------------------------------------------------------------------

/** Headless Chromium from the system (CI installs Debian's `chromium`; CHROMIUM_PATH overrides). */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `No Chromium at ${CHROMIUM_PATH}. Install it (Debian/Ubuntu: apt-get install chromium) or set CHROMIUM_PATH to a Chromium or Chrome binary.`,
    );
  }
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ["--no-sandbox"] });
}

/** A page in its own context, `width` px wide. bypassCSP lets axe be injected into strict-CSP pages. */
export async function newPage(browser: Browser, width: number): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: 900 }, bypassCSP: true, locale: "en-US" });
  return context.newPage();
}

export interface A11yViolation {
  id: string;
  impact: string | null | undefined;
  help: string;
  helpUrl: string;
  nodes: { target: string; html: string; summary: string | undefined }[];
}

const axeSource = (() => {
  let source: string | null = null;
  return () => (source ??= readFileSync(require.resolve("axe-core/axe.min.js"), "utf8"));
})();

/** Runs axe-core on the page as it is now; returns the violations whose impact is serious or critical. */
export async function checkA11y(page: Page): Promise<A11yViolation[]> {
  await page.addScriptTag({ content: axeSource() });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: Result[] }> } }).axe;
    const results = await axe.run(document, { resultTypes: ["violations"] });
    return results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({ target: n.target.map(String).join(" "), html: n.html, summary: n.failureSummary })),
    }));
  });
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** With SCREENSHOTS=1, saves a full-page PNG to docs/screenshots/<name>-<width>.png; otherwise nothing. */
export async function screenshot(page: Page, name: string, width: number): Promise<void> {
  if (process.env.SCREENSHOTS !== "1") return;
  const dir = join(ROOT, "docs", "screenshots");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}-${width}.png`), fullPage: true });
}
