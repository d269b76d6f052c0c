// The examples in examples/, run as a user runs them: each is a child process (`node --import tsx
// examples/<name>.ts`) importing the BUILT @credence/client through the workspace link and its
// `exports`, talking to a real Credence under `wrangler dev` (test/browser/harness.ts) and to the fake
// model server (examples/fake-model/server.mjs) through the `openai` package. The assertions are what a
// user would notice: the quote printed before, the cost printed after and the balance it took, the
// journal's entries, and the webhook receiver's log.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeModel, REPLY, REPLY_TOKEN_COUNT, startFakeModel } from "../../examples/fake-model/server.mjs";
import { type Credence, ROOT, eventually, freePort, startCredence } from "../browser/harness";

const ACCOUNT = "demo-user";
const BROKE = "broke-user";
/** How long one example may run before it is killed and the test fails. */
const EXAMPLE_TIMEOUT_MS = 60_000;
// The same operations and quantity names as `npm run dev` seeds, at 1000× its chat rates (per 1,000
// tokens instead of per 1,000,000) so that the fake's short chats cost whole credits worth comparing.
const RATES = { input_tokens: { credits: 250, per: 1000 }, output_tokens: { credits: 1000, per: 1000 } };
const IMAGE_PRICE = 400;

let credence: Credence | undefined;
let fake: FakeModel | undefined;
/** A write-scoped key, as an app would be given (the receiver, which registers itself, gets the admin key). */
let appKey = "";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment an example runs with: only ours, never a developer's CREDENCE_* or OPENAI_*. */
function exampleEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(CREDENCE_|OPENAI_)/.test(name)) env[name] = value;
  }
  return {
    ...env,
    NO_COLOR: "1",
    CREDENCE_URL: credence!.url,
    CREDENCE_API_KEY: appKey,
    CREDENCE_ACCOUNT: ACCOUNT,
    OPENAI_BASE_URL: `${fake!.url}/v1`,
    OPENAI_API_KEY: "sk-fake",
    ...extra,
  };
}

function startExample(name: string, extra: Record<string, string> = {}): { proc: ChildProcess; output: () => string; done: Promise<Run> } {
  const proc = spawn(process.execPath, ["--import", "tsx", `examples/${name}.ts`], { cwd: ROOT, env: exampleEnv(extra), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Run>((resolve) => {
    proc.on("exit", (code) => resolve({ code, stdout, stderr }));
    proc.on("error", (err) => resolve({ code: -1, stdout, stderr: `${stderr}\n${err.message}` }));
  });
  return { proc, output: () => stdout, done };
}

/** Runs an example to its end (killing it past EXAMPLE_TIMEOUT_MS). EXAMPLES_LOG=1 echoes its output. */
async function runExample(name: string, extra: Record<string, string> = {}): Promise<Run> {
  const { proc, done } = startExample(name, extra);
  const timer = setTimeout(() => proc.kill("SIGKILL"), EXAMPLE_TIMEOUT_MS);
  try {
    const run = await done;
    if (process.env.EXAMPLES_LOG === "1") process.stderr.write(`--- ${name}.ts ${JSON.stringify(extra)} (exit ${run.code})\n${run.stdout}${run.stderr}`);
    return run;
  } finally {
    clearTimeout(timer);
  }
}

/** The number a line of the output reports, e.g. number(out, /Cost: (\d+) credits/). */
function number(run: Run, pattern: RegExp): number {
  const match = pattern.exec(run.stdout);
  if (!match) throw new Error(`${pattern} not in the output:\n${run.stdout}\n--- stderr:\n${run.stderr}`);
  return Number(match[1]);
}

async function account(id: string): Promise<{ balance: number; available: number; held: number; holds: unknown[] }> {
  const res = await credence!.api("GET", `/v1/accounts/${id}`);
  expect(res.status, res.text).toBe(200);
  return res.json;
}

interface Entry {
  id: string;
  kind: string;
  amount: number;
  quantities: Record<string, number> | null;
  hold_id: string | null;
  description: string | null;
}

/** The newest capture with this description, once history has shipped it (about a second). */
async function capture(id: string, description: string, after: Set<string> = new Set()): Promise<Entry> {
  return eventually(
    async () => {
      const res = await credence!.api("GET", `/v1/accounts/${id}/entries?kind=capture&limit=100`);
      return (res.json?.data as Entry[] | undefined)?.find((e) => e.description === description && !after.has(e.id));
    },
    15_000,
    () => `no capture "${description}" in ${id}'s entries`,
  );
}

/** The credits the test's chat price charges: rounded up once, on the total. */
const chatCost = (q: Record<string, number>) => Math.ceil(((q.input_tokens ?? 0) * 250) / 1000 + ((q.output_tokens ?? 0) * 1000) / 1000);

describe("examples/ against wrangler dev and the fake model server", () => {
  let receiver: ReturnType<typeof startExample> | undefined;

  beforeAll(async () => {
    // In parallel: wrangler's start is the long part; the examples import the built client.
    const [started, model, built] = await Promise.allSettled([
      startCredence(),
      startFakeModel(),
      promisify(execFile)("npm", ["run", "client:build"], { cwd: ROOT }),
    ]);
    if (started.status === "fulfilled") credence = started.value;
    if (model.status === "fulfilled") fake = model.value;
    for (const result of [started, model, built]) if (result.status === "rejected") throw result.reason;

    const { api } = credence!;
    const setup = [
      await api("PUT", "/v1/prices/chat.gpt-4o", { rates: RATES }),
      await api("PUT", "/v1/prices/image.generate", { rates: { images: { credits: IMAGE_PRICE, per: 1 } } }),
      await api("PUT", `/v1/accounts/${ACCOUNT}`, { name: "Demo User" }),
      await api("POST", `/v1/accounts/${ACCOUNT}/grants`, { amount: 5000 }),
      // The first chat takes the balance below 4990: a balance.low for the webhook receiver.
      await api("PUT", `/v1/accounts/${ACCOUNT}/alerts`, { low_balance_threshold: 4990 }),
      await api("PUT", `/v1/accounts/${BROKE}`, { name: "Broke User" }),
      await api("POST", `/v1/accounts/${BROKE}/grants`, { amount: 100 }),
    ];
    for (const res of setup) expect(res.status, res.text).toBeLessThan(300);
    const key = await api("POST", "/v1/api-keys", { name: "examples", scopes: ["write"] });
    expect(key.status, key.text).toBe(201);
    appKey = key.json.key;
  });

  afterAll(async () => {
    if (process.env.EXAMPLES_LOG === "1" && receiver) process.stderr.write(`--- webhook-receiver.ts\n${receiver.output()}`);
    if (receiver && receiver.proc.exitCode === null) {
      receiver.proc.kill("SIGTERM");
      await Promise.race([receiver.done, new Promise((r) => setTimeout(r, 5_000))]);
      receiver.proc.kill("SIGKILL");
    }
    await fake?.close();
    await credence?.stop();
  });

  it("webhook-receiver.ts registers itself and listens", async () => {
    const port = await freePort();
    receiver = startExample("webhook-receiver", { CREDENCE_API_KEY: credence!.adminKey, PORT: String(port) });
    const line = await eventually(
      async () => /Listening on (\S+) \(registered as (we_\S+)\)/.exec(receiver!.output()) ?? (receiver!.proc.exitCode === null ? undefined : null),
      30_000,
      () => `the receiver did not start:\n${receiver!.output()}`,
    );
    if (line === null) throw new Error(`the receiver exited:\n${(await receiver.done).stderr}`);
    expect(line[1]).toBe(`http://127.0.0.1:${port}/credence-webhooks`);
  });

  it("chat.ts prints the quote, then a cost equal to the balance it took, for the tokens the model used", async () => {
    const before = await account(ACCOUNT);
    const run = await runExample("chat");
    expect(run.code, run.stderr).toBe(0);
    const quoted = number(run, /Quote: up to (\d+) credits \(affordable: yes, (?:\d+) available\)/);
    expect(run.stdout).toContain(`Reply: ${REPLY}`);
    const cost = number(run, /Cost: (\d+) credits/);
    const inputTokens = number(run, /\((\d+) input tokens/);
    const outputTokens = number(run, /(\d+) output tokens\)/);
    expect(outputTokens).toBe(REPLY_TOKEN_COUNT);

    const after = await account(ACCOUNT);
    expect(before.balance - after.balance).toBe(cost);
    expect(number(run, /Balance after: (-?\d+)/)).toBe(after.balance);
    expect(after.held).toBe(0);
    // The quote was for the estimate (the prompt and max_tokens), the charge for what was used.
    expect(cost).toBeLessThan(quoted);

    const entry = await capture(ACCOUNT, "chat");
    expect(entry.quantities).toEqual({ input_tokens: inputTokens, output_tokens: outputTokens });
    expect(entry.amount).toBe(-cost);
    expect(cost).toBe(chatCost(entry.quantities!));
  });

  let fullStreamCost = 0;
  let streamCaptures = new Set<string>();

  it("chat-stream.ts streams the reply and is charged from the final usage chunk", async () => {
    const before = await account(ACCOUNT);
    const run = await runExample("chat-stream");
    expect(run.code, run.stderr).toBe(0);
    number(run, /Quote: up to (\d+) credits \(affordable: yes/);
    expect(run.stdout).toContain(REPLY);
    expect(run.stdout).toContain("(complete)");
    fullStreamCost = number(run, /Cost: (\d+) credits/);

    const after = await account(ACCOUNT);
    expect(before.balance - after.balance).toBe(fullStreamCost);
    expect(number(run, /Balance after: (-?\d+)/)).toBe(after.balance);

    const entry = await capture(ACCOUNT, "chat (streamed)");
    streamCaptures.add(entry.id);
    expect(entry.quantities?.output_tokens).toBe(REPLY_TOKEN_COUNT);
    expect(entry.amount).toBe(-fullStreamCost);
  });

  it("chat-stream.ts with a stream cut after 5 tokens charges for those 5 only, and leaves no hold", async () => {
    expect(fullStreamCost, "the full stream test above failed").toBeGreaterThan(0);
    const before = await account(ACCOUNT);
    const run = await runExample("chat-stream", { OPENAI_MODEL: "fake-cut-after-5" });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/The stream broke off after 5 tokens/);
    expect(run.stdout).toContain(REPLY.split(" ").slice(0, 5).join(" "));
    expect(run.stdout).not.toContain(REPLY);
    expect(run.stdout).toContain("(cut short)");
    const cost = number(run, /Cost: (\d+) credits/);
    expect(cost).toBeGreaterThan(0);
    expect(cost).toBeLessThan(fullStreamCost);

    const after = await account(ACCOUNT);
    expect(before.balance - after.balance).toBe(cost);
    expect(after.held).toBe(0);
    expect(after.holds).toEqual([]);

    const entry = await capture(ACCOUNT, "chat (streamed)", streamCaptures);
    expect(entry.quantities?.output_tokens).toBe(5);
    expect(entry.amount).toBe(-cost);
    expect(cost).toBe(chatCost(entry.quantities!));
  });

  it("image.ts prints the per-request quote and is charged exactly that", async () => {
    const before = await account(ACCOUNT);
    const run = await runExample("image");
    expect(run.code, run.stderr).toBe(0);
    expect(number(run, /Quote: (\d+) credits for 1 image\(s\) \(affordable: yes/)).toBe(IMAGE_PRICE);
    expect(run.stdout).toMatch(/Got 1 image\(s\); the first is \d+ bytes of PNG/);
    expect(number(run, /Cost: (\d+) credits/)).toBe(IMAGE_PRICE);
    const after = await account(ACCOUNT);
    expect(before.balance - after.balance).toBe(IMAGE_PRICE);
    expect(number(run, /Balance after: (-?\d+)/)).toBe(after.balance);
    const entry = await capture(ACCOUNT, "image");
    expect(entry.quantities).toEqual({ images: 1 });
  });

  it("image.ts for an account that cannot pay says what is needed and what is available, and charges nothing", async () => {
    const run = await runExample("image", { CREDENCE_ACCOUNT: BROKE });
    expect(run.code, run.stderr).toBe(2);
    expect(run.stdout).toMatch(/Quote: 400 credits for 1 image\(s\) \(affordable: no, 100 available\)/);
    expect(run.stdout).toContain("Not enough credits: 1 image(s) need 400 credits, you have 100.");
    expect(run.stdout).not.toContain("Got ");
    expect(await account(BROKE)).toMatchObject({ balance: 100, available: 100, held: 0 });
  });

  it("webhook-receiver.ts verified and logged the real balance.low delivery, and handles a redelivery once", async () => {
    expect(receiver, "the receiver test above failed").toBeDefined();
    const verified = await eventually(
      async () => /Verified balance\.low (\S+) for demo-user: (.*)/.exec(receiver!.output()) ?? undefined,
      30_000,
      () => `no balance.low in the receiver's log:\n${receiver!.output()}`,
    );
    const eventId = verified[1]!;
    expect(JSON.parse(verified[2]!)).toMatchObject({ threshold: 4990 });

    // Sent again by hand: the same event id, so the receiver does not handle it twice.
    const endpointId = /registered as (we_\S+)\)/.exec(receiver!.output())![1]!;
    const retry = await credence!.api("POST", `/v1/webhook-endpoints/${endpointId}/deliveries/${eventId}/retry`);
    expect(retry.status, retry.text).toBeLessThan(300);
    await eventually(
      async () => (receiver!.output().includes(`Duplicate ${eventId} (balance.low): already handled`) ? true : undefined),
      30_000,
      () => `the redelivery of ${eventId} did not arrive:\n${receiver!.output()}`,
    );
    expect(receiver!.output().match(new RegExp(`Verified balance\\.low ${eventId}`, "g"))).toHaveLength(1);

    // A body that was not signed with the endpoint's secret is refused.
    const port = /127\.0\.0\.1:(\d+)\/credence-webhooks/.exec(receiver!.output())![1];
    const forged = await fetch(`http://127.0.0.1:${port}/credence-webhooks`, {
      method: "POST",
      headers: { "content-type": "application/json", "credence-signature": `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}` },
      body: JSON.stringify({ id: "evt_forged", type: "balance.low", account_id: ACCOUNT, data: {} }),
    });
    expect(forged.status).toBe(400);
    // The receiver logs before it answers, but its stdout reaches us through a pipe on its own schedule:
    // the answer can arrive before the line does.
    await eventually(
      async () => (receiver!.output().includes("Rejected a delivery: bad signature") ? true : undefined),
      30_000,
      () => `the receiver did not log the forged delivery's rejection:\n${receiver!.output()}`,
    );
  });
});
