#!/usr/bin/env node
// `npm run bench`: load benchmarks of the built Worker, served by Miniflare directly on loopback
// (never through `wrangler dev`, whose proxy caps throughput), driven by autocannon's programmatic API.
//
//   1. builds bench/worker.ts (the real app + /bench/ routes) with
//      `wrangler deploy --dry-run --outdir bench/out -c bench/wrangler.bench.toml`;
//   2. starts Miniflare (the one wrangler itself uses, so workerd matches wrangler) on 127.0.0.1 with
//      D1 and Durable Object storage in a fresh temporary directory, and the history Queue (and its
//      dead-letter queue) configured as in wrangler.toml; two D1 databases (DB, HISTORY_2) are bound and
//      history goes to the shards BENCH_HISTORY_SHARDS names (default DB alone, as wrangler.toml);
//   3. applies migrations/*.sql to both databases, creates the naive_d1 tables, and seeds through the
//      real API: a write key (created with the ADMIN_API_KEY binding), a price, and every account with
//      its grant;
//   4. runs each scenario as a warm-up then a measured run, checking every response's status (any
//      unexpected status, timeout or socket error other than a rare connection reset fails the bench:
//      a debit bench full of 402s measures nothing), then audits the ledgers it debited;
//   4b. sweep_10k: the cron sweep (workers/cron/) over 10,000 accounts with an expired, unsettled lot,
//      invocation after invocation of the real handleScheduled() until its pass is finished, then the
//      exactly-once check (see sweepScenario());
//   5. writes bench/results.json (the shape issue 3 fixes), bench/results.details.json (status counts,
//      CPU, memory, alarms, the profiling ladder, the audit) and prints a table. With
//      BENCH_STORAGE=tmpfs they are bench/results.tmpfs.json and bench/results.tmpfs.details.json.
//
// Environment: BENCH_SECONDS (measured seconds per scenario, default 10), BENCH_CONNECTIONS (default 50),
// BENCH_WARMUP_SECONDS (default 3), BENCH_GROWTH_ENTRIES (default 1000000), BENCH_PROFILE=0 (skip the
// profiling variants), BENCH_PROFILE_SECONDS (default 5), BENCH_STORAGE=disk|tmpfs (default disk,
// see below), BENCH_USAGE_ENTRIES (default 1000000), BENCH_USAGE_REQUESTS (default 300),
// BENCH_SWEEP_ACCOUNTS (default 10000), BENCH_SWEEP_OVERLAP_ACCOUNTS (default 1000; 0 skips the overlap
// check), BENCH_SWEEP_EXPIRY_SECONDS (default 20), BENCH_SWEEP_CHUNK (default 2500), BENCH_SWEEP_EVICT=0,
// BENCH_ONLY=name,name (run a subset; results.json is then not written, except that a run including
// sweep_10k merges its `sweep` figures into it and its details file).

import autocannon from "autocannon";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { webhookStorm } from "./webhook-storm.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT_DIR = join(ROOT, "bench", "out");
const CONFIG = join(ROOT, "bench", "wrangler.bench.toml");

function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got '${raw}'`);
  return n;
}

const SECONDS = intEnv("BENCH_SECONDS", 10);
const CONNECTIONS = intEnv("BENCH_CONNECTIONS", 50);
const WARMUP = intEnv("BENCH_WARMUP_SECONDS", 3);
const GROWTH_ENTRIES = intEnv("BENCH_GROWTH_ENTRIES", 1_000_000);
const PROFILE = process.env.BENCH_PROFILE !== "0";
const GROWTH_SERIAL_SECONDS = intEnv("BENCH_GROWTH_SERIAL_SECONDS", Math.min(5, SECONDS));
const PROFILE_SECONDS = intEnv("BENCH_PROFILE_SECONDS", Math.min(5, SECONDS));
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",").map((s) => s.trim())) : null;
const SPREAD_ACCOUNTS = 1000;
/** Every account gets this much, so no debit in any run can be refused for funds. */
const CREDITS = 1_000_000_000_000;
const SEED_CHUNK = 100_000;
const LAG_SAMPLE_EVERY_MS = 50;
const LAG_POLL_MS = 10;
/**
 * The spread probe looks up every pending sample in the shards (a D1 query in the same workerd as the
 * load, ~30 ms under it): polling it every 10 ms would keep D1 busy and delay the very writes it
 * times. Every 50 ms it costs little, and a lag is known to within 50 ms plus one probe.
 */
const SPREAD_LAG_POLL_MS = 50;
/** usage_1m: entries of its one account, over how many days, and how many timed GET …/usage. */
const USAGE_ENTRIES = intEnv("BENCH_USAGE_ENTRIES", 1_000_000);
const USAGE_DAYS = 400;
const USAGE_REQUESTS = intEnv("BENCH_USAGE_REQUESTS", 300);
/** history_lag_spread's offered load, debits/s over the 1,000 spread accounts. */
const SPREAD_LAG_RATE = intEnv("BENCH_SPREAD_LAG_RATE", 400);
/**
 * sweep_10k: accounts whose one lot the cron sweep settles (their alarms hold off), a fresh set for the
 * overlapping-invocations check, and how far ahead of its grant each lot expires (its account's history
 * must have shipped by then: the alarm that would settle the lot is held, and that one ships nothing).
 */
const SWEEP_ACCOUNTS = intEnv("BENCH_SWEEP_ACCOUNTS", 10_000);
const SWEEP_OVERLAP_ACCOUNTS = intEnv("BENCH_SWEEP_OVERLAP_ACCOUNTS", 1000);
const SWEEP_EXPIRY_SECONDS = intEnv("BENCH_SWEEP_EXPIRY_SECONDS", 20);
/** Concurrent API requests while seeding the sweep's accounts. */
const SWEEP_SEED_CONNECTIONS = 32;
/**
 * Accounts seeded (and, after the pass, let ship) per burst, history let drain in between: Miniflare's
 * local Queue broker (4.20260426) sets a timer per message sent and workerd caps a Durable Object at
 * 10,000 active timeouts, which do not run while sends keep coming; an unbroken stream of ~10,000
 * messages breaks it ("QuotaExceededError … max active timeouts: 10000", the producer sees "Unknown
 * Internal Error (15000)"), cloudflare/workers-sdk#15670. An account sends at most two messages here.
 */
const SWEEP_SHIP_CHUNK = Math.max(1, intEnv("BENCH_SWEEP_CHUNK", 2500));
/**
 * Accounts let ship at once after the pass. Each then holds its SQLite connection in the one workerd
 * until the runtime evicts it (~10 s idle, or POST /bench/evict), and workerd caps the SQLite memory of
 * the whole process at 512 MiB (cloudflare/workerd#6570): a few thousand live ledger objects exhaust it
 * (SQLITE_NOMEM). The same cap is why the pass itself runs with evict=1 (bench/worker.ts, sweepEnv).
 */
const SWEEP_RESUME_CHUNK = Math.min(SWEEP_SHIP_CHUNK, 1000);
/** BENCH_SWEEP_EVICT=0: the pass without evict=1 (only for up to ~1,500 accounts: see SWEEP_RESUME_CHUNK). */
const SWEEP_EVICT = process.env.BENCH_SWEEP_EVICT !== "0";
/** Open file descriptors above the baseline at which the seeded objects count as evicted (~3 per object). */
const SWEEP_IDLE_FDS = 300;
/** A pass that needs more invocations than this is reported as not finishing. */
const SWEEP_MAX_INVOCATIONS = 50;
/** How long the sweep's accounts may take to appear in the due-work index (10,000 histories shipped). */
const SWEEP_INDEX_DEADLINE_MS = 300_000;
/**
 * The cron's settings, read from ../wrangler.toml (what a deployment runs with) and given to Miniflare;
 * anything it does not set falls back to workers/cron/settings.ts's defaults.
 */
const CRON_VARS = (() => {
  const text = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  const vars = {};
  for (const name of ["SWEEP_BUDGET_SECONDS", "SWEEP_MAX_ACCOUNTS", "SWEEP_CONCURRENCY"]) {
    const m = new RegExp(`^${name}\\s*=\\s*"([^"]*)"`, "m").exec(text);
    if (m) vars[name] = m[1];
  }
  return vars;
})();
/** Per-invocation limits the sweep is designed against (BENCHMARKS.md, "The cron sweep", cites them). */
const CRON_WALL_LIMIT_MS = 30_000;
const SUBREQUEST_LIMIT = 10_000;
/** Entries per synthetic history message (a large flush), and per call of /bench/history_seed. */
const USAGE_PER_MESSAGE = 1000;
const USAGE_PER_CALL = 20_000;
/** How long history may take to reach D1 once a load has stopped before the bench gives up. */
const DRAIN_DEADLINE_MS = 120_000;
/** No history message consumed for this long (and nothing due from an object) counts as drained. */
const QUIET_MS = 1500;

// The history Queue and the D1 databases, as in wrangler.toml / bench/wrangler.bench.toml. Miniflare is
// given them explicitly (start()); build() checks that wrangler's dry run accepts and binds the same.
// BENCH_HISTORY_SHARDS: the history shards accounts are spread over. Default: the main database alone,
// as wrangler.toml deploys; "DB,HISTORY_2" spreads them over two (each consumer batch then writes both).
const HISTORY_SHARDS = (process.env.BENCH_HISTORY_SHARDS || "DB").split(",").map((s) => s.trim());
const D1_DATABASES = { DB: "credence-bench", HISTORY_2: "credence-bench-history-2" };
const HISTORY_QUEUE = "credence-history";
const HISTORY_DLQ = "credence-history-dlq";
const DELIVERIES_QUEUE = "credence-deliveries";
const QUEUE_CONSUMERS = {
  [HISTORY_QUEUE]: { maxBatchSize: 100, maxBatchTimeout: 0.25, maxRetries: 10, deadLetterQueue: HISTORY_DLQ },
  [HISTORY_DLQ]: { maxBatchSize: 100, maxBatchTimeout: 5, maxRetries: 10 },
  [DELIVERIES_QUEUE]: { maxBatchSize: 10, maxBatchTimeout: 1, maxRetries: 100 },
};

const say = (line = "") => process.stdout.write(`${line}\n`);

// ---- the toolchain: wrangler's own miniflare and workerd ---------------------------------------------

const rootRequire = createRequire(join(ROOT, "package.json"));
const wranglerPkgPath = rootRequire.resolve("wrangler/package.json");
const wranglerRequire = createRequire(wranglerPkgPath);
// The miniflare wrangler itself depends on (4.x, Node >= 18), not whatever else the tree may hoist.
const { Miniflare, Log, LogLevel } = wranglerRequire("miniflare");
const versions = {
  wrangler: JSON.parse(readFileSync(wranglerPkgPath, "utf8")).version,
  miniflare: JSON.parse(readFileSync(wranglerRequire.resolve("miniflare/package.json"), "utf8")).version,
  workerd: JSON.parse(readFileSync(createRequire(wranglerRequire.resolve("miniflare/package.json")).resolve("workerd/package.json"), "utf8")).version,
  autocannon: JSON.parse(readFileSync(rootRequire.resolve("autocannon/package.json"), "utf8")).version,
};

function build() {
  const bin = join(dirname(wranglerPkgPath), "bin", "wrangler.js");
  const started = Date.now();
  // --outdir absolute: wrangler resolves a relative one against the config file's directory.
  const r = spawnSync(process.execPath, [bin, "deploy", "--dry-run", "--outdir", OUT_DIR, "-c", CONFIG], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}\n${r.stderr}`);
  // The dry run validates wrangler.bench.toml (queues included) and lists the bindings it would deploy.
  const expected = [/env\.HISTORY \(credence-history\)\s+Queue/, /env\.HISTORY_2 \(.*\)\s+D1 Database/, /env\.HISTORY_SHARDS \(/];
  const missing = expected.filter((re) => !re.test(r.stdout));
  if (missing.length) throw new Error(`wrangler's dry run does not bind ${missing.join(", ")}:\n${r.stdout}`);
  say(`built bench/out/worker.js in ${((Date.now() - started) / 1000).toFixed(1)} s (history Queue and ${HISTORY_SHARDS.length} history shards bound)`);
}

// ---- the workerd process: CPU and memory ----------------------------------------------------------

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function findWorkerd() {
  const pids = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm === "workerd" && ppid === process.pid) pids.push(Number(name));
    } catch {
      // the process ended while we looked
    }
  }
  if (pids.length !== 1) throw new Error(`expected one workerd child process, found ${pids.length}`);
  return pids[0];
}

let workerdPid = 0;

/** workerd's CPU time (user + system, all threads) in ms. */
function workerdCpuMs() {
  const stat = readFileSync(`/proc/${workerdPid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** Busy CPU time of the whole machine (all cores) in ms: what else runs shows up here. */
function systemBusyMs() {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  return ((user + nice + system + irq + softirq + steal) * 1000) / CLK_TCK;
}

/**
 * fetch() that tries again when workerd closed the connection under it (it very occasionally resets
 * keep-alive connections under load; see check()). Only for requests that are safe to repeat: reads,
 * and debits carrying an Idempotency-Key (a repeat replays the first answer).
 */
let socketRetries = 0;
async function fetchAgain(url, init, tries = 3) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (err) {
      const code = err?.cause?.code;
      if (attempt >= tries || !(err instanceof TypeError) || !["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"].includes(code)) throw err;
      socketRetries++;
    }
  }
}

/** The bench Worker's counters (bench/worker.ts, GET /bench/stats). */
async function benchStats() {
  const res = await fetchAgain(`${base}/bench/stats`);
  return res.json();
}

async function alarmRuns() {
  return (await benchStats()).alarm_runs;
}

/** workerd's resident set and its peak so far, in MiB. */
function workerdMemory() {
  const status = readFileSync(`/proc/${workerdPid}/status`, "utf8");
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  return { rss_mib: round(kib("VmRSS") / 1024, 1), peak_mib: round(kib("VmHWM") / 1024, 1) };
}

const round = (n, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

// ---- Miniflare ------------------------------------------------------------------------------------

const ADMIN_KEY = `cr_bench_admin_${randomBytes(16).toString("hex")}`;
/**
 * Where D1 and the objects keep their SQLite:
 *   "disk" (default): SQLite files in a fresh directory under the OS temp dir. This is what Miniflare
 *     does when told not to persist (its "in-memory" storage is a temp directory too), and the setting
 *     the issue's reference ceilings were measured with;
 *   "tmpfs": the same files in /dev/shm, so a commit costs no disk I/O at all.
 * (Truly in-memory object storage, Miniflare's unsafeEphemeralDurableObjects, has no SQLite, so the
 * ledger cannot run on it.) The directory is removed at the end.
 */
const STORAGE = process.env.BENCH_STORAGE || "disk";
if (!["disk", "tmpfs"].includes(STORAGE)) throw new Error(`BENCH_STORAGE must be disk or tmpfs, got '${STORAGE}'`);
const stateDir = mkdtempSync(join(STORAGE === "tmpfs" ? "/dev/shm" : os.tmpdir(), "credence-bench-"));
let mf = null;
let base = "";
const WEBHOOK_SECRET = `whsec_bench_${randomBytes(12).toString("hex")}`;

async function start() {
  mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    modules: true,
    scriptPath: join(OUT_DIR, "worker.js"),
    compatibilityDate: "2026-04-01",
    compatibilityFlags: ["nodejs_compat"],
    bindings: {
      CREDIT_DECIMALS: "2",
      HISTORY_SHARDS: HISTORY_SHARDS.join(","),
      ADMIN_API_KEY: ADMIN_KEY,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      ...CRON_VARS,
    },
    durableObjects: {
      LEDGER: { className: "AccountLedger", useSQLite: true },
      CEILING: { className: "BenchCeiling", useSQLite: true },
    },
    d1Databases: D1_DATABASES,
    queueProducers: { HISTORY: { queueName: HISTORY_QUEUE }, DELIVERIES: { queueName: DELIVERIES_QUEUE } },
    queueConsumers: QUEUE_CONSUMERS,
    cf: false, // a placeholder request.cf; never fetched from the network
    ...(process.env.BENCH_DEBUG ? { log: new Log(LogLevel.WARN) } : {}),
    // BENCH_INSPECTOR_PORT: workerd's V8 inspector, for a CPU profile of the Worker's isolate.
    ...(process.env.BENCH_INSPECTOR_PORT ? { inspectorPort: Number(process.env.BENCH_INSPECTOR_PORT) } : {}),
    // Fresh state each run, in stateDir (removed at the end).
    durableObjectsPersist: join(stateDir, "do"),
    d1Persist: join(stateDir, "d1"),
  });
  base = (await mf.ready).href.replace(/\/$/, "");
  workerdPid = findWorkerd();
  say(`miniflare ${versions.miniflare} (workerd ${versions.workerd}) at ${base}, storage: ${STORAGE} (${stateDir})`);
}

const NAIVE_SCHEMA = [
  "CREATE TABLE naive_balances (id TEXT PRIMARY KEY, balance INTEGER NOT NULL, updated_at INTEGER NOT NULL)",
  `CREATE TABLE naive_entries (id INTEGER PRIMARY KEY, account_id TEXT NOT NULL, amount INTEGER NOT NULL,
     description TEXT, idempotency_key TEXT, created_at INTEGER NOT NULL)`,
  "CREATE INDEX naive_entries_account ON naive_entries (account_id, id)",
];

/** Every history shard gets the same migrations (the main database is shard one). */
async function migrate() {
  const files = readdirSync(join(ROOT, "migrations")).filter((f) => f.endsWith(".sql")).sort();
  let count = 0;
  for (const shard of Object.keys(D1_DATABASES)) {
    const db = await mf.getD1Database(shard);
    for (const file of files) {
      const text = readFileSync(join(ROOT, "migrations", file), "utf8");
      for (const statement of text.split("--> statement-breakpoint").map((s) => s.trim()).filter(Boolean)) {
        await db.prepare(statement).run();
        count++;
      }
    }
  }
  const db = await mf.getD1Database("DB");
  for (const statement of NAIVE_SCHEMA) await db.prepare(statement).run();
  await db.prepare("INSERT INTO naive_balances (id, balance, updated_at) VALUES ('naive_1', ?, ?)").bind(CREDITS, Date.now()).run();
  say(`applied ${files.length} migration file(s) to ${Object.keys(D1_DATABASES).join(" and ")} (${count} statements) and the naive_d1 tables; history shards: ${HISTORY_SHARDS.join(",")}`);
}

// ---- the real API ---------------------------------------------------------------------------------

let writeKey = "";

async function call(method, path, { body, key = ADMIN_KEY, idem = method === "POST" } = {}) {
  const headers = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (idem) headers["idempotency-key"] = randomUUID();
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function expectStatus(promise, statuses, what) {
  const r = await promise;
  if (!statuses.includes(r.status)) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function openAccount(id, credits = CREDITS) {
  await expectStatus(call("PUT", `/v1/accounts/${id}`, { body: { name: `Bench ${id}` } }), [200, 201], `open ${id}`);
  await expectStatus(call("POST", `/v1/accounts/${id}/grants`, { body: { amount: credits } }), [201], `grant ${id}`);
}

async function inParallel(items, limit, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

const SPREAD_IDS = Array.from({ length: SPREAD_ACCOUNTS }, (_, i) => `spread_${String(i).padStart(4, "0")}`);

async function seed() {
  const started = Date.now();
  const created = await expectStatus(call("POST", "/v1/api-keys", { body: { name: "bench", scopes: ["write"] }, idem: false }), [201], "create key");
  writeKey = created.key;
  await expectStatus(
    call("PUT", "/v1/prices/chat.bench", {
      body: { rates: { input_tokens: { credits: 250, per: 1_000_000 }, output_tokens: { credits: 1000, per: 1_000_000 }, requests: { credits: 1, per: 1 } } },
      idem: false,
    }),
    [200],
    "set price",
  );
  const singles = ["debit_1", "hc_1", "quote_1", "lag_1", "growth_new", "growth_1m", "usage_1m", "p_ledger_write", "p_reads", "p_three", "p_noidem", "p_noship_rpc", "p_debit_rpc", "p_debit_validated"];
  // The 1,000 spread accounts only when a spread scenario runs (they take most of the seeding time).
  const spread = !ONLY || ONLY.has("debit_spread") || ONLY.has("history_lag_spread") ? SPREAD_IDS : [];
  await inParallel([...singles, ...spread], 16, (id) => openAccount(id));
  say(`seeded a write key, a price and ${singles.length + spread.length} accounts through the API in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// ---- load -----------------------------------------------------------------------------------------

const authHeaders = () => ({ authorization: `Bearer ${writeKey}`, "content-type": "application/json" });
const withKey = (req) => ({ ...req, headers: { ...req.headers, "idempotency-key": randomUUID() } });

/**
 * One autocannon run. Returns rps, latency percentiles (from every response's own time, sub-ms), the
 * status counts, and workerd's CPU over the run. `pairs`: the requests alternate hold (201) and
 * capture (200); rps counts pairs and latency is hold + capture.
 */
async function load({ requests, seconds, expect, pairs = false, during, connections = CONNECTIONS, rate }) {
  const latencies = [];
  const statuses = {};
  const holdTime = new Map();
  let errors = 0;
  const alarms0 = await alarmRuns();
  const cpu0 = workerdCpuMs();
  const busy0 = systemBusyMs();
  const client0 = process.cpuUsage();
  let rssMax = 0;
  const rssTimer = setInterval(() => {
    rssMax = Math.max(rssMax, workerdMemory().rss_mib);
  }, 500);
  const t0 = performance.now();
  const instance = autocannon({
    url: base,
    connections,
    // A fixed offered load (requests/s over all connections) instead of as fast as answers come back.
    ...(rate ? { overallRate: rate } : {}),
    duration: seconds,
    pipelining: 1,
    timeout: 30,
    headers: authHeaders(),
    requests,
  });
  instance.on("response", (client, status, _bytes, time) => {
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (!pairs) latencies.push(time);
    else if (status === 201) holdTime.set(client, time);
    else if (status === 200 && holdTime.has(client)) {
      latencies.push(holdTime.get(client) + time);
      holdTime.delete(client);
    }
  });
  const errorKinds = {};
  instance.on("reqError", (err) => {
    errors++;
    const kind = err?.code ?? err?.message ?? String(err);
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    if (process.env.BENCH_DEBUG) say(`\n  ${kind} at ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  });
  const side = during ? during() : null;
  const result = await instance;
  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(rssTimer);
  const sideResult = side ? await side : null;
  const cpu = workerdCpuMs() - cpu0;
  const client = process.cpuUsage(client0);
  const other = systemBusyMs() - busy0 - cpu - (client.user + client.system) / 1000;
  const total = Object.values(statuses).reduce((a, b) => a + b, 0);
  const alarms = (await alarmRuns()) - alarms0;
  const unexpected = Object.entries(statuses).filter(([s]) => !expect.includes(Number(s)));
  latencies.sort((a, b) => a - b);
  const units = pairs ? latencies.length : total;
  return {
    rps: units / elapsed,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    requests: total,
    sent: result.requests.sent,
    statuses,
    unexpected: unexpected.reduce((a, [, n]) => a + n, 0),
    errors: Math.max(errors, result.errors),
    error_kinds: errorKinds,
    timeouts: result.timeouts,
    seconds: round(elapsed, 2),
    workerd_cpu_pct: round((cpu / 1000 / elapsed) * 100, 0),
    workerd_cpu_us_per_req: round((cpu * 1000) / Math.max(1, total), 0),
    client_cpu_pct: round(((client.user + client.system) / 1e6 / elapsed) * 100, 0),
    // Other processes on the machine during the run (should be near 0: anything else skews the figures).
    other_cpu_pct: round((Math.max(0, other) / 1000 / elapsed) * 100, 0),
    workerd_rss_mib: { max: rssMax, end: workerdMemory().rss_mib },
    // Ledger alarm runs (each ships history to D1) per request: how well shipping is amortized.
    alarms_per_req: round(alarms / Math.max(1, total), 4),
    side: sideResult,
  };
}

const failures = [];

/** Per account: debits answered 201 and requests sent, over every run that debited it. */
const debitTally = new Map();
function tally(account, run) {
  if (!run) return;
  const t = debitTally.get(account) ?? { answered_201: 0, sent: 0 };
  t.answered_201 += run.statuses["201"] ?? 0;
  t.sent += run.sent;
  debitTally.set(account, t);
}

/**
 * Any status other than the expected ones fails the bench, and so does any socket error other than a
 * rare ECONNRESET: workerd (local) very occasionally resets a few keep-alive connections under load
 * (seen in about one run in three: 2-35 resets in a run of 11,000-25,000 requests, never with a bad
 * status). A reset request's outcome is unknown to the client, so the audit counts it as
 * maybe-executed; more than 0.5 % of a run's requests fails the bench.
 */
const MAX_RESET_FRACTION = 0.005;
const warnings = [];

function check(name, phase, r) {
  const kinds = Object.keys(r.error_kinds);
  const resets = r.error_kinds.ECONNRESET ?? 0;
  const tolerable = kinds.every((k) => k === "ECONNRESET") && resets <= MAX_RESET_FRACTION * Math.max(1, r.sent);
  if (r.unexpected || r.timeouts || r.requests === 0 || (r.errors && !tolerable)) {
    const line = `${name} (${phase}): ${r.unexpected} unexpected statuses ${JSON.stringify(r.statuses)}, ${r.errors} errors ${JSON.stringify(r.error_kinds)}, ${r.timeouts} timeouts`;
    failures.push(line);
    throw new Error(`FAIL ${line}`);
  }
  if (r.errors) {
    const line = `${name} (${phase}): ${resets} connection resets by workerd in ${r.sent} requests (tolerated, counted in the audit)`;
    warnings.push(line);
    say(`\n  WARNING ${line}`);
  }
}

const details = { scenarios: {}, memory: [], profile: {}, audit: {} };

function memoryMark(label) {
  const m = workerdMemory();
  details.memory.push({ at: label, ...m });
  return m;
}

async function scenario(name, spec, record = details.scenarios, seconds = SECONDS) {
  if (ONLY && !ONLY.has(name)) return null;
  process.stdout.write(`${name.padEnd(24)} warm-up ${WARMUP} s … `);
  const warm = WARMUP > 0 ? await load({ ...spec, seconds: WARMUP, during: undefined }) : null;
  if (warm) check(name, "warm-up", warm);
  process.stdout.write(`measuring ${seconds} s … `);
  const r = await load({ ...spec, seconds });
  check(name, "measured", r);
  r.warmup = { statuses: warm?.statuses ?? {}, sent: warm?.sent ?? 0 };
  if (spec.account) {
    tally(spec.account, warm);
    tally(spec.account, r);
  }
  say(`${Math.round(r.rps)} ${spec.pairs ? "pairs" : "req"}/s  p50 ${r.p50_ms.toFixed(2)} ms  p99 ${r.p99_ms.toFixed(2)} ms  workerd ${r.workerd_cpu_pct}% CPU, others ${r.other_cpu_pct}%`);
  if (r.other_cpu_pct > 25) {
    const line = `${name}: other processes used ${r.other_cpu_pct}% CPU during the measured run; its figures are skewed`;
    warnings.push(line);
    say(`  WARNING ${line}`);
  }
  record[name] = r;
  return r;
}

const get = (path) => [{ method: "GET", path }];
const post = (path, body, idem = true) => [
  { method: "POST", path, body: JSON.stringify(body), ...(idem ? { setupRequest: withKey } : {}) },
];
const DEBIT = { amount: 1 };
/** debit_spread's load: round-robin over the 1,000 accounts (each call starts where the last stopped). */
let spreadNext = 0;
const spreadDebits = () => [
  {
    method: "POST",
    body: JSON.stringify(DEBIT),
    setupRequest: (req) => withKey({ ...req, path: `/v1/accounts/${SPREAD_IDS[spreadNext++ % SPREAD_IDS.length]}/debits` }),
  },
];
const QUOTE = { operation: "chat.bench", quantities: { input_tokens: 1200, output_tokens: 350, requests: 1 } };

// ---- history lag: a debit's response to its entry in D1 ----------------------------------------------

const seqOf = (entryId) => Number(entryId.slice(entryId.lastIndexOf("_") + 1));

/**
 * Every LAG_SAMPLE_EVERY_MS one debit is sent outside the load (a fresh connection, so it waits in no
 * autocannon queue) on the account `pick()` names, and the time its response arrives is noted. One
 * poller asks `probe(pending)` every LAG_POLL_MS which of the pending samples ({account, seq}) have
 * reached D1, and resolves those: lag = seen − answered. A single poller keeps the probe's own load small.
 */
async function lagSampler(pick, stopAt, probe, pollMs = LAG_POLL_MS) {
  const samples = [];
  const waiting = new Map(); // `${account} ${seq}` -> { account, seq, answered }
  let sending = true;
  let failure = null;
  const sender = (async () => {
    const inFlight = [];
    while (Date.now() < stopAt) {
      const account = pick();
      inFlight.push(
        (async () => {
          const res = await fetchAgain(`${base}/v1/accounts/${account}/debits`, {
            method: "POST",
            headers: { ...authHeaders(), "idempotency-key": randomUUID() },
            body: JSON.stringify(DEBIT),
          });
          const answered = performance.now();
          const body = await res.json();
          if (res.status !== 201) throw new Error(`lag sample debit: HTTP ${res.status} ${JSON.stringify(body)}`);
          const seq = seqOf(body.entry_id);
          waiting.set(`${account} ${seq}`, { account, seq, answered });
        })().catch((err) => {
          failure ??= err;
        }),
      );
      await sleep(LAG_SAMPLE_EVERY_MS);
    }
    await Promise.all(inFlight);
    sending = false;
  })();
  const started = performance.now();
  let probeRounds = 0;
  let probeMs = 0;
  while (sending || waiting.size) {
    if (failure) throw failure;
    if (waiting.size) {
      const pending = [...waiting.values()];
      const asked = performance.now();
      const arrived = await probe(pending);
      const seen = performance.now();
      probeRounds++;
      probeMs += seen - asked;
      for (const sample of pending) {
        if (!arrived(sample)) continue;
        samples.push(Math.max(0, seen - sample.answered));
        waiting.delete(`${sample.account} ${sample.seq}`);
      }
    }
    if (performance.now() - started > DRAIN_DEADLINE_MS) throw new Error(`${waiting.size} sampled entries not in D1 after ${DRAIN_DEADLINE_MS / 1000} s`);
    await sleep(pollMs);
  }
  await sender;
  if (failure) throw failure;
  samples.sort((a, b) => a - b);
  // probe_ms_mean: how long one poll took (a sample's lag is known to within about that plus LAG_POLL_MS).
  return { samples: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99), max: samples.at(-1), probe_rounds: probeRounds, probe_ms_mean: round(probeMs / Math.max(1, probeRounds), 1) };
}

/**
 * One account, through the API: the newest entry of GET …/entries?limit=1. An account's flushes are
 * sent in seq order, each written in one D1 transaction, so the newest seq shipped covers every earlier
 * one (short of a redelivered message, which the counts in details.spread would show as retried).
 */
async function newestEntryProbe(pending) {
  const account = pending[0].account;
  const page = await fetchAgain(`${base}/v1/accounts/${account}/entries?limit=1`, { headers: authHeaders() });
  const data = await page.json();
  if (page.status !== 200) throw new Error(`lag poll: HTTP ${page.status} ${JSON.stringify(data)}`);
  const newest = data.data[0] ? seqOf(data.data[0].id) : 0;
  return (sample) => sample.seq <= newest;
}

/**
 * Many accounts: each pending (account, seq) looked up exactly in every shard, by one bench route
 * (POST /bench/history_probe: one D1 query per shard, in the Worker). Polling GET …/entries for a dozen
 * accounts every 10 ms would add its own load to the figure, and Miniflare's D1 proxy from Node is
 * itself too slow under load to time a sub-second lag.
 */
async function shardEntriesProbe(pending) {
  const res = await fetchAgain(`${base}/bench/history_probe`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(pending.map((p) => [p.account, p.seq])),
  });
  const found = await res.json();
  if (res.status !== 200) throw new Error(`history_probe: HTTP ${res.status} ${JSON.stringify(found)}`);
  const seen = new Set(found.map(([a, s]) => `${a} ${s}`));
  return (sample) => seen.has(`${sample.account} ${sample.seq}`);
}

// ---- history through the Queue: drained, counted -------------------------------------------------

/**
 * Waits until history has stopped flowing: no message consumed, no D1 write and no ledger alarm for
 * QUIET_MS (an object flushes FLUSH_DELAY_MS = 100 ms after a change; the Queue delivers within
 * max_batch_timeout = 0.25 s). Returns the counters then.
 */
async function quiesce(what) {
  const started = Date.now();
  let last = await benchStats();
  let quietSince = Date.now();
  for (;;) {
    await sleep(250);
    const now = await benchStats();
    if (now.history_messages !== last.history_messages || now.d1_write_batches !== last.d1_write_batches || now.alarm_runs !== last.alarm_runs || now.alarms_held !== last.alarms_held) {
      quietSince = Date.now();
      last = now;
    } else if (Date.now() - quietSince >= QUIET_MS) return now;
    if (Date.now() - started > DRAIN_DEADLINE_MS) throw new Error(`history still flowing ${DRAIN_DEADLINE_MS / 1000} s after ${what}`);
  }
}

/** ledger_entries rows of the spread accounts, over every shard. */
async function spreadEntriesInD1() {
  let n = 0;
  for (const shard of Object.keys(D1_DATABASES)) {
    const db = await mf.getD1Database(shard);
    const row = await db.prepare("SELECT count(*) AS n FROM ledger_entries WHERE account_id >= 'spread_' AND account_id < 'spread`'").first();
    n += row.n;
  }
  return n;
}

/** Polls until `count()` reaches `target` (or the deadline); returns the count and how long it took. */
async function waitForCount(count, target, what) {
  const started = performance.now();
  for (;;) {
    const n = await count();
    if (n >= target) return { count: n, ms: round(performance.now() - started, 0) };
    if (performance.now() - started > DRAIN_DEADLINE_MS) throw new Error(`${what}: ${n} of ${target} entries in D1 after ${DRAIN_DEADLINE_MS / 1000} s`);
    await sleep(50);
  }
}

const delta = (after, before) => after - before;

/** The consumer's counters between two /bench/stats snapshots. */
function statsDelta(after, before) {
  const byDatabase = {};
  for (const [name, d] of Object.entries(after.consumer_d1.byDatabase)) {
    const b = before.consumer_d1.byDatabase[name] ?? { writes: 0, statements: 0, batchMs: 0 };
    const writes = d.writes - b.writes;
    byDatabase[name] = { writes, statements: d.statements - b.statements, batch_ms_mean: round((d.batchMs - b.batchMs) / Math.max(1, writes), 1) };
  }
  return {
    d1_write_batches: delta(after.d1_write_batches, before.d1_write_batches),
    d1_statements: delta(after.consumer_d1.statements, before.consumer_d1.statements),
    d1_by_database: byDatabase,
    queue_batches: delta(after.history_batches, before.history_batches),
    history_messages: delta(after.history_messages, before.history_messages),
    history_retried: delta(after.history_retried, before.history_retried),
    dead_letter_messages: delta(after.dead_letter_messages, before.dead_letter_messages),
    alarm_runs: delta(after.alarm_runs, before.alarm_runs),
    // Per message, on delivery: time in the Queue, and age of its newest entry (flush delay + Queue).
    queue_wait_ms_mean: round(delta(after.queue_wait_ms_sum, before.queue_wait_ms_sum) / Math.max(1, delta(after.history_messages, before.history_messages)), 0),
    entry_age_ms_mean: round(delta(after.entry_age_ms_sum, before.entry_age_ms_sum) / Math.max(1, delta(after.entry_messages, before.entry_messages)), 0),
    object_d1_writes: delta(after.object_d1.writes, before.object_d1.writes),
    object_d1_reads: delta(after.object_d1.reads, before.object_d1.reads),
  };
}

// ---- usage over a million entries ------------------------------------------------------------------

const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10);

/**
 * The size of a D1 database as SQLite counts it, page_count × page_size. D1 refuses PRAGMA page_count
 * (SQLITE_AUTH); every D1 result's meta.size_after is that same figure (workerd's databaseSize).
 */
async function databaseBytes(binding) {
  const db = await mf.getD1Database(binding);
  const { meta } = await db.prepare("SELECT 1").all();
  if (!Number.isFinite(meta?.size_after)) throw new Error(`D1 ${binding}: no size_after in ${JSON.stringify(meta)}`);
  return meta.size_after;
}

/**
 * One account with USAGE_ENTRIES debit entries over USAGE_DAYS days and five operations, written by the
 * real consumer (POST /bench/history_seed → consumeHistory, messages of USAGE_PER_MESSAGE entries), so
 * ledger_entries and usage_daily are filled as production fills them. Then USAGE_REQUESTS sequential
 * GET …/usage?granularity=day over the whole span. Also: bytes per entry in the shard.
 */
async function usageScenario(account) {
  await quiesce("seeding");
  const main = await mf.getD1Database("DB");
  const dir = await main.prepare("SELECT history_shard AS shard, last_seq AS last FROM accounts WHERE id = ?").bind(account).first();
  if (!dir) throw new Error(`usage_1m: ${account} has no directory row`);
  const shard = dir.shard;
  const shardDb = await mf.getD1Database(shard);
  const entriesBefore = (await shardDb.prepare("SELECT count(*) AS n FROM ledger_entries").first()).n;
  const bytesBefore = await databaseBytes(shard);
  const now = Date.now();
  const fromMs = now - USAGE_DAYS * 86_400_000;
  const firstSeq = dir.last + 1;
  const started = Date.now();
  for (let done = 0; done < USAGE_ENTRIES; done += USAGE_PER_CALL) {
    const count = Math.min(USAGE_PER_CALL, USAGE_ENTRIES - done);
    const res = await fetch(`${base}/bench/history_seed/${account}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ first_seq: firstSeq + done, count, per_message: USAGE_PER_MESSAGE, from_ms: fromMs, to_ms: now, total: USAGE_ENTRIES, first_total_seq: firstSeq }),
    });
    const out = await res.json();
    if (res.status !== 200) throw new Error(`history_seed: HTTP ${res.status} ${JSON.stringify(out)}`);
  }
  const seedSeconds = (Date.now() - started) / 1000;
  const entriesAfter = (await shardDb.prepare("SELECT count(*) AS n FROM ledger_entries").first()).n;
  const bytesAfter = await databaseBytes(shard);
  const written = entriesAfter - entriesBefore;
  if (written !== USAGE_ENTRIES) throw new Error(`usage_1m: ${written} entries written, expected ${USAGE_ENTRIES}`);
  const usageRows = (await shardDb.prepare("SELECT count(*) AS n, sum(count) AS c FROM usage_daily WHERE account_id = ?").bind(account).first());
  const fixture = {
    account,
    shard,
    entries: written,
    days: USAGE_DAYS,
    operations: 5,
    usage_daily_rows: usageRows.n,
    usage_daily_count: usageRows.c,
    seed_seconds: round(seedSeconds, 1),
    shard_bytes_before: bytesBefore,
    shard_bytes_after: bytesAfter,
  };
  details.history_bytes_per_entry = round((bytesAfter - bytesBefore) / written, 1);
  say(`seeded ${account} with ${written} entries over ${USAGE_DAYS} days through consumeHistory in ${seedSeconds.toFixed(1)} s: ${usageRows.n} usage_daily rows; ${shard} grew ${((bytesAfter - bytesBefore) / 2 ** 20).toFixed(1)} MiB = ${details.history_bytes_per_entry} bytes per entry`);

  const path = `/v1/accounts/${account}/usage?from=${dayOf(fromMs)}&to=${dayOf(now)}&granularity=day`;
  const first = await call("GET", path, { key: writeKey, idem: false });
  if (first.status === 404 && /No route/.test(first.body?.error?.message ?? "")) {
    say(`usage_1m: GET /v1/accounts/{id}/usage is not in this build (404 No route): usage_1m_ms is null`);
    return { ...fixture, route: "missing", p50: null, p99: null };
  }
  if (first.status !== 200) throw new Error(`usage_1m: HTTP ${first.status} ${JSON.stringify(first.body)}`);
  const rows = first.body.data ?? [];
  const counted = rows.reduce((sum, r) => sum + Number(r.count ?? 0), 0);
  const times = [];
  for (let i = 0; i < USAGE_REQUESTS; i++) {
    const t0 = performance.now();
    const res = await fetch(base + path, { headers: authHeaders() });
    const text = await res.text();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`usage_1m request ${i}: HTTP ${res.status} ${text.slice(0, 300)}`);
    times.push(ms);
  }
  times.sort((a, b) => a - b);
  // The floor of any read of this account's history through the API (auth, the directory, one small
  // query on the shard): the same account's newest entry, timed the same way.
  const floor = [];
  for (let i = 0; i < USAGE_REQUESTS; i++) {
    const t0 = performance.now();
    const res = await fetch(`${base}/v1/accounts/${account}/entries?limit=1`, { headers: authHeaders() });
    await res.text();
    floor.push(performance.now() - t0);
  }
  floor.sort((a, b) => a - b);
  const r = {
    ...fixture,
    route: "ok",
    requests: USAGE_REQUESTS,
    rows: rows.length,
    count_in_answer: counted,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    max: times.at(-1),
    entries_limit_1_ms: { p50: round(percentile(floor, 50)), p99: round(percentile(floor, 99)) },
  };
  say(`usage_1m: ${USAGE_REQUESTS} sequential GET …/usage (${rows.length} rows, Σ count ${counted}): p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms; GET …/entries?limit=1 of the same account: p50 ${r.entries_limit_1_ms.p50} ms, p99 ${r.entries_limit_1_ms.p99} ms`);
  if (counted !== USAGE_ENTRIES) {
    const line = `usage_1m: the answer's counts add up to ${counted}, not ${USAGE_ENTRIES} (paged, or a day range cut short?)`;
    warnings.push(line);
    say(`  WARNING ${line}`);
  }
  return r;
}

// ---- growth: a 1,000,000-entry account ------------------------------------------------------------

async function seedGrowth() {
  const started = Date.now();
  let out = null;
  for (let done = 0; done < GROWTH_ENTRIES; done += SEED_CHUNK) {
    const count = Math.min(SEED_CHUNK, GROWTH_ENTRIES - done);
    const res = await fetch(`${base}/bench/seed_journal/growth_1m`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ count, idempotency: true }),
    });
    out = await res.json();
    if (res.status !== 200) throw new Error(`seed_journal: HTTP ${res.status} ${JSON.stringify(out)}`);
  }
  const seconds = (Date.now() - started) / 1000;
  say(`seeded growth_1m with ${GROWTH_ENTRIES} journal entries and ${out?.idempotencyRows} idempotency keys in ${seconds.toFixed(1)} s (last seq ${out?.lastSeq})`);
  return { entries: GROWTH_ENTRIES, seconds: round(seconds, 1), ...out };
}

// ---- after the load: the ledger still adds up ------------------------------------------------------

/**
 * The object's own audit: balance = Σ journal. And the balance moved by at least every 201 the client
 * saw and at most every request it sent (autocannon stops with requests in flight: those may have
 * executed without their answer being counted).
 */
async function audit(account) {
  const res = await fetch(`${base}/bench/audit/${account}`);
  const a = await res.json();
  const debited = CREDITS - a.balance;
  const entry = { balance: a.balance, journal_sum: a.journalSum, debited, ok: a.journalSum === a.balance };
  const t = debitTally.get(account);
  if (t) Object.assign(entry, t, { ok: entry.ok && debited >= t.answered_201 && debited <= t.sent });
  details.audit[account] = entry;
  if (!entry.ok) failures.push(`audit ${account}: ${JSON.stringify(entry)}`);
}

// ---- the cron sweep over 10,000 accounts ---------------------------------------------------------

const SWEEP_PREFIX = "sweep_";
const OVERLAP_PREFIX = "sweepx_";
/** Both sets: the prefix whose expiries the objects' alarms leave to the sweep. */
const HOLD_PREFIX = "sweep";
/** Ids with this prefix sort in [prefix, prefix with its last character's successor). */
const prefixRange = (prefix) => [prefix, prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)];

async function benchPost(path, body) {
  const res = await fetchAgain(base + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const out = await res.json();
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(out).slice(0, 2000)}`);
  return out;
}

/** A request through the real API that may be repeated (its Idempotency-Key is fixed by the caller). */
async function apiAgain(method, path, body, idempotencyKey) {
  const headers = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
  if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
  const res = await fetchAgain(base + path, { method, headers, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/**
 * Opens each account and grants it one lot of 1,000 credits expiring SWEEP_EXPIRY_SECONDS after the
 * grant, through the real API (PUT /v1/accounts/{id}, POST …/grants with expires_at). The object's
 * alarm ships its history at once (the lot is announced as expiring as soon as it is granted), and its
 * directory row reaches D1 with due_at = the lot's expiry: the due-work index the sweep reads.
 */
async function seedExpiring(ids, prefix) {
  const started = Date.now();
  let lastExpiry = 0;
  let apiMs = 0;
  for (let from = 0; from < ids.length; from += SWEEP_SHIP_CHUNK) {
    const chunk = ids.slice(from, from + SWEEP_SHIP_CHUNK);
    const t0 = Date.now();
    await inParallel(chunk, SWEEP_SEED_CONNECTIONS, async (id) => {
      const opened = await apiAgain("PUT", `/v1/accounts/${id}`, { name: `Sweep ${id}` });
      if (opened.status !== 201 && opened.status !== 200) throw new Error(`open ${id}: HTTP ${opened.status} ${JSON.stringify(opened.body)}`);
      const expiresAt = Date.now() + SWEEP_EXPIRY_SECONDS * 1000;
      const granted = await apiAgain("POST", `/v1/accounts/${id}/grants`, { amount: 1000, expires_at: new Date(expiresAt).toISOString() }, `sweep-grant-${id}`);
      if (granted.status !== 201) throw new Error(`grant ${id}: HTTP ${granted.status} ${JSON.stringify(granted.body)}`);
      lastExpiry = Math.max(lastExpiry, expiresAt);
    });
    apiMs += Date.now() - t0;
    // This burst's history in D1 (the index rows), and the Queue idle, before the next.
    await waitIndexed(prefix, from + chunk.length);
    await quiesce(`seeding ${prefix}… accounts`);
    process.stdout.write(`${from + chunk.length} `);
  }
  const seconds = (Date.now() - started) / 1000;
  return { accounts: ids.length, seconds: round(seconds, 1), api_requests_per_s: round((2 * ids.length) / (apiMs / 1000), 0), last_expiry: lastExpiry };
}

/** How the alarms of the prefix's accounts behave (bench/worker.ts, POST /bench/alarms). */
async function holdAlarms(mode, prefix = HOLD_PREFIX) {
  const out = await benchPost(`/bench/alarms?hold=${mode}&prefix=${prefix}`);
  if (out.seen_by_object?.mode !== mode || out.seen_by_object?.prefix !== prefix) {
    throw new Error(`sweep_10k: the objects do not see the alarm hold (${JSON.stringify(out)}): not one isolate?`);
  }
  return out;
}

/**
 * After a pass run with the alarms held: each account's alarm set again, a burst at a time, so it ships
 * what the sweep settled; waits until each burst's `expire` entries are in D1 and history is idle.
 */
async function shipAfterHold(ids, prefix) {
  const started = Date.now();
  for (let from = 0; from < ids.length; from += SWEEP_RESUME_CHUNK) {
    const chunk = ids.slice(from, from + SWEEP_RESUME_CHUNK);
    for (let i = 0; i < chunk.length; i += 500) {
      const r = await benchPost("/bench/resume_alarms", chunk.slice(i, i + 500));
      if (r.failed) throw new Error(`sweep_10k: ${r.failed} alarm(s) could not be set again`);
    }
    await waitShipped(prefix, from + chunk.length, `letting ${prefix}… accounts ship`);
    for (let i = 0; i < chunk.length; i += 500) await benchPost("/bench/evict", chunk.slice(i, i + 500));
  }
  return Date.now() - started;
}

/**
 * Waits until the objects seeding touched have left memory (workerd's open files back near `baseline`),
 * so that the pass starts with none of them holding SQLite memory (see SWEEP_RESUME_CHUNK).
 */
async function waitObjectsEvicted(baseline) {
  const started = Date.now();
  for (;;) {
    const fds = workerdFds() ?? 0;
    if (fds <= baseline + SWEEP_IDLE_FDS) return { ms: Date.now() - started, fds, baseline };
    if (Date.now() - started > 120_000) {
      warnings.push(`sweep_10k: workerd still had ${fds} open files (baseline ${baseline}) 120 s after seeding`);
      return { ms: Date.now() - started, fds, baseline };
    }
    await sleep(1000);
  }
}

/** Accounts of the prefix in the due-work index (accounts.due_at set), and of those, due by `at`. */
async function indexed(prefix, at = Date.now()) {
  const [lo, hi] = prefixRange(prefix);
  const db = await mf.getD1Database("DB");
  return db
    .prepare(
      `SELECT count(*) AS rows, count(due_at) AS indexed, coalesce(sum(due_at <= ?3), 0) AS due,
              count(sweep_claimed_by) AS claimed FROM accounts WHERE id >= ?1 AND id < ?2`,
    )
    .bind(lo, hi, at)
    .first();
}

/** Every account due by `at`, whatever its id (what a pass with that cutoff takes). */
async function dueAccounts(at) {
  const db = await mf.getD1Database("DB");
  return (await db.prepare("SELECT count(*) AS n FROM accounts WHERE due_at <= ?1").bind(at).first()).n;
}

async function waitIndexed(prefix, count) {
  const started = Date.now();
  for (;;) {
    const r = await indexed(prefix);
    if (r.indexed >= count) return { ms: Date.now() - started, ...r };
    if (Date.now() - started > SWEEP_INDEX_DEADLINE_MS) {
      throw new Error(`sweep_10k: ${r.indexed} of ${count} ${prefix}… accounts in the due-work index after ${SWEEP_INDEX_DEADLINE_MS / 1000} s (directory rows: ${r.rows}); raise BENCH_SWEEP_EXPIRY_SECONDS if their history shipped after the lot expired`);
    }
    await sleep(500);
  }
}

/**
 * The exactly-once check, twice over: each account's object holds exactly one `expire` entry, dated at
 * its lot's expiry instant, and no lot expired unsettled; and D1 (every history shard) holds exactly
 * one `expire` row per account once the objects have shipped.
 */
async function expiries(ids, prefix) {
  const objects = { accounts: ids.length, exactly_one: 0, dated_at_expiry: 0, expire_entries: 0, unsettled_lots: 0, missing: 0, wrong: [] };
  for (let i = 0; i < ids.length; i += 1000) {
    const chunk = ids.slice(i, i + 1000);
    const answers = await benchPost("/bench/expire_counts", chunk);
    for (const [k, a] of answers.entries()) {
      if (a === null) {
        objects.missing++;
        continue;
      }
      objects.expire_entries += a.expires;
      objects.unsettled_lots += a.unsettled;
      if (a.expires === 1) objects.exactly_one++;
      if (a.expires === 1 && a.datedAtExpiry === 1) objects.dated_at_expiry++;
      if ((a.expires !== 1 || a.datedAtExpiry !== 1) && objects.wrong.length < 10) objects.wrong.push({ id: chunk[k], ...a });
    }
  }
  const [lo, hi] = prefixRange(prefix);
  const perAccount = new Map();
  for (const shard of Object.keys(D1_DATABASES)) {
    const db = await mf.getD1Database(shard);
    const { results } = await db
      .prepare("SELECT account_id AS id, count(*) AS n FROM ledger_entries WHERE kind = 'expire' AND account_id >= ?1 AND account_id < ?2 GROUP BY account_id")
      .bind(lo, hi)
      .all();
    for (const r of results) perAccount.set(r.id, (perAccount.get(r.id) ?? 0) + r.n);
  }
  const d1 = {
    accounts_with_expire: perAccount.size,
    exactly_one: [...perAccount.values()].filter((n) => n === 1).length,
    expire_rows: [...perAccount.values()].reduce((a, b) => a + b, 0),
  };
  const ok = objects.exactly_one === ids.length && objects.dated_at_expiry === ids.length && objects.expire_entries === ids.length && objects.unsettled_lots === 0 && d1.exactly_one === ids.length && d1.expire_rows === ids.length;
  return { ok, objects, d1 };
}

/** `expire` rows of the prefix's accounts in D1, every shard. */
async function expireRowsInD1(prefix) {
  const [lo, hi] = prefixRange(prefix);
  let n = 0;
  for (const shard of Object.keys(D1_DATABASES)) {
    const db = await mf.getD1Database(shard);
    n += (await db.prepare("SELECT count(*) AS n FROM ledger_entries WHERE kind = 'expire' AND account_id >= ?1 AND account_id < ?2").bind(lo, hi).first()).n;
  }
  return n;
}

/**
 * Waits until what the sweep settled has reached D1 (the objects ship it through the Queue after the
 * sweep's tick) — at least `count` expire rows — then until history has stopped flowing.
 */
async function waitShipped(prefix, count, what) {
  const started = Date.now();
  for (;;) {
    const n = await expireRowsInD1(prefix);
    if (n >= count) break;
    if (Date.now() - started > SWEEP_INDEX_DEADLINE_MS) throw new Error(`sweep_10k: ${n} of ${count} expire entries in D1 ${SWEEP_INDEX_DEADLINE_MS / 1000} s after ${what}`);
    await sleep(250);
  }
  const ms = Date.now() - started;
  return { ms, stats: await quiesce(what) };
}

/** workerd's open file descriptors (each live SQLite-backed object holds a few). */
function workerdFds() {
  try {
    return readdirSync(`/proc/${workerdPid}/fd`).length;
  } catch {
    return null;
  }
}

/** One POST /bench/sweep (`parallel` invocations at once), with workerd's CPU over it. */
async function sweepOnce(parallel = 1) {
  const cpu0 = workerdCpuMs();
  const busy0 = systemBusyMs();
  const client0 = process.cpuUsage();
  let fdsMax = 0;
  const fdTimer = setInterval(() => {
    fdsMax = Math.max(fdsMax, workerdFds() ?? 0);
  }, 500);
  const t0 = performance.now();
  // evict=1: each object leaves memory once the sweep has its answer (bench/worker.ts, sweepEnv).
  const out = await benchPost(`/bench/sweep?parallel=${parallel}&evict=${SWEEP_EVICT ? 1 : 0}`).finally(() => clearInterval(fdTimer));
  const clientMs = performance.now() - t0;
  const cpuMs = workerdCpuMs() - cpu0;
  const client = process.cpuUsage(client0);
  const otherMs = Math.max(0, systemBusyMs() - busy0 - cpuMs - (client.user + client.system) / 1000);
  return out.invocations.map((inv) => ({
    wall_ms: inv.wall_ms,
    accounts: inv.outcome.sweep.accounts,
    failures: inv.outcome.sweep.failures,
    settled_entries: inv.outcome.sweep.settledEntries,
    finished: inv.outcome.sweep.finished,
    runs: inv.outcome.sweep.runs,
    object_calls: inv.object_calls,
    d1_calls: inv.d1_calls,
    subrequests: inv.subrequests,
    accounts_per_s: round(inv.outcome.sweep.accounts / Math.max(0.001, inv.wall_ms / 1000), 0),
    // The whole workerd process: the sweep's Worker, the objects' tick() and anything else running then.
    workerd_cpu_ms: round(cpuMs / out.invocations.length, 0),
    // Other processes on the machine meanwhile, in % of one core (the machine is shared).
    other_cpu_pct: round((otherMs / clientMs) * 100, 0),
    workerd_fds_max: fdsMax,
    client_ms: round(clientMs, 0),
  }));
}

async function cronRuns() {
  const db = await mf.getD1Database("DB");
  const { results } = await db.prepare("SELECT id, cutoff, started_at, finished_at, invocations, accounts, failures FROM cron_runs WHERE kind = 'sweep' ORDER BY started_at").all();
  return results;
}

/**
 * sweep_10k. The objects' own alarms settle expiries on time and the sweep is their backstop, so to
 * measure the sweep doing real work the alarms must not get there first: POST /bench/alarms holds them
 * (bench/worker.ts). Then:
 *   1. hold `expiries` (an alarm of a sweep… account that would settle an expired lot does nothing; the
 *      others, history shipping included, run): SWEEP_ACCOUNTS accounts, each with one lot expiring
 *      SWEEP_EXPIRY_SECONDS after its grant, through the real API, SWEEP_SHIP_CHUNK at a time; their
 *      directory rows reach the due-work index through the history Queue, as in production (no index
 *      row is written by the bench);
 *   2. once every lot has expired, history is idle and the seeded objects have left memory, hold `all`
 *      (no alarm of theirs runs or is set) and run invocation after invocation of the real
 *      handleScheduled() (POST /bench/sweep; cron "*\/5 * * * *", scheduledTime now, the deployed SWEEP_*
 *      settings) until one reports its pass finished, each timed and its subrequests counted; each
 *      object is evicted once the sweep has its answer (evict=1: workerd's process-wide SQLite memory
 *      cap, see SWEEP_RESUME_CHUNK);
 *   3. the alarms set again, SWEEP_RESUME_CHUNK at a time, so the objects ship what the sweep settled;
 *      then exactly one `expire` entry per account, dated at its lot's expiry, in its object and in D1;
 *      nothing left in the index or claimed;
 *   4. a second sweep: it finds nothing and writes no entry;
 *   5. overlap (SWEEP_OVERLAP_ACCOUNTS, a fresh set): two invocations of the same tick at once; their
 *      claims keep them disjoint (their accounts add up to the due count; still one entry per account).
 */
async function sweepScenario() {
  const ids = Array.from({ length: SWEEP_ACCOUNTS }, (_, i) => `${SWEEP_PREFIX}${String(i).padStart(5, "0")}`);
  await quiesce("the scenarios before sweep_10k");
  const baselineFds = workerdFds() ?? 0;
  const out = { accounts: SWEEP_ACCOUNTS, settings: CRON_VARS, expiry_seconds: SWEEP_EXPIRY_SECONDS, ship_chunk: SWEEP_SHIP_CHUNK, resume_chunk: SWEEP_RESUME_CHUNK, evict_after_tick: SWEEP_EVICT };
  try {
    await holdAlarms("expiries");
    process.stdout.write(`sweep_10k: seeding ${SWEEP_ACCOUNTS} accounts (open + grant expiring in ${SWEEP_EXPIRY_SECONDS} s) through the API, ${SWEEP_SHIP_CHUNK} at a time … `);
    const cpu0 = workerdCpuMs();
    out.seed = await seedExpiring(ids, SWEEP_PREFIX);
    out.seed.workerd_cpu_s = round((workerdCpuMs() - cpu0) / 1000, 1);
    say(`${out.seed.seconds} s (API ${out.seed.api_requests_per_s} req/s), all in the due-work index; workerd ${out.seed.workerd_cpu_s} s CPU`);
    const wait = out.seed.last_expiry + 500 - Date.now();
    if (wait > 0) await sleep(wait);
    const quiet = await quiesce("seeding the sweep's accounts");
    out.evicted_before = await waitObjectsEvicted(baselineFds);
    // From here until the pass is done, their alarms do nothing at all (shipping included: see
    // SWEEP_SHIP_CHUNK); afterwards they ship what the sweep settled, a burst at a time.
    await holdAlarms("all");
    out.alarms_held_before = quiet.alarms_held;
    out.due_before = { ...(await indexed(SWEEP_PREFIX)), all_accounts: await dueAccounts(Date.now()) };
    say(`  every lot expired: ${out.due_before.due} accounts due (${out.due_before.all_accounts} in all), ${quiet.alarms_held} alarms held off so far; seeded objects out of memory after ${(out.evicted_before.ms / 1000).toFixed(0)} s (workerd fds ${out.evicted_before.fds}, baseline ${out.evicted_before.baseline})`);
    if (out.due_before.due !== SWEEP_ACCOUNTS) throw new Error(`sweep_10k: ${out.due_before.due} of ${SWEEP_ACCOUNTS} accounts due before the sweep`);
    memoryMark("before the sweep");

    // The pass, invocation after invocation.
    const before = await benchStats();
    const invocations = [];
    for (let i = 1; ; i++) {
      const [inv] = await sweepOnce();
      invocations.push(inv);
      say(`  invocation ${i}: ${inv.accounts} accounts in ${(inv.wall_ms / 1000).toFixed(2)} s (${inv.accounts_per_s}/s), ${inv.failures} failures, ${inv.subrequests} subrequests (${inv.object_calls} object calls, ${inv.d1_calls} D1), workerd CPU ${(inv.workerd_cpu_ms / 1000).toFixed(1)} s, others ${inv.other_cpu_pct}%, workerd fds ≤ ${inv.workerd_fds_max}${inv.finished ? ", pass finished" : ", continuing"}`);
      if (inv.finished) break;
      if (i >= SWEEP_MAX_INVOCATIONS) throw new Error(`sweep_10k: the pass is not finished after ${i} invocations`);
    }
    memoryMark("after the sweep");
    const settled = await quiesce("the sweep");
    out.during_sweep = { alarm_runs: settled.alarm_runs - before.alarm_runs, alarms_held: settled.alarms_held - before.alarms_held, history_messages: settled.history_messages - before.history_messages };
    await holdAlarms("none");
    out.shipped_after_ms = await shipAfterHold(ids, SWEEP_PREFIX);
    out.invocations = invocations;
    const wallMs = invocations.reduce((a, r) => a + r.wall_ms, 0);
    const accounts = invocations.reduce((a, r) => a + r.accounts, 0);
    out.total = {
      accounts,
      failures: invocations.reduce((a, r) => a + r.failures, 0),
      settled_entries: invocations.reduce((a, r) => a + r.settled_entries, 0),
      invocations: invocations.length,
      wall_ms: wallMs,
      accounts_per_s: round(accounts / (wallMs / 1000), 0),
      longest_invocation_ms: Math.max(...invocations.map((r) => r.wall_ms)),
      most_subrequests: Math.max(...invocations.map((r) => r.subrequests)),
    };
    out.limits = { budget_ms: Number(CRON_VARS.SWEEP_BUDGET_SECONDS ?? 20) * 1000, cron_wall_ms: CRON_WALL_LIMIT_MS, max_accounts: Number(CRON_VARS.SWEEP_MAX_ACCOUNTS ?? 5000), subrequests: SUBREQUEST_LIMIT };
    out.runs = await cronRuns();
    out.after = await indexed(SWEEP_PREFIX);
    out.exactly_once = await expiries(ids, SWEEP_PREFIX);
    const t = out.total;
    say(`  ${t.accounts} accounts in ${t.invocations} invocations, ${(t.wall_ms / 1000).toFixed(1)} s of sweeping = ${t.accounts_per_s} accounts/s; longest invocation ${(t.longest_invocation_ms / 1000).toFixed(1)} s (budget ${out.limits.budget_ms / 1000} s, limit ${CRON_WALL_LIMIT_MS / 1000} s); most subrequests ${t.most_subrequests} (limit ${SUBREQUEST_LIMIT}); ${t.failures} failures`);
    const eo = out.exactly_once;
    say(`  during the pass: ${out.during_sweep.alarms_held} alarms held, ${out.during_sweep.alarm_runs} run, ${out.during_sweep.history_messages} history messages; afterwards what it settled shipped to D1 in ${(out.shipped_after_ms / 1000).toFixed(1)} s`);
    say(`  exactly once: ${eo.objects.exactly_one}/${SWEEP_ACCOUNTS} objects hold one expire entry (${eo.objects.dated_at_expiry} dated at the expiry instant, ${eo.objects.unsettled_lots} lots unsettled); D1 ${eo.d1.exactly_one}/${SWEEP_ACCOUNTS} (${eo.d1.expire_rows} rows); index after: ${out.after.indexed} indexed, ${out.after.claimed} claimed${eo.ok ? "" : "   FAILED"}`);
    if (t.failures) failures.push(`sweep_10k: ${t.failures} account(s) failed`);
    if (!eo.ok) failures.push(`sweep_10k: exactly-once check failed ${JSON.stringify(eo)}`);
    if (out.after.indexed || out.after.claimed) failures.push(`sweep_10k: after the pass ${out.after.indexed} accounts are still in the index, ${out.after.claimed} claimed`);
    // Other accounts may be due too in a full run (an expired hold of hc_1): at least one entry each here.
    if (t.settled_entries < SWEEP_ACCOUNTS || t.accounts < SWEEP_ACCOUNTS) failures.push(`sweep_10k: the sweep called ${t.accounts} accounts and wrote ${t.settled_entries} entries, expected at least ${SWEEP_ACCOUNTS} of each`);
    if (t.longest_invocation_ms > CRON_WALL_LIMIT_MS) warnings.push(`sweep_10k: an invocation took ${t.longest_invocation_ms} ms, past the ${CRON_WALL_LIMIT_MS} ms a sub-hourly cron gets`);
    if (t.most_subrequests > SUBREQUEST_LIMIT) warnings.push(`sweep_10k: an invocation made ${t.most_subrequests} subrequests, past ${SUBREQUEST_LIMIT}`);

    // Again: nothing is due any more, so nothing is called and nothing written.
    const othersDue = (await dueAccounts(Date.now())) - (await indexed(SWEEP_PREFIX)).due;
    const [again] = await sweepOnce();
    await quiesce("the second sweep");
    const recheck = await expiries(ids, SWEEP_PREFIX);
    out.second_sweep = { ...again, other_accounts_due: othersDue, expire_entries_after: recheck.objects.expire_entries, d1_expire_rows_after: recheck.d1.expire_rows, ok: again.accounts === othersDue && again.failures === 0 && recheck.ok };
    say(`  second sweep: ${again.accounts} accounts (others due: ${othersDue}), ${again.settled_entries} entries written, ${(again.wall_ms / 1000).toFixed(2)} s; expire entries still ${recheck.objects.expire_entries} in the objects, ${recheck.d1.expire_rows} in D1${out.second_sweep.ok ? "" : "   FAILED"}`);
    if (!out.second_sweep.ok) failures.push(`sweep_10k: second sweep ${JSON.stringify(out.second_sweep)}`);

    // Two invocations of the same tick at once, over a fresh set.
    if (SWEEP_OVERLAP_ACCOUNTS > 0) {
      const xids = Array.from({ length: SWEEP_OVERLAP_ACCOUNTS }, (_, i) => `${OVERLAP_PREFIX}${String(i).padStart(5, "0")}`);
      process.stdout.write(`  overlap: seeding ${SWEEP_OVERLAP_ACCOUNTS} fresh accounts … `);
      await holdAlarms("expiries");
      const seed = await seedExpiring(xids, OVERLAP_PREFIX);
      const xwait = seed.last_expiry + 500 - Date.now();
      if (xwait > 0) await sleep(xwait);
      await quiesce("seeding the overlap set");
      await waitObjectsEvicted(baselineFds);
      await holdAlarms("all");
      const due = await dueAccounts(Date.now());
      const pair = await sweepOnce(2);
      await quiesce("the overlapping sweeps");
      await holdAlarms("none");
      await shipAfterHold(xids, OVERLAP_PREFIX);
      const check = await expiries(xids, OVERLAP_PREFIX);
      const sum = pair.reduce((a, r) => a + r.accounts, 0);
      out.overlap = {
        accounts: SWEEP_OVERLAP_ACCOUNTS,
        due_before: due,
        invocations: pair,
        accounts_sum: sum,
        failures: pair.reduce((a, r) => a + r.failures, 0),
        exactly_once: check,
        ok: sum === due && pair.every((r) => r.failures === 0 && r.finished) && check.ok,
      };
      say(`${seed.seconds} s; two invocations at once: ${pair.map((r) => `${r.accounts} in ${(r.wall_ms / 1000).toFixed(1)} s`).join(" and ")} = ${sum} (due: ${due}); one expire entry each: ${check.objects.exactly_one} objects, D1 ${check.d1.exactly_one}${out.overlap.ok ? "" : "   FAILED"}`);
      if (!out.overlap.ok) failures.push(`sweep_10k overlap: ${JSON.stringify({ ...out.overlap, exactly_once: check.ok })}`);
    }
  } finally {
    await benchPost("/bench/alarms?hold=none").catch(() => {});
  }
  return out;
}

// ---- the run --------------------------------------------------------------------------------------

async function main() {
  say(`credence bench: ${SECONDS} s measured after ${WARMUP} s warm-up, ${CONNECTIONS} connections, one workerd on ${os.cpus().length} cores`);
  build();
  await start();
  await migrate();
  await seed();
  memoryMark("after seeding");

  // The runtime's ceilings.
  await scenario("noop", { requests: get("/bench/noop"), expect: [200] });
  await scenario("do_ceiling", { requests: get("/bench/do_ceiling"), expect: [200] });
  await scenario("do_write_ceiling", { requests: get("/bench/do_write_ceiling"), expect: [200] });

  // The product.
  await scenario("debit", { requests: post("/v1/accounts/debit_1/debits", DEBIT), expect: [201], account: "debit_1" });
  memoryMark("after debit");
  await scenario("hold_capture", {
    requests: [
      {
        method: "POST",
        path: "/v1/accounts/hc_1/holds",
        body: JSON.stringify({ amount: 5 }),
        setupRequest: withKey,
        onResponse: (status, body, context) => {
          if (status === 201) context.holdId = JSON.parse(body).hold_id;
        },
      },
      {
        method: "POST",
        body: JSON.stringify({ amount: 3 }),
        setupRequest: (req, context) => withKey({ ...req, path: `/v1/accounts/hc_1/holds/${context.holdId}/capture` }),
      },
    ],
    expect: [200, 201],
    pairs: true,
  });
  await scenario("quote", { requests: post("/v1/accounts/quote_1/quote", QUOTE, false), expect: [200] });
  // Round-robin over the 1,000 accounts. Around it: the D1 write transactions the history consumer made
  // for the scenario's debits (warm-up and measured run), counted once all of them are in D1.
  if (!ONLY || ONLY.has("debit_spread")) {
    const before = { stats: await quiesce("seeding and the scenarios before debit_spread"), entries: await spreadEntriesInD1() };
    const spread = await scenario("debit_spread", { requests: spreadDebits(), expect: [201] });
    const answered = (spread.warmup.statuses["201"] ?? 0) + (spread.statuses["201"] ?? 0);
    const inD1 = await waitForCount(spreadEntriesInD1, before.entries + answered, "debit_spread");
    const after = await quiesce("debit_spread");
    const entries = (await spreadEntriesInD1()) - before.entries;
    const counts = statsDelta(after, before.stats);
    details.spread = {
      debits_answered_201: answered,
      debits_sent: spread.warmup.sent + spread.sent,
      // Every debit that executed, answered or not (a request in flight when the load stopped may have).
      debits_in_d1: entries,
      drained_ms_after_load: inD1.ms,
      ...counts,
      messages_per_debit: round(counts.history_messages / Math.max(1, entries), 3),
      messages_per_queue_batch: round(counts.history_messages / Math.max(1, counts.queue_batches), 1),
      d1_writes_per_queue_batch: round(counts.d1_write_batches / Math.max(1, counts.queue_batches), 2),
      d1_writes_per_1000_debits: round((counts.d1_write_batches / Math.max(1, entries)) * 1000, 2),
    };
    const d = details.spread;
    say(`  ${entries} debits reached D1 (${answered} answered 201) ${inD1.ms} ms after the load: ${d.history_messages} messages in ${d.queue_batches} queue batches, ${d.d1_write_batches} D1 write transactions = ${d.d1_writes_per_1000_debits} per 1,000 debits; retried ${d.history_retried}; object D1 calls ${d.object_d1_writes + d.object_d1_reads}`);
    if (d.object_d1_writes || d.object_d1_reads) failures.push(`debit_spread: the ledger objects used D1 (${d.object_d1_writes} writes, ${d.object_d1_reads} reads); history must go through the Queue`);
  }
  await scenario("naive_d1", { requests: post("/bench/naive_d1/naive_1", DEBIT), expect: [201] });
  if (!ONLY || ONLY.has("webhook_storm")) {
    details.webhook_storm = await webhookStorm({ base, db: await mf.getD1Database("DB"), secret: WEBHOOK_SECRET, admin: ADMIN_KEY, say });
    if (!details.webhook_storm.ok) failures.push(`webhook storm audit: ${JSON.stringify(details.webhook_storm)}`);
  }
  memoryMark("after the main scenarios");

  // History lag: first with nothing else running (the floor), then under the debit load.
  if (!ONLY || ONLY.has("history_lag")) {
    details.history_lag_idle = await lagSampler(() => "lag_1", Date.now() + 3000, newestEntryProbe);
    const idle = details.history_lag_idle;
    say(`history lag, no load, ${idle.samples} debits: p50 ${idle.p50.toFixed(0)} ms, p99 ${idle.p99.toFixed(0)} ms`);
  }
  const lag = await scenario("history_lag", {
    requests: post("/v1/accounts/lag_1/debits", DEBIT),
    expect: [201],
    during: () => lagSampler(() => "lag_1", Date.now() + SECONDS * 1000 - 500, newestEntryProbe),
  });
  if (lag) say(`  history lag over ${lag.side.samples} sampled debits: p50 ${lag.side.p50.toFixed(0)} ms, p99 ${lag.side.p99.toFixed(0)} ms, max ${lag.side.max.toFixed(0)} ms`);

  // The same under spread load: debit_spread's load over the 1,000 accounts, and every 50 ms one debit
  // on a random spread account, found in its shard.
  const lagSpreadBefore = !ONLY || ONLY.has("history_lag_spread") ? await quiesce("the scenarios before history_lag_spread") : null;
  // At a fixed offered rate below what debit_spread reaches: at saturation every queue in the one
  // workerd process (HTTP, alarms, the Queue broker's timers) grows without bound and any latency
  // measures that backlog, not the pipeline. The rate is in results.details.json.
  const lagSpread = await scenario("history_lag_spread", {
    rate: SPREAD_LAG_RATE,
    requests: spreadDebits(),
    expect: [201],
    during: () => lagSampler(() => SPREAD_IDS[Math.floor(Math.random() * SPREAD_IDS.length)], Date.now() + SECONDS * 1000 - 500, shardEntriesProbe, SPREAD_LAG_POLL_MS),
  });
  if (lagSpread) {
    details.history_lag_spread = statsDelta(await quiesce("history_lag_spread"), lagSpreadBefore);
    const h = details.history_lag_spread;
    say(`  while it ran, per history message: ${h.entry_age_ms_mean} ms from its newest entry to the consumer, of which ${h.queue_wait_ms_mean} ms in the Queue; ${h.history_messages} messages in ${h.queue_batches} batches, D1 batch ${JSON.stringify(h.d1_by_database)}`);
  }
  if (lagSpread) say(`  spread history lag over ${lagSpread.side.samples} sampled debits: p50 ${lagSpread.side.p50.toFixed(0)} ms, p99 ${lagSpread.side.p99.toFixed(0)} ms, max ${lagSpread.side.max.toFixed(0)} ms (one probe: ${lagSpread.side.probe_ms_mean} ms)`);

  // Growth.
  let growthSeed = null;
  if (!ONLY || ONLY.has("growth_1m")) {
    memoryMark(`before seeding ${GROWTH_ENTRIES} entries`);
    growthSeed = await seedGrowth();
    memoryMark(`after seeding ${GROWTH_ENTRIES} entries`);
  }
  await scenario("growth_new", { requests: post("/v1/accounts/growth_new/debits", DEBIT), expect: [201], account: "growth_new" });
  await scenario("growth_1m", { requests: post("/v1/accounts/growth_1m/debits", DEBIT), expect: [201], account: "growth_1m" });
  // The same debits one at a time: the latency of a debit itself, without 49 others queued in front.
  // Under 50 connections p50 is mostly queueing and scheduling, which is noisy; this is what growth_p50 uses.
  details.growth_serial = {};
  for (const account of ["growth_new", "growth_1m", "growth_new", "growth_1m"]) {
    if (ONLY && !ONLY.has(account)) continue;
    const r = await load({ requests: post(`/v1/accounts/${account}/debits`, DEBIT), expect: [201], seconds: GROWTH_SERIAL_SECONDS, connections: 1 });
    check(`${account} (1 connection)`, "measured", r);
    tally(account, r);
    const prev = details.growth_serial[account];
    // Two alternating rounds; keep each account's better round so a stray pause on either side counts for nothing.
    if (!prev || r.p50_ms < prev.p50_ms) details.growth_serial[account] = { ...r, round: prev ? 2 : 1 };
  }
  const gs = details.growth_serial;
  if (gs.growth_new && gs.growth_1m) {
    say(`growth, 1 connection: new ${gs.growth_new.p50_ms.toFixed(3)} ms p50 (${Math.round(gs.growth_new.rps)}/s), 1m ${gs.growth_1m.p50_ms.toFixed(3)} ms p50 (${Math.round(gs.growth_1m.rps)}/s)`);
  }
  memoryMark("after the growth runs");

  // Where the debit's time goes: the same object and RPC with parts of the route taken away.
  if (PROFILE) {
    say(`profiling variants of the debit path (${PROFILE_SECONDS} s each):`);
    const p = details.profile;
    const variant = (name, spec) => scenario(name, spec, p, PROFILE_SECONDS);
    await variant("app_health (Hono no auth)", { requests: get("/health"), expect: [200] });
    await variant("auth_only", { requests: get("/bench/p/auth"), expect: [200] });
    await variant("ledger_write (1 UPDATE)", { requests: get("/bench/p/ledger_write/p_ledger_write"), expect: [200] });
    await variant("ledger_reads + 1 UPDATE", { requests: [{ method: "POST", path: "/bench/p/ledger_reads_write/p_reads", setupRequest: withKey }], expect: [200] });
    await variant("ledger 3 bare writes", { requests: get("/bench/p/ledger_three_writes/p_three"), expect: [200] });
    await variant("debit_rpc no idempotency", { requests: [{ method: "POST", path: "/bench/p/debit_rpc_noidem/p_noidem" }], expect: [201], account: "p_noidem" });
    await variant("debit_rpc no shipping", { requests: [{ method: "POST", path: "/bench/p/debit_rpc/p_noship_rpc", setupRequest: withKey }], expect: [201], account: "p_noship_rpc" });
    await variant("debit_rpc (object only)", { requests: [{ method: "POST", path: "/bench/p/debit_rpc/p_debit_rpc", setupRequest: withKey }], expect: [201], account: "p_debit_rpc" });
    await variant("debit_validated (no router/auth)", { requests: post("/bench/p/debit_validated/p_debit_validated", DEBIT), expect: [201], account: "p_debit_validated" });
  }
  memoryMark("end");

  // Every 201 debit must be in the balance (nothing lost, nothing charged twice under load), and the
  // journal must sum to the balance.
  for (const account of debitTally.keys()) await audit(account);
  for (const account of ["lag_1", "hc_1"]) if (!debitTally.has(account)) await audit(account);
  say(`audit: ${Object.entries(details.audit).map(([id, a]) => `${id} ${a.ok ? "ok" : "FAILED"}`).join(", ")}`);

  // Usage over a million entries of one account, and the bytes an entry takes in its shard.
  if (!ONLY || ONLY.has("usage_1m")) details.usage_1m = await usageScenario("usage_1m");

  // The cron sweep over 10,000 accounts with due work (last: it holds the sweep accounts' expiries).
  if (!ONLY || ONLY.has("sweep_10k")) details.sweep = await sweepScenario();

  return { lag, growthSeed };
}

// ---- results --------------------------------------------------------------------------------------

function writeResults() {
  const s = details.scenarios;
  const pick = (r) => ({ rps: Math.round(r.rps), p50_ms: round(r.p50_ms), p99_ms: round(r.p99_ms) });
  const scenarios = Object.fromEntries(Object.entries(s).filter(([n]) => n !== "history_lag" && n !== "history_lag_spread").map(([n, r]) => [n, pick(r)]));
  // The single-connection growth runs growth_p50 is computed from.
  for (const [account, r] of Object.entries(details.growth_serial ?? {})) scenarios[`${account}_1conn`] = { rps: Math.round(r.rps), p50_ms: round(r.p50_ms, 3), p99_ms: round(r.p99_ms) };
  const ratio = (a, b) => (a && b ? round(a / b, 3) : null);
  const results = {
    machine: {
      cpu: os.cpus()[0]?.model ?? "unknown",
      cores: os.cpus().length,
      memory_gib: round(os.totalmem() / 2 ** 30, 1),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
      wrangler: versions.wrangler,
      miniflare: versions.miniflare,
      workerd: versions.workerd,
      autocannon: versions.autocannon,
      storage: STORAGE,
      load: `${CONNECTIONS} connections, ${SECONDS} s measured after ${WARMUP} s warm-up, loopback, one process`,
    },
    scenarios,
    ratios: {
      debit_vs_do_write_ceiling: ratio(s.debit?.rps, s.do_write_ceiling?.rps),
      debit_vs_do_ceiling: ratio(s.debit?.rps, s.do_ceiling?.rps),
      debit_vs_noop: ratio(s.debit?.rps, s.noop?.rps),
      debit_vs_naive_d1: ratio(s.debit?.rps, s.naive_d1?.rps),
      hold_capture_vs_do_write_ceiling: ratio(s.hold_capture?.rps, s.do_write_ceiling?.rps),
      // p50 of single-connection debits (see main()); the 50-connection ratio is in results.details.json.
      growth_p50: ratio(details.growth_serial?.growth_1m?.p50_ms, details.growth_serial?.growth_new?.p50_ms),
    },
    history_lag_ms: { p50: s.history_lag ? round(s.history_lag.side.p50, 0) : null, p99: s.history_lag ? round(s.history_lag.side.p99, 0) : null },
    spread: {
      d1_writes_per_1000_debits: details.spread?.d1_writes_per_1000_debits ?? null,
      history_lag_ms: {
        p50: s.history_lag_spread ? round(s.history_lag_spread.side.p50, 0) : null,
        p99: s.history_lag_spread ? round(s.history_lag_spread.side.p99, 0) : null,
      },
    },
    usage_1m_ms: {
      p50: details.usage_1m?.p50 == null ? null : round(details.usage_1m.p50),
      p99: details.usage_1m?.p99 == null ? null : round(details.usage_1m.p99),
    },
    sweep: sweepSummary(),
  };
  return results;
}

/** results.json's `sweep`: sweep_10k's figures (null when it did not run). */
function sweepSummary() {
  const w = details.sweep;
  if (!w?.total) return null;
  return {
    accounts: w.accounts,
    swept: w.total.accounts,
    invocations: w.total.invocations,
    sweep_seconds: round(w.total.wall_ms / 1000, 1),
    accounts_per_s: w.total.accounts_per_s,
    longest_invocation_ms: w.total.longest_invocation_ms,
    budget_ms: w.limits.budget_ms,
    cron_limit_ms: w.limits.cron_wall_ms,
    most_subrequests: w.total.most_subrequests,
    subrequest_limit: w.limits.subrequests,
    failures: w.total.failures,
    exactly_once: w.exactly_once?.ok ?? false,
    second_sweep_accounts: w.second_sweep?.accounts ?? null,
    second_sweep_entries: w.second_sweep?.settled_entries ?? null,
    overlap: w.overlap ? { accounts: w.overlap.accounts, per_invocation: w.overlap.invocations.map((r) => r.accounts), ok: w.overlap.ok } : null,
  };
}

function table(results) {
  const s = details.scenarios;
  const rows = [["scenario", "rps", "p50 ms", "p99 ms", "workerd CPU", "CPU µs/req", "alarms/req", "client CPU", "other CPU"]];
  const add = (name, r, unit = "") =>
    rows.push([
      name,
      `${Math.round(r.rps)}${unit}`,
      r.p50_ms.toFixed(r.p50_ms < 1 ? 3 : 2),
      r.p99_ms.toFixed(2),
      `${r.workerd_cpu_pct}%`,
      String(r.workerd_cpu_us_per_req),
      r.alarms_per_req ? r.alarms_per_req.toFixed(3) : "-",
      `${r.client_cpu_pct}%`,
      `${r.other_cpu_pct}%`,
    ]);
  for (const [name, r] of Object.entries(s)) add(name, r, name === "hold_capture" ? " pairs" : "");
  for (const [account, r] of Object.entries(details.growth_serial ?? {})) add(`${account}_1conn`, r);
  for (const [name, r] of Object.entries(details.profile)) add(`  ${name}`, r);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  say();
  for (const [i, row] of rows.entries()) {
    say(row.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]) : cell.padStart(widths[j]))).join("  "));
    if (i === 0) say(widths.map((w) => "-".repeat(w)).join("  "));
  }
  say();
  const r = results.ratios;
  const target = (label, value, ok) => say(`${label.padEnd(44)} ${value === null ? "n/a" : value}${value === null ? "" : ok(value) ? "   ok" : "   MISSED"}`);
  target("debit_vs_do_write_ceiling (≥ 0.85)", r.debit_vs_do_write_ceiling, (v) => v >= 0.85);
  target("debit_vs_do_ceiling", r.debit_vs_do_ceiling, () => true);
  target("debit_vs_noop", r.debit_vs_noop, () => true);
  target("debit_vs_naive_d1 (≥ 1.5)", r.debit_vs_naive_d1, (v) => v >= 1.5);
  target("hold_capture_vs_do_write_ceiling", r.hold_capture_vs_do_write_ceiling, () => true);
  target("growth_p50 (≤ 1.2)", r.growth_p50, (v) => v <= 1.2);
  if (s.debit && s.do_write_ceiling) {
    const v = round(s.debit.p99_ms / s.do_write_ceiling.p99_ms, 2);
    target("debit p99 / do_write_ceiling p99 (≤ 2)", v, (x) => x <= 2);
  }
  if (results.history_lag_ms.p99 !== null) target("history lag p99 ms (≤ 1000)", results.history_lag_ms.p99, (v) => v <= 1000);
  const sp = results.spread;
  target("spread.d1_writes_per_1000_debits (≤ 20)", sp.d1_writes_per_1000_debits, (v) => v <= 20);
  if (sp.history_lag_ms.p50 !== null) target("spread.history_lag_ms p50", sp.history_lag_ms.p50, () => true);
  target("spread.history_lag_ms p99 (≤ 1000)", sp.history_lag_ms.p99, (v) => v <= 1000);
  target("usage_1m_ms p50 (well under 50)", results.usage_1m_ms.p50, (v) => v < 50);
  target("usage_1m_ms p99 (well under 50)", results.usage_1m_ms.p99, (v) => v < 50);
  if (details.history_bytes_per_entry != null) say(`history bytes per entry (shard, 1M-entry fixture): ${details.history_bytes_per_entry}`);
  const w = results.sweep;
  if (w) {
    target(`sweep ${w.accounts}: longest invocation ms (≤ ${w.cron_limit_ms})`, w.longest_invocation_ms, (v) => v <= w.cron_limit_ms);
    target("sweep: accounts/s", w.accounts_per_s, () => true);
    target(`sweep: invocations for ${w.swept} accounts`, w.invocations, () => true);
    target("sweep: failures (0)", w.failures, (v) => v === 0);
    target("sweep: exactly one expire entry each", w.exactly_once, (v) => v === true);
  }
  say("memory (workerd RSS, MiB): " + details.memory.map((m) => `${m.at}: ${m.rss_mib}`).join("; "));
}

let exitCode = 0;
try {
  const out = await main();
  details.growth_seed = out.growthSeed;
  if (socketRetries) warnings.push(`${socketRetries} probe/stats/sample request(s) repeated after workerd closed their connection`);
  details.warnings = warnings;
  details.config = {
    storage: STORAGE,
    seconds: SECONDS,
    warmup_seconds: WARMUP,
    connections: CONNECTIONS,
    profile_seconds: PROFILE_SECONDS,
    growth_entries: GROWTH_ENTRIES,
    growth_serial_seconds: GROWTH_SERIAL_SECONDS,
    spread_accounts: SPREAD_ACCOUNTS,
    credits_per_account: CREDITS,
    history_shards: HISTORY_SHARDS,
    queue_consumers: QUEUE_CONSUMERS,
    usage_entries: USAGE_ENTRIES,
    usage_days: USAGE_DAYS,
    usage_requests: USAGE_REQUESTS,
    sweep_accounts: SWEEP_ACCOUNTS,
    sweep_overlap_accounts: SWEEP_OVERLAP_ACCOUNTS,
    sweep_expiry_seconds: SWEEP_EXPIRY_SECONDS,
    cron_vars: CRON_VARS,
  };
  details.growth_loaded_p50_ratio = details.scenarios.growth_1m && details.scenarios.growth_new ? round(details.scenarios.growth_1m.p50_ms / details.scenarios.growth_new.p50_ms, 3) : null;
  details.growth_loaded_rps_ratio = details.scenarios.growth_1m && details.scenarios.growth_new ? round(details.scenarios.growth_1m.rps / details.scenarios.growth_new.rps, 3) : null;
  const results = writeResults();
  table(results);
  if (failures.length) throw new Error(failures.join("\n"));
  if (!ONLY) {
    // results.json is the default configuration's; another storage writes results.<storage>.json.
    const stem = STORAGE === "disk" ? "results" : `results.${STORAGE}`;
    writeFileSync(join(ROOT, "bench", `${stem}.json`), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(ROOT, "bench", `${stem}.details.json`), `${JSON.stringify({ machine: results.machine, ...details }, null, 2)}\n`);
    say(`wrote bench/${stem}.json and bench/${stem}.details.json`);
  } else if (details.sweep) {
    // A subset with sweep_10k: its figures replace the `sweep` key of the files, the rest is kept.
    const stem = STORAGE === "disk" ? "results" : `results.${STORAGE}`;
    const merge = (file, key, value) => {
      const path = join(ROOT, "bench", file);
      let data;
      try {
        data = JSON.parse(readFileSync(path, "utf8"));
      } catch {
        say(`BENCH_ONLY set: no bench/${file} to merge the sweep figures into`);
        return;
      }
      data[key] = value;
      writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
      say(`BENCH_ONLY set: only the ${key} figures written, into bench/${file}`);
    };
    merge(`${stem}.json`, "sweep", results.sweep);
    merge(`${stem}.details.json`, "sweep", { machine: results.machine, config: details.config, warnings, memory: details.memory, ...details.sweep });
  } else {
    say("BENCH_ONLY set: results not written");
  }
} catch (err) {
  process.stderr.write(`\nbench failed: ${err instanceof Error ? err.message : err}\n`);
  if (err instanceof Error && (err.cause || process.env.BENCH_DEBUG)) process.stderr.write(`${err.stack}\n${err.cause ? `cause: ${err.cause?.stack ?? err.cause}\n` : ""}`);
  exitCode = 1;
} finally {
  if (mf) await mf.dispose().catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
}
// No process.exit() at once: Miniflare removes its own temporary directory after dispose() without awaiting it.
process.exitCode = exitCode;
setTimeout(() => process.exit(exitCode), 10_000).unref();
