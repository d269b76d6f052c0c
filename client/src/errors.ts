// Typed errors from the API's one error shape: {"error": {"type", "message", ...details}}.

export interface ErrorBody {
  type: string;
  message: string;
  [detail: string]: unknown;
}

/** Any error answer from Credence (or a failure to reach it: status 0, type "connection_error"). */
export class CredenceError extends Error {
  override name = "CredenceError";
  /** The HTTP status; 0 when no answer arrived. */
  readonly status: number;
  /** The API's error type, e.g. "insufficient_credits". */
  readonly type: string;
  /** Everything in the error body besides type and message. */
  readonly details: Record<string, unknown>;
  /** The Idempotency-Key the request was sent with (POST only), to retry it by hand without charging twice. */
  readonly idempotencyKey: string | undefined;

  constructor(status: number, body: ErrorBody, options: { idempotencyKey?: string; cause?: unknown } = {}) {
    super(body.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.type = body.type;
    const { type: _type, message: _message, ...details } = body;
    this.details = details;
    this.idempotencyKey = options.idempotencyKey;
  }
}

/** The common shape of the 402 answers. */
export class PaymentRequiredError extends CredenceError {
  override name = "PaymentRequiredError";
  /** The credits the request needed. */
  readonly required: number;
  /** The credits that were available. */
  readonly available: number;
  constructor(status: number, body: ErrorBody, options?: { idempotencyKey?: string }) {
    super(status, body, options);
    this.required = Number(body.required ?? 0);
    this.available = Number(body.available ?? 0);
  }
}

/** 402 insufficient_credits: the amount is above `available`. */
export class InsufficientCreditsError extends PaymentRequiredError {
  override name = "InsufficientCreditsError";
}
/** 402 spending_limit_exceeded: a daily or monthly limit would be crossed. */
export class SpendingLimitError extends PaymentRequiredError {
  override name = "SpendingLimitError";
}
/** 402 spending_blocked: an open payment dispute or an operator's block. */
export class SpendingBlockedError extends PaymentRequiredError {
  override name = "SpendingBlockedError";
}
/** 402 account_in_debt: the balance is below 0. */
export class AccountInDebtError extends PaymentRequiredError {
  override name = "AccountInDebtError";
}
/** 409 idempotency_conflict: the key was already used with a different request. */
export class IdempotencyConflictError extends CredenceError {
  override name = "IdempotencyConflictError";
}
/** 409 hold_not_active: the hold was already captured, released or expired. */
export class HoldNotActiveError extends CredenceError {
  override name = "HoldNotActiveError";
}
/** 404: the account, hold, key, endpoint, package, … does not exist. */
export class NotFoundError extends CredenceError {
  override name = "NotFoundError";
}
/** 401: a missing or wrong API key. */
export class AuthenticationError extends CredenceError {
  override name = "AuthenticationError";
}
/** 403: the key lacks the scope this route needs. */
export class PermissionError extends CredenceError {
  override name = "PermissionError";
}
/** 429: too many requests; `retryAfter` in seconds, from the Retry-After header. */
export class RateLimitedError extends CredenceError {
  override name = "RateLimitedError";
  readonly retryAfter: number | undefined;
  constructor(status: number, body: ErrorBody, options: { idempotencyKey?: string; retryAfter?: number } = {}) {
    super(status, body, options);
    this.retryAfter = options.retryAfter;
  }
}
/** 400: the request is invalid; `field` names the offending field as a dotted path when known. */
export class ValidationError extends CredenceError {
  override name = "ValidationError";
  readonly field: string | undefined;
  constructor(status: number, body: ErrorBody, options?: { idempotencyKey?: string }) {
    super(status, body, options);
    this.field = typeof body.field === "string" ? body.field : undefined;
  }
}
/** No answer: a network error or a timeout, after every retry. */
export class ConnectionError extends CredenceError {
  override name = "ConnectionError";
}

/** The typed error for an error answer. */
export function errorFor(
  status: number,
  raw: unknown,
  options: { idempotencyKey?: string; retryAfter?: number } = {},
): CredenceError {
  const inner = (raw as { error?: unknown } | null)?.error;
  const body: ErrorBody =
    inner && typeof inner === "object" && typeof (inner as ErrorBody).type === "string"
      ? { ...(inner as ErrorBody), message: String((inner as ErrorBody).message ?? "") }
      : { type: status >= 500 ? "server_error" : "http_error", message: `HTTP ${status}` };
  switch (body.type) {
    case "insufficient_credits":
      return new InsufficientCreditsError(status, body, options);
    case "spending_limit_exceeded":
      return new SpendingLimitError(status, body, options);
    case "spending_blocked":
      return new SpendingBlockedError(status, body, options);
    case "account_in_debt":
      return new AccountInDebtError(status, body, options);
    case "idempotency_conflict":
      return new IdempotencyConflictError(status, body, options);
    case "hold_not_active":
      return new HoldNotActiveError(status, body, options);
  }
  if (status === 402) return new PaymentRequiredError(status, body, options);
  if (status === 404) return new NotFoundError(status, body, options);
  if (status === 401) return new AuthenticationError(status, body, options);
  if (status === 403) return new PermissionError(status, body, options);
  if (status === 429) return new RateLimitedError(status, body, options);
  if (status === 400) return new ValidationError(status, body, options);
  return new CredenceError(status, body, options);
}
