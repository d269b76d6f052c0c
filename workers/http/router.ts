import { OpenAPIHono } from "@hono/zod-openapi";
import type { Env } from "../env";
import type { AuthVariables } from "./auth";
import { validationError } from "./errors";

export type AppEnv = { Bindings: Env; Variables: AuthVariables };

/** A router whose validation failures become our 400 error naming the field. */
export function newRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target);
    },
  });
}
