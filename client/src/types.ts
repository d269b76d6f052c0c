// Request and answer types, derived from the generated schema.d.ts (itself generated from the server's
// OpenAPI document, which is generated from its zod schemas): nothing here is written by hand.
import type { components, paths } from "./schema.js";

export type { components, paths };
export type Schemas = components["schemas"];

type Method = "get" | "put" | "post" | "delete";
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type JsonOf<R> = R extends { content: { "application/json": infer B } } ? B : undefined;

/** The JSON body a route takes. */
export type RequestBody<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { requestBody?: infer R } ? JsonOf<NonNullable<R>> : never;

/** The JSON body of a route's success answer (200, 201 or 202). */
export type ResponseBody<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { responses: infer R } ? JsonOf<R[Extract<keyof R, 200 | 201 | 202>]> : never;

/** A route's query parameters. */
export type QueryParams<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

/** The items of a list answer ({data: [...]}). */
export type ItemOf<T> = T extends { data: (infer I)[] } ? I : never;
