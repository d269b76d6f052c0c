// The transport: auth, JSON, an Idempotency-Key per POST call (kept across that call's own retries),
// retries with jittered exponential backoff on 429 / 5xx / network errors and timeouts only, and a
// per-attempt timeout. Web platform APIs only (fetch, AbortController, crypto.randomUUID, setTimeout).
import { ConnectionError, CredenceError, errorFor } from "./errors.js";

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface CredenceOptions {
  /** A Credence API key (Bearer). */
  apiKey: string;
  /** Where Credence runs, e.g. https://credence.example.com (no trailing /v1). */
  baseUrl: string;
  /** A fetch to use instead of the global one (a service binding's fetch, a test double, …). */
  fetch?: FetchLike;
  /** Per attempt, in ms; default 10 000. */
  timeoutMs?: number;
  /** Retries after the first attempt, on 429, 5xx, network errors and timeouts only; default 3. */
  maxRetries?: number;
  /** The first backoff step in ms (doubled each retry, with full jitter); default 250. */
  retryBaseMs?: number;
  /** The longest wait between attempts in ms, Retry-After included; default 30 000. */
  maxRetryDelayMs?: number;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  /** Sent as the query string; null and undefined values are left out. */
  query?: Query | undefined;
  /** Sent as JSON. */
  body?: unknown;
  /** For a POST: the key to send instead of a fresh one (to retry a call of your own safely). */
  idempotencyKey?: string | undefined;
  /** Aborts the call (every attempt, and the waits between them). */
  signal?: AbortSignal | undefined;
}

/** Per-call options every method accepts. */
export interface CallOptions {
  idempotencyKey?: string;
  signal?: AbortSignal;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** Seconds of a Retry-After header (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now) / 1000);
}

export class HttpClient {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  private readonly apiKey: string;
  private readonly fetchImpl: FetchLike;
  private readonly retryBaseMs: number;
  private readonly maxRetryDelayMs: number;

  constructor(options: CredenceOptions) {
    if (!options.apiKey) throw new TypeError("Credence: apiKey is required.");
    if (!options.baseUrl) throw new TypeError("Credence: baseUrl is required.");
    this.apiKey = options.apiKey;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    const globalFetch = globalThis.fetch;
    this.fetchImpl = options.fetch ?? ((input, init) => globalFetch(input, init));
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxRetries = Math.max(0, options.maxRetries ?? 3);
    this.retryBaseMs = options.retryBaseMs ?? 250;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  }

  url(path: string, query?: Query): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) params.set(key, String(value));
    }
    const qs = params.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ""}`;
  }

  /** The wait before retry number `retry` (1-based): full jitter over an exponential step. */
  backoff(retry: number): number {
    const step = Math.min(this.maxRetryDelayMs, this.retryBaseMs * 2 ** (retry - 1));
    return Math.random() * step;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.apiKey}`,
      accept: "application/json",
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    // One key per call, generated before the first attempt: every retry of this call sends the same
    // key, so a request the server applied but whose answer was lost is answered again, not re-applied.
    const idempotencyKey = method === "POST" ? (options.idempotencyKey ?? crypto.randomUUID()) : undefined;
    if (idempotencyKey !== undefined) headers["idempotency-key"] = idempotencyKey;
    const keyOption = idempotencyKey === undefined ? {} : { idempotencyKey };

    for (let attempt = 0; ; attempt++) {
      if (options.signal?.aborted) throw options.signal.reason;
      const canRetry = attempt < this.maxRetries;
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new Error(`Credence: no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const onAbort = () => controller.abort(options.signal?.reason);
      options.signal?.addEventListener("abort", onAbort, { once: true });

      let response: Response;
      let text: string;
      try {
        response = await this.fetchImpl(url, { method, headers, body, signal: controller.signal });
        text = await response.text();
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (!canRetry) {
          throw new ConnectionError(
            0,
            { type: timedOut ? "timeout" : "connection_error", message: timedOut ? `No answer within ${this.timeoutMs} ms.` : `Could not reach Credence: ${String(err)}` },
            { ...keyOption, cause: err },
          );
        }
        await sleep(this.backoff(attempt + 1), options.signal);
        continue;
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      }

      let parsed: unknown = null;
      if (text) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = null;
        }
      }
      if (response.ok) return parsed as T;

      const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
      const error = errorFor(response.status, parsed, { ...keyOption, ...(retryAfter === undefined ? {} : { retryAfter }) });
      const retryable = response.status === 429 || response.status >= 500;
      if (!retryable || !canRetry) throw error;
      const wait = retryAfter === undefined ? this.backoff(attempt + 1) : retryAfter * 1000;
      // A server that asks for a longer wait than we are willing to make gets its error back now.
      if (wait > this.maxRetryDelayMs) throw error;
      await sleep(wait, options.signal);
    }
  }
}

export { CredenceError };
