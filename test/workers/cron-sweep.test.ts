// The sweep: finds accounts with due work through the index in D1, calls each once, records its pass,
// and goes on in the next invocation when one is not enough.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, flush } from "./helpers";
import { journalOf, latestPass, runCron, setClock } from "./cron-helpers";

const HOUR = 3600_000;

/** `count` accounts, each with 10 credits expiring at `expiresAt`, their index rows in D1. */
async function dueAccounts(prefix: string, count: number, openedAt: number, expiresAt: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const id of ids) {
    await setClock(id, openedAt);
    await api("PUT", `/v1/accounts/${id}`, { body: {} });
    await api("POST", `/v1/accounts/${id}/grants`, { body: { amount: 10, expires_at: new Date(expiresAt).toISOString() } });
    await flush(id);
    await setClock(id, expiresAt + HOUR);
  }
  return ids;
}

const expireCount = async (id: string) => (await journalOf(id)).filter((e) => e.kind === "expire").length;
const dueAt = async (id: string) => env.DB.prepare("SELECT due_at FROM accounts WHERE id = ?").bind(id).first<number | null>("due_at");

describe("the cron sweep", () => {
  it("finds due accounts through the index, and a pass too large for one invocation continues in the next, none lost", async () => {
    const opened = Date.parse("2033-01-10T00:00:00.000Z");
    const expiresAt = opened + 2 * HOUR;
    const ids = await dueAccounts("sweep-cursor", 5, opened, expiresAt);
    expect(await dueAt(ids[0]!)).toBe(expiresAt);

    const at = expiresAt + HOUR;
    await runCron(at, undefined, { SWEEP_MAX_ACCOUNTS: "2" });
    const first = await latestPass("sweep");
    expect(first).toMatchObject({ accounts: 2, invocations: 1, finished_at: null, cutoff: at });

    await runCron(at + 5 * 60_000, undefined, { SWEEP_MAX_ACCOUNTS: "2" });
    await runCron(at + 10 * 60_000, undefined, { SWEEP_MAX_ACCOUNTS: "2" });
    const done = await env.DB.prepare("SELECT * FROM cron_runs WHERE id = ?").bind(first!.id).first<Record<string, number | null>>();
    expect(done).toMatchObject({ accounts: 5, failures: 0, invocations: 3 });
    expect(done!.finished_at).not.toBeNull();
    for (const id of ids) {
      expect(await expireCount(id), id).toBe(1);
      // Nothing else is due: the account leaves the index.
      expect(await dueAt(id), id).toBeNull();
    }
  });

  it("two sweeps at once share one pass and call each account once", async () => {
    const opened = Date.parse("2033-02-10T00:00:00.000Z");
    const expiresAt = opened + 2 * HOUR;
    const ids = await dueAccounts("sweep-overlap", 6, opened, expiresAt);
    const at = expiresAt + HOUR;
    await Promise.all([runCron(at), runCron(at), runCron(at)]);
    const pass = await latestPass("sweep");
    // Each call is counted once: three invocations, six calls in all.
    expect(pass).toMatchObject({ id: `sweep_${at}`, accounts: 6, failures: 0, invocations: 3 });
    for (const id of ids) expect(await expireCount(id), id).toBe(1);
  });

  it("drops an index row whose account has no object, and reports the pass in the admin health view", async () => {
    const at = Date.parse("2033-03-10T00:00:00.000Z");
    await env.DB.prepare("INSERT INTO accounts (id, created_at, updated_at, due_at) VALUES ('sweep-ghost', 0, 0, ?)").bind(at - HOUR).run();
    await runCron(at);
    expect(await dueAt("sweep-ghost")).toBeNull();

    const health = await api("GET", "/v1/admin/health");
    expect(health.status).toBe(200);
    expect(health.body.last_sweep).toMatchObject({ accounts: 1, failures: 0, invocations: 1 });
    expect(health.body.last_sweep.finished_at).not.toBeNull();
    expect(health.body).toHaveProperty("history_lag_ms");
    expect(health.body).toHaveProperty("queue_backlog");
    expect(health.body.overdue_accounts).toBe(0);
  });

  it("keeps the health view to admins", async () => {
    const writer = await api("POST", "/v1/api-keys", { body: { name: "writer", scopes: ["write"] } });
    const res = await api("GET", "/v1/admin/health", { key: writer.body.key });
    expect(res.status).toBe(403);
    expect((await api("GET", "/v1/admin/health", { key: null })).status).toBe(401);
  });
});
