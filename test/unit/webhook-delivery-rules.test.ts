// The outgoing webhooks' small rules: which secrets sign, and the retry schedule over 3 days.
import { describe, expect, it } from "vitest";
import { RETRY_WINDOW_MS, retryDelaySeconds } from "../../workers/webhooks/deliver";
import { ROTATION_OVERLAP_MS, signingSecrets, subscribesTo } from "../../workers/webhooks/endpoints";

describe("signing secrets", () => {
  it("signs with the new secret, and with the previous one only until its overlap ends", () => {
    const at = 1_000_000;
    const row = { secret: "whsec_new", previous_secret: "whsec_old", previous_secret_expires_at: at + ROTATION_OVERLAP_MS };
    expect(signingSecrets(row, at)).toEqual(["whsec_new", "whsec_old"]);
    expect(signingSecrets(row, at + ROTATION_OVERLAP_MS)).toEqual(["whsec_new"]);
    expect(signingSecrets({ ...row, previous_secret: null }, at)).toEqual(["whsec_new"]);
  });

  it("subscriptions: a type listed, or everything with *", () => {
    expect(subscribesTo({ events: '["balance.low"]' }, "balance.low")).toBe(true);
    expect(subscribesTo({ events: '["balance.low"]' }, "hold.expired")).toBe(false);
    expect(subscribesTo({ events: '["*"]' }, "hold.expired")).toBe(true);
  });
});

describe("the retry schedule", () => {
  it("doubles from 30 s up to 4 h, and covers the 3-day window in far fewer attempts than the Queue allows", () => {
    expect([1, 2, 3, 4].map((n) => retryDelaySeconds(30, n))).toEqual([30, 60, 120, 240]);
    expect(retryDelaySeconds(30, 40)).toBe(4 * 3600);
    let elapsed = 0;
    let attempts = 0;
    while (elapsed < RETRY_WINDOW_MS) elapsed += retryDelaySeconds(30, ++attempts) * 1000;
    expect(attempts).toBeLessThan(40);
    expect(attempts).toBeGreaterThan(20);
  });
});
