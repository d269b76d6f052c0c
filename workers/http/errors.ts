// One error shape for every answer: {"error": {"type", "message", ...details}} with the right status.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ZodError } from "zod";

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly type: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    /** Extra response headers, e.g. Retry-After on a 429. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export function errorBody(type: string, message: string, details: Record<string, unknown> = {}) {
  return { error: { type, message, ...details } };
}

/** The first problem of a failed validation, naming the field as a dotted path. */
export function validationError(error: ZodError, where: string): ApiError {
  const issue = error.issues[0];
  if (!issue) return new ApiError(400, "invalid_request", `Invalid ${where}.`);
  if (issue.code === "unrecognized_keys") {
    const field = [...issue.path, issue.keys[0]].join(".");
    return new ApiError(400, "invalid_request", `Unknown field '${field}'.`, { field });
  }
  const field = issue.path.join(".") || where;
  return new ApiError(400, "invalid_request", `${field}: ${issue.message}`, { field });
}

export function handleError(err: Error, c: Context): Response {
  if (err instanceof ApiError) return c.json(errorBody(err.type, err.message, err.details), err.status, err.headers);
  if (err instanceof HTTPException) {
    return c.json(errorBody("invalid_request", err.message), err.status as ContentfulStatusCode);
  }
  console.error("unhandled error", err);
  return c.json(errorBody("internal_error", "Something went wrong on our side; nothing was charged twice. Retry with the same Idempotency-Key."), 500);
}
