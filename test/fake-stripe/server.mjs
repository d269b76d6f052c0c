// A fake of the few Stripe API endpoints Credence calls, for tests and local runs: plain Node, no
// dependencies. Bodies are form-encoded as Stripe's are; objects are kept in memory.
//
//   POST /v1/customers, POST /v1/checkout/sessions: create, honouring Idempotency-Key like Stripe does
//     (same key and same parameters: the same object again; same key, other parameters: 400
//     idempotency_error; same key while the first request is still running: 409, which the stripe
//     package retries). A session whose metadata[package_id] starts with "stripe-error" is refused
//     with a 400 invalid_request_error, so tests can see how a Stripe error is answered.
//   POST /v1/payment_intents: an off-session charge, confirmed at once: `succeeded`, except with the
//     test cards pm_card_chargeDeclined (402 card_error card_declined) and
//     pm_card_authenticationRequired (402 card_error authentication_required), as Stripe's test cards.
//   GET /__calls: every API call received so far, [{method, path, idempotency_key, params, outcome}],
//     params flat as sent (`metadata[account_id]`, `line_items[0][price_data][currency]`, …), outcome
//     one of created, replayed, in_progress (409), idempotency_error (400), error.
import http from "node:http";

/** How long a create takes, so that concurrent requests with one key really overlap. */
const CREATE_DELAY_MS = 40;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function stripeError(res, status, type, message, extra = {}) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { type, message, ...extra } }));
}

export function startFakeStripe({ port = 0, host = "127.0.0.1" } = {}) {
  const calls = [];
  /** Idempotency-Key → { body, status, response } once done, or { body, inFlight: true }. */
  const idempotent = new Map();
  let counter = 0;
  const nextId = (prefix) => `${prefix}_test_${Date.now().toString(36)}${(++counter).toString(36).padStart(6, "0")}`;
  let base = "";

  const create = {
    "/v1/customers": (p) => ({
      id: nextId("cus"),
      object: "customer",
      email: p.email ?? null,
      name: p.name ?? null,
      metadata: nested(p, "metadata"),
      created: Math.floor(Date.now() / 1000),
      livemode: false,
    }),
    "/v1/checkout/sessions": (p) => {
      if ((p["metadata[package_id]"] ?? "").startsWith("stripe-error")) {
        return { error: [400, "invalid_request_error", "Fake Stripe refused this session (package id starts with 'stripe-error').", { param: "line_items" }] };
      }
      const id = nextId("cs");
      return {
        id,
        object: "checkout.session",
        url: `${base}/pay/${id}`,
        mode: p.mode,
        status: "open",
        payment_status: "unpaid",
        customer: p.customer ?? null,
        client_reference_id: p.client_reference_id ?? null,
        metadata: nested(p, "metadata"),
        amount_total: Number(p["line_items[0][price_data][unit_amount]"] ?? 0) * Number(p["line_items[0][quantity]"] ?? 1),
        currency: p["line_items[0][price_data][currency]"] ?? null,
        payment_intent: null,
        success_url: p.success_url ?? null,
        cancel_url: p.cancel_url ?? null,
        expires_at: Math.floor(Date.now() / 1000) + 24 * 3600,
        livemode: false,
      };
    },
  };

  create["/v1/payment_intents"] = (p) => {
    const pi = {
      id: nextId("pi"),
      object: "payment_intent",
      amount: Number(p.amount),
      currency: p.currency,
      customer: p.customer ?? null,
      payment_method: p.payment_method ?? null,
      status: "succeeded",
      metadata: nested(p, "metadata"),
      created: Math.floor(Date.now() / 1000),
      last_payment_error: null,
      livemode: false,
    };
    const declines = {
      pm_card_chargeDeclined: ["card_declined", "Your card was declined.", "requires_payment_method"],
      pm_card_authenticationRequired: ["authentication_required", "Your card requires authentication.", "requires_action"],
    };
    const decline = declines[pi.payment_method];
    if (!decline) return pi;
    const [code, message, status] = decline;
    return { error: [402, "card_error", message, { code, payment_intent: { ...pi, status, last_payment_error: { code, message } } }] };
  };

  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", "http://fake");

    if (req.method === "GET" && url.pathname === "/__calls") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(calls));
      return;
    }
    const make = req.method === "POST" ? create[url.pathname] : undefined;
    if (!make) return stripeError(res, 404, "invalid_request_error", `Unrecognized request URL (${req.method}: ${url.pathname}).`);
    if (!(req.headers.authorization ?? "").startsWith("Bearer sk_")) {
      return stripeError(res, 401, "invalid_request_error", "Invalid API Key provided.");
    }

    const params = Object.fromEntries(new URLSearchParams(body));
    const key = req.headers["idempotency-key"];
    const call = { method: req.method, path: url.pathname, idempotency_key: key ?? null, params, outcome: "created" };
    calls.push(call);

    if (typeof key === "string") {
      const seen = idempotent.get(key);
      if (seen && seen.body !== body) {
        call.outcome = "idempotency_error";
        return stripeError(res, 400, "idempotency_error", `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`);
      }
      if (seen?.inFlight) {
        call.outcome = "in_progress";
        return stripeError(res, 409, "idempotency_error", "There is currently another in-progress request using this Stripe-Idempotency-Key. Please try again later.");
      }
      if (seen) {
        call.outcome = "replayed";
        res.writeHead(seen.status, { "content-type": "application/json", "idempotent-replayed": "true" });
        res.end(seen.response);
        return;
      }
      idempotent.set(key, { body, inFlight: true });
    }

    await sleep(CREATE_DELAY_MS);
    const made = make(params);
    if (made.error) call.outcome = "error";
    const [status, response] = made.error
      ? [made.error[0], JSON.stringify({ error: { type: made.error[1], message: made.error[2], ...made.error[3] } })]
      : [200, JSON.stringify(made)];
    if (typeof key === "string") idempotent.set(key, { body, status, response });
    res.writeHead(status, { "content-type": "application/json" });
    res.end(response);
  });

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address();
      base = `http://${host}:${address.port}`;
      resolve({ url: base, close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** `metadata[a]=1&metadata[b]=2` → {a: "1", b: "2"}. */
function nested(params, name) {
  const out = {};
  for (const [k, v] of Object.entries(params)) {
    const m = k.match(new RegExp(`^${name}\\[([^\\]]+)\\]$`));
    if (m) out[m[1]] = v;
  }
  return out;
}
