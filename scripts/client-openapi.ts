// Writes client/openapi.json: the OpenAPI 3.1 document the app serves at /openapi.json, generated from
// its zod schemas. `npm run client:generate` runs this, then openapi-typescript for client/src/schema.d.ts.
// test/workers/client-schema.test.ts fails when the committed document drifts from the app's.
import { writeFileSync } from "node:fs";
import { createApp } from "../workers/app";

const res = await createApp().request("/openapi.json");
if (!res.ok) throw new Error(`GET /openapi.json: ${res.status}`);
const doc = await res.json();
writeFileSync(new URL("../client/openapi.json", import.meta.url), `${JSON.stringify(doc, null, 2)}\n`);
console.log("wrote client/openapi.json");
