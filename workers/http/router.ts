import { OpenAPIHono } from "@hono/zod-openapi";
import type { Env } from "../env";
import type { AuthVariables } from "./auth";

export type AppEnv = { Bindings: Env; Variables: AuthVariables };

/** A router that collects the OpenAPI document; routes are mounted on it with serve(). */
export function newRouter() {
  return new OpenAPIHono<AppEnv>();
}
