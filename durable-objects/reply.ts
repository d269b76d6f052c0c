// What the object answers over RPC: an HTTP status and a JSON body, so the exact answer can be stored
// under an idempotency key and replayed byte for byte.

import type { LedgerError } from "./ledger/types";

export interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/**
 * The answer as it crosses RPC: the body already serialized (the Worker sends it as is, and the
 * object stores it as is under the idempotency key), plus what the response headers need.
 */
export interface WireReply {
  status: number;
  json: string;
  cost: number | null;
  balance: number | null;
  /** True when this is the stored answer to an earlier request with the same Idempotency-Key. */
  replayed: boolean;
}

export function toWire(reply: Reply): WireReply {
  const { cost, balance } = reply.body;
  return {
    status: reply.status,
    json: JSON.stringify(reply.body),
    cost: typeof cost === "number" ? cost : null,
    balance: typeof balance === "number" ? balance : null,
    replayed: false,
  };
}

export function errorReply(status: number, type: string, message: string, details: Record<string, unknown> = {}): Reply {
  return { status, body: { error: { type, message, ...details } } };
}

const STATUS_OF: Record<LedgerError["type"], number> = {
  spending_blocked: 402,
  insufficient_credits: 402,
  spending_limit_exceeded: 402,
  account_in_debt: 402,
  hold_not_active: 409,
  hold_not_found: 404,
  zero_cost: 400,
  invalid_request: 400,
  unknown_charge: 409,
};

export function ledgerErrorReply(error: LedgerError): Reply {
  return errorReply(STATUS_OF[error.type], error.type, error.message, error.details);
}

export const accountNotFound = (id: string): Reply =>
  errorReply(404, "account_not_found", `No account '${id}'. Create it with PUT /v1/accounts/${id} first.`);

/**
 * Answers that executed nothing are not kept, so a corrected retry with the same key runs (API.md).
 * 404 is among them here: the request never reached a ledger, and keeping it would poison the key
 * for an account created a moment later.
 */
export function isKept(status: number): boolean {
  return ![400, 401, 403, 404, 413, 429].includes(status) && status < 500;
}
