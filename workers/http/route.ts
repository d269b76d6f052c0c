// Mounts a documented route. The OpenAPI document is registered from the route's zod schemas, and the
// same schemas validate the request here, synchronously and once each: @hono/zod-openapi's own
// validators parse asynchronously and rebuild every header into an object per request, which the
// benchmark measured as the largest single cost of a debit outside the object.
import type { RouteConfig } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { z } from "zod";
import { ApiError, validationError } from "./errors";
import type { AppEnv } from "./router";
import type { newRouter } from "./router";

type JsonBody<B extends z.ZodType> = { required?: boolean; content: { "application/json": { schema: B } } };

interface Spec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> extends Omit<RouteConfig, "request" | "middleware"> {
  middleware: readonly MiddlewareHandler<AppEnv>[];
  request?: { params?: P; query?: Q; headers?: z.ZodType; body?: JsonBody<B> };
}

export interface Input<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.output<T> {
  if (!schema) return undefined as z.output<T>;
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}

/**
 * Names that JavaScript objects treat specially. zod's records skip `__proto__` silently (a quantity
 * of that name would vanish and the charge with it), and the others shadow built-ins: refused, by
 * name, wherever they appear as a key.
 */
const RESERVED_NAMES = ["__proto__", "constructor", "prototype"];

function reservedKey(value: unknown, path: string[]): string[] | null {
  if (typeof value !== "object" || value === null) return null;
  for (const key of Object.keys(value)) {
    if (RESERVED_NAMES.includes(key)) return [...path, key];
    const found = reservedKey((value as Record<string, unknown>)[key], [...path, key]);
    if (found) return found;
  }
  return null;
}

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text === "") return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(400, "invalid_json", "The request body is not valid JSON.");
  }
  // The walk runs only for the rare body that spells a reserved name, or could spell one in escapes.
  const suspect = text.includes("\\") || RESERVED_NAMES.some((name) => text.includes(name));
  const found = suspect ? reservedKey(body, []) : null;
  if (found) {
    const field = found.join(".");
    throw new ApiError(400, "invalid_request", `'${found.at(-1)}' is a reserved name and cannot be used as a key (${field}).`, { field });
  }
  return body;
}

export function serve<P extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined, B extends z.ZodType = z.ZodUndefined>(
  router: ReturnType<typeof newRouter>,
  spec: Spec<P, Q, B>,
  handler: (c: Context<AppEnv>, input: Input<P, Q, B>) => Promise<Response> | Response,
): void {
  const { middleware, ...doc } = spec;
  router.openAPIRegistry.registerPath(doc as RouteConfig);
  const path = spec.path.replace(/\{(\w+)\}/g, ":$1");
  const request = spec.request;
  router.on([spec.method.toUpperCase()], [path], ...middleware, async (c) => {
    const input: Input<P, Q, B> = {
      params: parse(request?.params, c.req.param(), "params"),
      query: parse(request?.query, request?.query ? c.req.query() : undefined, "query"),
      body: parse(request?.body?.content["application/json"].schema, request?.body ? await readJson(c) : undefined, "body"),
    };
    return handler(c, input);
  });
}
