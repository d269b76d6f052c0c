export * from "./errors.js";
export { verifyCredenceSignature, parseCredenceSignature, credenceSignature, type VerifyOptions } from "./verify-signature.js";
