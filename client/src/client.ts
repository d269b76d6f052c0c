// The Credence client: one method per API route, typed from the server's own OpenAPI document.
import { HttpClient, type CallOptions, type CredenceOptions, type Query } from "./http.js";
import { PageIterator, type Page } from "./pagination.js";
import type { ItemOf, QueryParams, RequestBody, ResponseBody } from "./types.js";

const seg = (value: string) => encodeURIComponent(value);
const acct = (id: string) => `/v1/accounts/${seg(id)}`;

type EntriesFilters = Omit<QueryParams<"/v1/accounts/{id}/entries", "get">, "cursor">;
type PurchasesFilters = Omit<QueryParams<"/v1/accounts/{id}/purchases", "get">, "cursor">;
type DeliveriesFilters = Omit<QueryParams<"/v1/webhook-endpoints/{id}/deliveries", "get">, "cursor">;

export type Account = ResponseBody<"/v1/accounts/{id}", "get">;
export type AccountUpdate = RequestBody<"/v1/accounts/{id}", "put">;
export type QuoteRequest = RequestBody<"/v1/accounts/{id}/quote", "post">;
export type Quote = ResponseBody<"/v1/accounts/{id}/quote", "post">;
export type DebitRequest = RequestBody<"/v1/accounts/{id}/debits", "post">;
export type Debit = ResponseBody<"/v1/accounts/{id}/debits", "post">;
export type HoldRequest = RequestBody<"/v1/accounts/{id}/holds", "post">;
export type Hold = ResponseBody<"/v1/accounts/{id}/holds", "post">;
export type CaptureRequest = RequestBody<"/v1/accounts/{id}/holds/{hold_id}/capture", "post">;
export type Capture = ResponseBody<"/v1/accounts/{id}/holds/{hold_id}/capture", "post">;
export type Release = ResponseBody<"/v1/accounts/{id}/holds/{hold_id}/release", "post">;
export type GrantRequest = RequestBody<"/v1/accounts/{id}/grants", "post">;
export type Grant = ResponseBody<"/v1/accounts/{id}/grants", "post">;
export type Entry = ItemOf<ResponseBody<"/v1/accounts/{id}/entries", "get">>;
export type Purchase = ItemOf<ResponseBody<"/v1/accounts/{id}/purchases", "get">>;
export type Delivery = ItemOf<ResponseBody<"/v1/webhook-endpoints/{id}/deliveries", "get">>;

export class Credence {
  readonly http: HttpClient;

  constructor(options: CredenceOptions) {
    this.http = new HttpClient(options);
  }

  /** A list route's items, page after page (its answer is {data, next_cursor}). */
  private paged<T>(path: string, filters: Query, options: CallOptions): PageIterator<T> {
    return new PageIterator<T>((cursor) => this.http.request<Page<T>>("GET", path, { ...options, query: { ...filters, cursor } }));
  }

  readonly accounts = {
    /** GET /v1/accounts/{id} */
    get: (id: string, options: CallOptions = {}) =>
      this.http.request<Account>("GET", acct(id), options),
    /** PUT /v1/accounts/{id}: creates (201) or updates (200) the account. */
    upsert: (id: string, body: AccountUpdate = {} as AccountUpdate, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/accounts/{id}", "put">>("PUT", acct(id), { ...options, body }),
    /** PUT /v1/accounts/{id}/block (admin) */
    block: (id: string, body: RequestBody<"/v1/accounts/{id}/block", "put">, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/accounts/{id}/block", "put">>("PUT", `${acct(id)}/block`, { ...options, body }),
  };

  /** POST /v1/accounts/{id}/quote: what an operation would cost, and whether the account can afford it. */
  quote(accountId: string, body: QuoteRequest, options: CallOptions = {}) {
    return this.http.request<Quote>("POST", `${acct(accountId)}/quote`, { ...options, body });
  }

  readonly debits = {
    /** POST /v1/accounts/{id}/debits (402 → InsufficientCreditsError, SpendingLimitError, …) */
    create: (accountId: string, body: DebitRequest, options: CallOptions = {}) =>
      this.http.request<Debit>("POST", `${acct(accountId)}/debits`, { ...options, body }),
  };

  readonly holds = {
    /** POST /v1/accounts/{id}/holds */
    create: (accountId: string, body: HoldRequest, options: CallOptions = {}) =>
      this.http.request<Hold>("POST", `${acct(accountId)}/holds`, { ...options, body }),
    /** POST /v1/accounts/{id}/holds/{hold_id}/capture */
    capture: (accountId: string, holdId: string, body: CaptureRequest, options: CallOptions = {}) =>
      this.http.request<Capture>("POST", `${acct(accountId)}/holds/${seg(holdId)}/capture`, { ...options, body }),
    /** POST /v1/accounts/{id}/holds/{hold_id}/release */
    release: (accountId: string, holdId: string, options: CallOptions = {}) =>
      this.http.request<Release>("POST", `${acct(accountId)}/holds/${seg(holdId)}/release`, options),
  };

  readonly grants = {
    /** POST /v1/accounts/{id}/grants (admin) */
    create: (accountId: string, body: GrantRequest, options: CallOptions = {}) =>
      this.http.request<Grant>("POST", `${acct(accountId)}/grants`, { ...options, body }),
  };

  readonly entries = {
    /** GET /v1/accounts/{id}/entries, newest first: `for await (const entry of client.entries.list(id))`. */
    list: (accountId: string, filters: EntriesFilters = {}, options: CallOptions = {}) =>
      this.paged<Entry>(`${acct(accountId)}/entries`, filters, options),
  };

  readonly usage = {
    /** GET /v1/accounts/{id}/usage */
    get: (accountId: string, query: QueryParams<"/v1/accounts/{id}/usage", "get"> = {}, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/accounts/{id}/usage", "get">>("GET", `${acct(accountId)}/usage`, { ...options, query }),
  };

  readonly limits = {
    /** PUT /v1/accounts/{id}/limits */
    set: (accountId: string, body: RequestBody<"/v1/accounts/{id}/limits", "put">, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/accounts/{id}/limits", "put">>("PUT", `${acct(accountId)}/limits`, { ...options, body }),
  };

  readonly alerts = {
    /** PUT /v1/accounts/{id}/alerts */
    set: (accountId: string, body: RequestBody<"/v1/accounts/{id}/alerts", "put">, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/accounts/{id}/alerts", "put">>("PUT", `${acct(accountId)}/alerts`, { ...options, body }),
  };

  readonly autoRecharge = {
    /** PUT /v1/accounts/{id}/auto-recharge */
    set: (accountId: string, body: RequestBody<"/v1/accounts/{id}/auto-recharge", "put">, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/accounts/{id}/auto-recharge", "put">>("PUT", `${acct(accountId)}/auto-recharge`, { ...options, body }),
  };

  readonly allowance = {
    /** PUT /v1/accounts/{id}/allowance (null ends it at the next boundary) */
    set: (accountId: string, body: RequestBody<"/v1/accounts/{id}/allowance", "put">, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/accounts/{id}/allowance", "put">>("PUT", `${acct(accountId)}/allowance`, { ...options, body }),
  };

  readonly prices = {
    /** GET /v1/prices */
    list: (options: CallOptions = {}) => this.http.request<ResponseBody<"/v1/prices", "get">>("GET", "/v1/prices", options),
    /** PUT /v1/prices/{operation} (admin) */
    set: (operation: string, body: RequestBody<"/v1/prices/{operation}", "put">, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/prices/{operation}", "put">>("PUT", `/v1/prices/${seg(operation)}`, { ...options, body }),
  };

  readonly packages = {
    /** GET /v1/packages */
    list: (options: CallOptions = {}) => this.http.request<ResponseBody<"/v1/packages", "get">>("GET", "/v1/packages", options),
    /** PUT /v1/packages/{id} (admin) */
    set: (id: string, body: RequestBody<"/v1/packages/{id}", "put">, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/packages/{id}", "put">>("PUT", `/v1/packages/${seg(id)}`, { ...options, body }),
  };

  readonly checkoutSessions = {
    /** POST /v1/accounts/{id}/checkout-sessions: a Stripe Checkout link for a package. */
    create: (accountId: string, body: RequestBody<"/v1/accounts/{id}/checkout-sessions", "post">, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/accounts/{id}/checkout-sessions", "post">>("POST", `${acct(accountId)}/checkout-sessions`, { ...options, body }),
  };

  readonly purchases = {
    /** GET /v1/accounts/{id}/purchases, following next_cursor. */
    list: (accountId: string, filters: PurchasesFilters = {}, options: CallOptions = {}) =>
      this.paged<Purchase>(`${acct(accountId)}/purchases`, filters, options),
  };

  readonly portalSessions = {
    /** POST /v1/accounts/{id}/portal-sessions: a one-time link to the hosted page, valid 1 hour. */
    create: (accountId: string, body: RequestBody<"/v1/accounts/{id}/portal-sessions", "post"> = {}, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/accounts/{id}/portal-sessions", "post">>("POST", `${acct(accountId)}/portal-sessions`, { ...options, body }),
  };

  readonly apiKeys = {
    /** POST /v1/api-keys (admin): the key is in this answer only. */
    create: (body: RequestBody<"/v1/api-keys", "post">, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/api-keys", "post">>("POST", "/v1/api-keys", { ...options, body }),
    /** GET /v1/api-keys (admin) */
    list: (options: CallOptions = {}) => this.http.request<ResponseBody<"/v1/api-keys", "get">>("GET", "/v1/api-keys", options),
    /** DELETE /v1/api-keys/{id} (admin) */
    revoke: (id: string, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/api-keys/{id}", "delete">>("DELETE", `/v1/api-keys/${seg(id)}`, options),
  };

  readonly webhookEndpoints = {
    /** POST /v1/webhook-endpoints (admin): the whsec_ secret is in this answer only. */
    create: (body: RequestBody<"/v1/webhook-endpoints", "post">, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/webhook-endpoints", "post">>("POST", "/v1/webhook-endpoints", { ...options, body }),
    /** GET /v1/webhook-endpoints (admin) */
    list: (options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/webhook-endpoints", "get">>("GET", "/v1/webhook-endpoints", options),
    /** DELETE /v1/webhook-endpoints/{id} (admin) */
    disable: (id: string, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/webhook-endpoints/{id}", "delete">>("DELETE", `/v1/webhook-endpoints/${seg(id)}`, options),
    /** POST /v1/webhook-endpoints/{id}/rotate-secret (admin) */
    rotateSecret: (id: string, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/webhook-endpoints/{id}/rotate-secret", "post">>("POST", `/v1/webhook-endpoints/${seg(id)}/rotate-secret`, options),
    /** GET /v1/webhook-endpoints/{id}/deliveries (admin), following next_cursor. */
    deliveries: (id: string, filters: DeliveriesFilters = {}, options: CallOptions = {}) =>
      this.paged<Delivery>(`/v1/webhook-endpoints/${seg(id)}/deliveries`, filters, options),
    /** POST /v1/webhook-endpoints/{id}/deliveries/{event_id}/retry (admin) */
    retry: (id: string, eventId: string, options: CallOptions = {}) =>
      this.http.request<ResponseBody<"/v1/webhook-endpoints/{id}/deliveries/{event_id}/retry", "post">>(
        "POST",
        `/v1/webhook-endpoints/${seg(id)}/deliveries/${seg(eventId)}/retry`,
        options,
      ),
  };

  readonly admin = {
    /** GET /v1/admin/health (admin) */
    health: (options: CallOptions = {}) => this.http.request<ResponseBody<"/v1/admin/health", "get">>("GET", "/v1/admin/health", options),
  };
}
