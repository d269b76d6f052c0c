#!/usr/bin/env node
// A small, deterministic stand-in for an OpenAI-compatible model server, so the examples run with no
// network and no model key. Plain Node `http`, no dependencies.
//
//   node examples/fake-model/server.mjs        prints its URL (PORT=… to choose the port, default 8788)
//   import { startFakeModel } from "./server.mjs"; const fake = await startFakeModel(); … fake.close()
//
// Routes (point the `openai` package at it with OPENAI_BASE_URL=<url>/v1 and any OPENAI_API_KEY):
//
//   POST /v1/chat/completions   the reply is a fixed text; each word is one "token". Prompt tokens are
//                               ceil(characters / 4) of each message's text, summed. `max_tokens` (or
//                               `max_completion_tokens`) cuts the reply short (finish_reason "length").
//                               With `stream: true`: one SSE chunk per token, then, when
//                               `stream_options.include_usage` is true, a chunk with `choices: []` and
//                               `usage`, then `data: [DONE]`.
//   POST /v1/images/generations `{data: [{b64_json}] × n}` (a 1×1 PNG), or `{url}` with
//                               `response_format: "url"`, served by GET /v1/files/fake.png.
//
// A stream cut mid-way: the model `fake-cut-after-<N>` (or the header `x-fake-cut-after: N`) sends N
// content chunks, then destroys the socket: no usage chunk, no [DONE], as when a connection drops.

import { createServer } from "node:http";
import { pathToFileURL } from "node:url";

/** The whole reply, and its length in tokens (each word is one). */
export const REPLY =
  "Credits are held before the model runs, the tokens it really used are captured when it finishes, " +
  "and whatever was not used goes straight back to the balance.";
const REPLY_TOKENS = REPLY.split(" ").map((word, i) => (i === 0 ? word : ` ${word}`));
export const REPLY_TOKEN_COUNT = REPLY_TOKENS.length;
/** Between streamed chunks, so a reader sees the reply arrive. */
const CHUNK_DELAY_MS = 15;
// A 1×1 transparent PNG.
const PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

/** The text of a message's content: a string, or the text parts of an array of parts. */
function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => (typeof part?.text === "string" ? part.text : "")).join("");
  return "";
}

/** Deterministic prompt tokens: ceil(characters / 4) per message. */
export function countPromptTokens(messages) {
  return (Array.isArray(messages) ? messages : []).reduce((sum, m) => sum + Math.ceil(textOf(m?.content).length / 4), 0);
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res, status, message, type = "invalid_request_error") {
  sendJson(res, status, { error: { message, type, param: null, code: null } });
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The N of `fake-cut-after-N` or of the x-fake-cut-after header; undefined when the stream is not to be cut. */
function cutAfter(req, model) {
  const fromModel = /^fake-cut-after-(\d+)$/.exec(String(model ?? ""))?.[1];
  const raw = fromModel ?? req.headers["x-fake-cut-after"];
  return raw === undefined ? undefined : Number(raw);
}

async function chatCompletions(req, res, body) {
  if (!Array.isArray(body.messages) || body.messages.length === 0) return sendError(res, 400, "messages: at least one message is required");
  const model = String(body.model ?? "gpt-4o");
  const limit = body.max_completion_tokens ?? body.max_tokens;
  const tokens = typeof limit === "number" && limit >= 0 ? REPLY_TOKENS.slice(0, limit) : REPLY_TOKENS;
  const finishReason = tokens.length < REPLY_TOKENS.length ? "length" : "stop";
  const promptTokens = countPromptTokens(body.messages);
  const usage = { prompt_tokens: promptTokens, completion_tokens: tokens.length, total_tokens: promptTokens + tokens.length };
  const id = `chatcmpl-fake-${Date.now().toString(36)}`;
  const created = Math.floor(Date.now() / 1000);

  if (!body.stream) {
    return sendJson(res, 200, {
      id,
      object: "chat.completion",
      created,
      model,
      choices: [{ index: 0, message: { role: "assistant", content: tokens.join(""), refusal: null }, logprobs: null, finish_reason: finishReason }],
      usage,
    });
  }

  const cut = cutAfter(req, model);
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  res.flushHeaders();
  // Resolves once the chunk has been handed to the socket, so a cut right after it still delivers it.
  const send = (data) => new Promise((resolve) => res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`, () => resolve()));
  const chunk = (choices, extra = {}) => ({ id, object: "chat.completion.chunk", created, model, choices, ...extra });

  await send(chunk([{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]));
  for (let i = 0; i < tokens.length; i++) {
    if (res.destroyed) return;
    if (cut !== undefined && i >= cut) {
      res.socket?.destroy();
      return;
    }
    await sleep(CHUNK_DELAY_MS);
    await send(chunk([{ index: 0, delta: { content: tokens[i] }, logprobs: null, finish_reason: null }]));
  }
  if (cut !== undefined) {
    res.socket?.destroy();
    return;
  }
  await send(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason }]));
  if (body.stream_options?.include_usage === true) await send(chunk([], { usage }));
  await send("[DONE]");
  res.end();
}

function imagesGenerations(req, res, body, origin) {
  if (typeof body.prompt !== "string" || body.prompt === "") return sendError(res, 400, "prompt: a prompt is required");
  const n = body.n ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 10) return sendError(res, 400, "n: an integer from 1 to 10");
  const image = body.response_format === "url" ? { url: `${origin}/v1/files/fake.png` } : { b64_json: PNG_BASE64 };
  sendJson(res, 200, { created: Math.floor(Date.now() / 1000), data: Array.from({ length: n }, () => ({ ...image })) });
}

async function handle(req, res) {
  const origin = `http://${req.headers.host}`;
  const path = new URL(req.url ?? "/", origin).pathname;
  if (req.method === "GET" && path === "/v1/files/fake.png") {
    const png = Buffer.from(PNG_BASE64, "base64");
    res.writeHead(200, { "content-type": "image/png", "content-length": png.length });
    return res.end(png);
  }
  if (req.method !== "POST") return sendError(res, 404, `No route ${req.method} ${path}`);
  if (!/^Bearer \S+/.test(req.headers.authorization ?? "")) return sendError(res, 401, "Missing bearer API key (any value will do).", "authentication_error");
  let body;
  try {
    body = await readJson(req);
  } catch {
    return sendError(res, 400, "The body is not JSON.");
  }
  if (path === "/v1/chat/completions") return chatCompletions(req, res, body);
  if (path === "/v1/images/generations") return imagesGenerations(req, res, body, origin);
  return sendError(res, 404, `No route POST ${path}`);
}

/** Starts the fake model server on 127.0.0.1 (`port` 0 or omitted: a free one). `url` has no trailing /v1. */
export function startFakeModel({ port = 0, host = "127.0.0.1" } = {}) {
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) sendError(res, 500, String(err), "server_error");
      else res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address();
      const url = `http://${host}:${address.port}`;
      resolve({
        url,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const fake = await startFakeModel({ port: Number(process.env.PORT ?? 8788) });
  process.stdout.write(`Fake model server on ${fake.url}\n  export OPENAI_BASE_URL=${fake.url}/v1 OPENAI_API_KEY=fake\n`);
  const stop = () => fake.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
