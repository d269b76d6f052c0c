import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import committed from "../../client/openapi.json";

// The client's types are generated from client/openapi.json (openapi-typescript → client/src/schema.d.ts),
// which is generated from the app's zod schemas: never hand-copied. This fails when the committed
// document no longer matches what the app serves, i.e. the client's types have drifted from the API.
describe("client/openapi.json", () => {
  it("is the OpenAPI document the app generates now", async () => {
    const res = await exports.default.fetch("https://credence.test/openapi.json");
    expect(res.status).toBe(200);
    const current = await res.json();
    expect(
      current,
      "client/openapi.json is out of date with the app's zod schemas: run `npm run client:generate` and commit client/openapi.json and client/src/schema.d.ts",
    ).toEqual(committed);
  });
});
