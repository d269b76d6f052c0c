// @credence/client: a typed client for the Credence prepaid credits API. Web platform APIs only, so it
// runs in Workers, Node 20+, Deno and Bun.
export { Credence } from "./client.js";
export type * from "./client.js";
export { HttpClient, parseRetryAfter, type CallOptions, type CredenceOptions, type FetchLike, type RequestOptions } from "./http.js";
export { PageIterator, type Page } from "./pagination.js";
export type { ItemOf, QueryParams, RequestBody, ResponseBody, Schemas, components, paths } from "./types.js";
export * from "./errors.js";
export { verifyCredenceSignature, parseCredenceSignature, credenceSignature, type VerifyOptions } from "./verify-signature.js";
export { withCredits, type RunContext, type RunOutcome, type Usage, type WithCreditsOptions, type WithCreditsResult } from "./with-credits.js";
export { streamWithCredits, type MeteredStream, type StreamSettlement, type StreamWithCreditsOptions } from "./with-credits-stream.js";
