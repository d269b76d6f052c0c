// The single source is the typed client's module (client/src/verify-signature.ts), so that apps and the
// Worker verify and sign with the same code; this re-export keeps the Worker's imports working.
export * from "../../client/src/verify-signature";
