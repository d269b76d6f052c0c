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
//   GET /v1/checkout/sessions, GET /v1/payment_intents: lists, newest first, with created[gte],
//     created[lte], status (sessions), limit and starting_after, as Stripe pages them.
//   POST /__pay/{session}: the buyer pays a session (test control): it becomes complete and paid,
//     with a succeeded PaymentIntent (`setup_future_usage` as the session asked, payment_method
//     pm_card_visa or the JSON body's `payment_method`). Answers {session, payment_intent, events}:
//     the two events written to the log, by type. No webhook is sent: tests deliver their own.
//   POST /__cards/{payment_method}: the JSON body's `outcomes` (decline codes, "succeeded", or
//     "processing": accepted, outcome later; "resource_missing": the payment method is gone, a 400
//     invalid_request_error as Stripe answers for a detached card; "api_error": a 500) are what the next
//     PaymentIntents charged to that card get, in order; then it succeeds.
//   POST /__fail/{payment_intent}: a processing PaymentIntent fails later (the body's `code`).
//   POST /__events: the JSON body {type, object} becomes an event in Stripe's event log (a refund, a
//     dispute, whose webhook a test may then deliver, or lose); answers the event.
//   GET /v1/events: Stripe's event log, newest first, with created[gte|gt|lte|lt], types[], limit and
//     starting_after. The fake writes the events Stripe would: payment_intent.succeeded / .payment_failed
//     for the PaymentIntents it makes, checkout.session.completed when a session is paid (__pay), and
//     payment_intent.payment_failed when a processing one fails (__fail). No webhook is sent.
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
  /** Every session and PaymentIntent made, oldest first, for the list endpoints. */
  const sessions = [];
  const intents = [];
  /** Stripe's event log, oldest first. */
  const events = [];
  /** Records an event as Stripe would, with a copy of the object as it is now. */
  const emit = (type, object) => {
    const evt = {
      id: nextId("evt"),
      object: "event",
      type,
      api_version: "2025-01-01",
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      data: { object: JSON.parse(JSON.stringify(object)) },
    };
    events.push(evt);
    return evt;
  };
  /** payment_method → outcomes still scripted for it. */
  const scripted = new Map();
  const declineMessages = {
    card_declined: ["Your card was declined.", "requires_payment_method"],
    insufficient_funds: ["Your card has insufficient funds.", "requires_payment_method"],
    authentication_required: ["Your card requires authentication.", "requires_action"],
  };

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
      const made = {
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
        created: Math.floor(Date.now() / 1000),
        livemode: false,
        setup_future_usage: p["payment_intent_data[setup_future_usage]"] ?? null,
        payment_intent_metadata: nested(p, "payment_intent_data[metadata]"),
      };
      sessions.push(made);
      return made;
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
      amount_received: Number(p.amount),
      metadata: nested(p, "metadata"),
      created: Math.floor(Date.now() / 1000),
      last_payment_error: null,
      livemode: false,
    };
    const fixed = { pm_card_chargeDeclined: "card_declined", pm_card_authenticationRequired: "authentication_required" };
    const queue = scripted.get(pi.payment_method);
    const code = queue?.length ? queue.shift() : (fixed[pi.payment_method] ?? "succeeded");
    if (code === "resource_missing") {
      return { error: [400, "invalid_request_error", `No such PaymentMethod: '${pi.payment_method}'`, { code, param: "payment_method" }] };
    }
    if (code === "api_error") return { error: [500, "api_error", "Something went wrong on Stripe's end."] };
    if (code === "succeeded" || code === "processing") {
      const made = code === "processing" ? { ...pi, status: "processing", amount_received: 0 } : pi;
      intents.push(made);
      if (code === "succeeded") emit("payment_intent.succeeded", made);
      return made;
    }
    const [message, status] = declineMessages[code] ?? [`Your card was declined (${code}).`, "requires_payment_method"];
    const failed = { ...pi, status, amount_received: 0, last_payment_error: { code, message } };
    intents.push(failed);
    emit("payment_intent.payment_failed", failed);
    return { error: [402, "card_error", message, { code, payment_intent: failed }] };
  };

  /** Stripe's list: newest first, a page of `limit` after `starting_after`. */
  function list(objects, url, path, keep = () => true) {
    const q = url.searchParams;
    const gte = Math.max(Number(q.get("created[gte]") ?? -Infinity), Number(q.get("created[gt]") ?? -Infinity) + 1);
    const lte = Math.min(Number(q.get("created[lte]") ?? Infinity), Number(q.get("created[lt]") ?? Infinity) - 1);
    const status = q.get("status");
    let rows = objects.filter((o) => o.created >= gte && o.created <= lte && (!status || o.status === status) && keep(o)).reverse();
    const after = q.get("starting_after");
    if (after) rows = rows.slice(rows.findIndex((o) => o.id === after) + 1);
    const limit = Number(q.get("limit") ?? 10);
    return { object: "list", url: path, data: rows.slice(0, limit), has_more: rows.length > limit };
  }

  function pay(sessionId, paymentMethod) {
    const session = sessions.find((s) => s.id === sessionId);
    if (!session) return null;
    const pi = {
      id: nextId("pi"),
      object: "payment_intent",
      amount: session.amount_total,
      amount_received: session.amount_total,
      currency: session.currency,
      customer: session.customer,
      payment_method: paymentMethod,
      setup_future_usage: session.setup_future_usage,
      status: "succeeded",
      metadata: session.payment_intent_metadata,
      created: Math.floor(Date.now() / 1000),
      last_payment_error: null,
      livemode: false,
    };
    intents.push(pi);
    Object.assign(session, { status: "complete", payment_status: "paid", payment_intent: pi.id });
    const events = { "payment_intent.succeeded": emit("payment_intent.succeeded", pi), "checkout.session.completed": emit("checkout.session.completed", session) };
    return { session, payment_intent: pi, events };
  }

  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", "http://fake");

    const json = (status, value) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (req.method === "GET" && url.pathname === "/__calls") return json(200, calls);
    if (req.method === "POST" && url.pathname === "/__events") {
      const input = JSON.parse(body);
      return json(200, emit(input.type, input.object));
    }
    const control = url.pathname.match(/^\/__(pay|cards|fail)\/([^/]+)$/);
    if (req.method === "POST" && control) {
      const input = body ? JSON.parse(body) : {};
      if (control[1] === "fail") {
        const pi = intents.find((i) => i.id === control[2]);
        if (!pi) return stripeError(res, 404, "invalid_request_error", `No such payment_intent: '${control[2]}'`);
        Object.assign(pi, { status: "requires_payment_method", last_payment_error: { code: input.code ?? "card_declined", message: "Your card was declined." } });
        emit("payment_intent.payment_failed", pi);
        return json(200, pi);
      }
      if (control[1] === "cards") {
        scripted.set(control[2], [...(input.outcomes ?? [])]);
        return json(200, { payment_method: control[2], outcomes: scripted.get(control[2]) });
      }
      const paid = pay(control[2], input.payment_method ?? "pm_card_visa");
      return paid ? json(200, paid) : stripeError(res, 404, "invalid_request_error", `No such checkout session: '${control[2]}'`);
    }
    const lists = { "/v1/checkout/sessions": sessions, "/v1/payment_intents": intents, "/v1/events": events };
    if (req.method === "GET" && lists[url.pathname]) {
      if (!(req.headers.authorization ?? "").startsWith("Bearer sk_")) return stripeError(res, 401, "invalid_request_error", "Invalid API Key provided.");
      calls.push({ method: "GET", path: url.pathname, idempotency_key: null, params: Object.fromEntries(url.searchParams), outcome: "listed" });
      // types[]=a&types[]=b, or types[0]=a&types[1]=b as the stripe package sends them.
      const types = [...url.searchParams.entries()].filter(([k]) => /^types\[\d*\]$/.test(k)).map(([, v]) => v);
      const keep = url.pathname === "/v1/events" && types.length ? (e) => types.includes(e.type) : undefined;
      return json(200, list(lists[url.pathname], url, url.pathname, keep));
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
  const prefix = name.replace(/[[\]]/g, "\\$&");
  for (const [k, v] of Object.entries(params)) {
    const m = k.match(new RegExp(`^${prefix}\\[([^\\]]+)\\]$`));
    if (m) out[m[1]] = v;
  }
  return out;
}
