// Expected instants are written out by hand (and were checked against the system tz database with
// `TZ=… date`), never computed with the code under test.

import { describe, expect, it } from "vitest";
import { boundaryAfter, dayKey, nextBoundary, startOfDay } from "../../durable-objects/ledger/calendar";

const at = (isoString: string) => Date.parse(isoString);
const iso = (ms: number) => new Date(ms).toISOString();
const HOUR = 3_600_000;

describe("calendar in UTC (no time zone set)", () => {
  it("a day ends at the next UTC midnight", () => {
    expect(iso(nextBoundary(at("2026-11-24T12:00:00.000Z"), "day", null))).toBe("2026-11-25T00:00:00.000Z");
  });

  it("a week ends at the next Monday 00:00", () => {
    // 2026-11-24 is a Tuesday.
    expect(iso(nextBoundary(at("2026-11-24T12:00:00.000Z"), "week", null))).toBe("2026-11-30T00:00:00.000Z");
  });

  it("from a Sunday, the week ends the next day", () => {
    expect(iso(nextBoundary(at("2026-11-29T23:59:59.999Z"), "week", null))).toBe("2026-11-30T00:00:00.000Z");
  });

  it("a month ends on the 1st of the next month", () => {
    expect(iso(nextBoundary(at("2026-11-24T12:00:00.000Z"), "month", null))).toBe("2026-12-01T00:00:00.000Z");
  });

  it("a boundary is strictly after the instant: exactly at midnight, Monday 00:00 or the 1st gives the next one", () => {
    expect(iso(nextBoundary(at("2026-11-25T00:00:00.000Z"), "day", null))).toBe("2026-11-26T00:00:00.000Z");
    expect(iso(nextBoundary(at("2026-11-30T00:00:00.000Z"), "week", null))).toBe("2026-12-07T00:00:00.000Z");
    expect(iso(nextBoundary(at("2026-12-01T00:00:00.000Z"), "month", null))).toBe("2027-01-01T00:00:00.000Z");
  });

  it("Jan 31 is followed by Feb 1, for a day and for a month", () => {
    expect(iso(nextBoundary(at("2026-01-31T12:00:00.000Z"), "day", null))).toBe("2026-02-01T00:00:00.000Z");
    expect(iso(nextBoundary(at("2026-01-31T12:00:00.000Z"), "month", null))).toBe("2026-02-01T00:00:00.000Z");
  });

  it("Feb 28 of a common year is followed by Mar 1", () => {
    expect(iso(nextBoundary(at("2026-02-28T08:00:00.000Z"), "day", null))).toBe("2026-03-01T00:00:00.000Z");
  });

  it("December rolls into January of the next year (day, week and month)", () => {
    expect(iso(nextBoundary(at("2026-12-31T23:59:59.999Z"), "day", null))).toBe("2027-01-01T00:00:00.000Z");
    expect(iso(nextBoundary(at("2026-12-15T00:00:00.000Z"), "month", null))).toBe("2027-01-01T00:00:00.000Z");
    // 2026-12-31 is a Thursday; the next Monday is 2027-01-04.
    expect(iso(nextBoundary(at("2026-12-31T10:00:00.000Z"), "week", null))).toBe("2027-01-04T00:00:00.000Z");
  });

  it("dayKey and startOfDay are the UTC date and its midnight", () => {
    expect(dayKey(at("2026-11-24T23:59:59.999Z"), null)).toBe("2026-11-24");
    expect(dayKey(at("2026-11-25T00:00:00.000Z"), null)).toBe("2026-11-25");
    expect(iso(startOfDay("2026-11-24", null))).toBe("2026-11-24T00:00:00.000Z");
  });
});

describe("calendar in Europe/Paris across daylight saving", () => {
  const tz = "Europe/Paris";

  it("the spring-forward day (2026-03-29) starts at local midnight and lasts 23 hours", () => {
    expect(iso(startOfDay("2026-03-29", tz))).toBe("2026-03-28T23:00:00.000Z"); // 00:00 CET (+01)
    expect(iso(startOfDay("2026-03-30", tz))).toBe("2026-03-29T22:00:00.000Z"); // 00:00 CEST (+02)
    expect(startOfDay("2026-03-30", tz) - startOfDay("2026-03-29", tz)).toBe(23 * HOUR);
  });

  it("during the spring-forward day, the next day boundary is the next local midnight", () => {
    // 12:00 CEST, after the jump.
    expect(iso(nextBoundary(at("2026-03-29T10:00:00.000Z"), "day", tz))).toBe("2026-03-29T22:00:00.000Z");
    // 01:30 CET, before the jump.
    expect(iso(nextBoundary(at("2026-03-29T00:30:00.000Z"), "day", tz))).toBe("2026-03-29T22:00:00.000Z");
  });

  it("the local date changes at local midnight, not at UTC midnight", () => {
    expect(dayKey(at("2026-03-28T22:59:59.999Z"), tz)).toBe("2026-03-28");
    expect(dayKey(at("2026-03-28T23:00:00.000Z"), tz)).toBe("2026-03-29");
  });

  it("the fall-back day (2026-10-25) starts at local midnight and lasts 25 hours", () => {
    expect(iso(startOfDay("2026-10-25", tz))).toBe("2026-10-24T22:00:00.000Z"); // 00:00 CEST (+02)
    expect(iso(startOfDay("2026-10-26", tz))).toBe("2026-10-25T23:00:00.000Z"); // 00:00 CET (+01)
    expect(startOfDay("2026-10-26", tz) - startOfDay("2026-10-25", tz)).toBe(25 * HOUR);
  });

  it("both passes through the repeated hour (02:30 CEST, then 02:30 CET) end at the same midnight", () => {
    expect(iso(nextBoundary(at("2026-10-25T00:30:00.000Z"), "day", tz))).toBe("2026-10-25T23:00:00.000Z");
    expect(iso(nextBoundary(at("2026-10-25T01:30:00.000Z"), "day", tz))).toBe("2026-10-25T23:00:00.000Z");
  });

  it("a week from the spring-forward Sunday ends on Monday 00:00 CEST", () => {
    expect(iso(nextBoundary(at("2026-03-29T10:00:00.000Z"), "week", tz))).toBe("2026-03-29T22:00:00.000Z");
  });

  it("months end at local midnight on the 1st, in whichever offset is then in force", () => {
    expect(iso(nextBoundary(at("2026-03-15T12:00:00.000Z"), "month", tz))).toBe("2026-03-31T22:00:00.000Z"); // Apr 1, CEST
    expect(iso(nextBoundary(at("2026-10-15T12:00:00.000Z"), "month", tz))).toBe("2026-10-31T23:00:00.000Z"); // Nov 1, CET
  });

  it("late on Mar 31 UTC is already April in Paris", () => {
    expect(iso(nextBoundary(at("2026-03-31T22:30:00.000Z"), "month", tz))).toBe("2026-04-30T22:00:00.000Z");
  });
});

describe("calendar in America/Santiago, where the clocks change at midnight", () => {
  const tz = "America/Santiago";

  it("on 2026-09-06 midnight does not exist: the day starts at 01:00 local (04:00Z)", () => {
    expect(iso(startOfDay("2026-09-06", tz))).toBe("2026-09-06T04:00:00.000Z");
    expect(dayKey(at("2026-09-06T03:59:59.999Z"), tz)).toBe("2026-09-05");
    expect(dayKey(at("2026-09-06T04:00:00.000Z"), tz)).toBe("2026-09-06");
  });

  it("the day before that jump ends when the jump happens, and the jump day lasts 23 hours", () => {
    expect(iso(nextBoundary(at("2026-09-05T20:00:00.000Z"), "day", tz))).toBe("2026-09-06T04:00:00.000Z");
    expect(iso(nextBoundary(at("2026-09-06T04:00:00.000Z"), "day", tz))).toBe("2026-09-07T03:00:00.000Z");
  });

  it("a week from that Sunday ends on Monday 00:00 in the new offset (−03)", () => {
    expect(iso(nextBoundary(at("2026-09-06T12:00:00.000Z"), "week", tz))).toBe("2026-09-07T03:00:00.000Z");
  });

  it("on 2026-04-05 midnight falls back to 23:00 of Apr 4: Apr 5 starts an hour later, at 04:00Z", () => {
    expect(iso(startOfDay("2026-04-05", tz))).toBe("2026-04-05T04:00:00.000Z");
    expect(dayKey(at("2026-04-05T03:59:59.999Z"), tz)).toBe("2026-04-04");
  });

  it("both passes through 23:30 on Apr 4 end at the same boundary, making Apr 4 25 hours long", () => {
    expect(iso(nextBoundary(at("2026-04-05T02:30:00.000Z"), "day", tz))).toBe("2026-04-05T04:00:00.000Z"); // 23:30 −03
    expect(iso(nextBoundary(at("2026-04-05T03:30:00.000Z"), "day", tz))).toBe("2026-04-05T04:00:00.000Z"); // 23:30 −04
    expect(iso(startOfDay("2026-04-04", tz))).toBe("2026-04-04T03:00:00.000Z");
  });
});

describe("calendar in zones far from UTC", () => {
  // 2026-11-24T12:00Z is 17:30 in Kolkata, 02:00 next day in Kiritimati, 01:00 in Pago Pago.
  const t = at("2026-11-24T12:00:00.000Z");

  it("Asia/Kolkata (+05:30): half-hour boundaries", () => {
    const tz = "Asia/Kolkata";
    expect(iso(startOfDay("2026-11-24", tz))).toBe("2026-11-23T18:30:00.000Z");
    expect(iso(nextBoundary(t, "day", tz))).toBe("2026-11-24T18:30:00.000Z");
    expect(iso(nextBoundary(t, "week", tz))).toBe("2026-11-29T18:30:00.000Z");
    expect(iso(nextBoundary(t, "month", tz))).toBe("2026-11-30T18:30:00.000Z");
  });

  it("Pacific/Kiritimati (+14): already the next local day", () => {
    const tz = "Pacific/Kiritimati";
    expect(dayKey(t, tz)).toBe("2026-11-25");
    expect(iso(startOfDay("2026-11-24", tz))).toBe("2026-11-23T10:00:00.000Z");
    expect(iso(nextBoundary(t, "day", tz))).toBe("2026-11-25T10:00:00.000Z");
    expect(iso(nextBoundary(t, "week", tz))).toBe("2026-11-29T10:00:00.000Z");
    expect(iso(nextBoundary(t, "month", tz))).toBe("2026-11-30T10:00:00.000Z");
  });

  it("Pacific/Pago_Pago (−11): still early on the same local day", () => {
    const tz = "Pacific/Pago_Pago";
    expect(dayKey(t, tz)).toBe("2026-11-24");
    expect(iso(startOfDay("2026-11-24", tz))).toBe("2026-11-24T11:00:00.000Z");
    expect(iso(nextBoundary(t, "day", tz))).toBe("2026-11-25T11:00:00.000Z");
    expect(iso(nextBoundary(t, "week", tz))).toBe("2026-11-30T11:00:00.000Z");
    expect(iso(nextBoundary(t, "month", tz))).toBe("2026-12-01T11:00:00.000Z");
  });
});

describe("boundaryAfter", () => {
  const t = at("2026-11-24T12:00:00.000Z");

  it("count 1 is the next boundary", () => {
    expect(iso(boundaryAfter(t, "day", null, 1))).toBe("2026-11-25T00:00:00.000Z");
  });

  it("count 3 is three boundaries on, in UTC", () => {
    expect(iso(boundaryAfter(t, "day", null, 3))).toBe("2026-11-27T00:00:00.000Z");
    expect(iso(boundaryAfter(t, "week", null, 3))).toBe("2026-12-14T00:00:00.000Z");
    expect(iso(boundaryAfter(t, "month", null, 3))).toBe("2027-02-01T00:00:00.000Z");
  });

  it("count 3 across the spring-forward in Paris lands on local midnight", () => {
    // Mar 29 00:00 CET, Mar 30 00:00 CEST, Mar 31 00:00 CEST.
    expect(iso(boundaryAfter(at("2026-03-28T12:00:00.000Z"), "day", "Europe/Paris", 3))).toBe("2026-03-30T22:00:00.000Z");
    // Feb 1 and Mar 1 (CET), then Apr 1 (CEST).
    expect(iso(boundaryAfter(at("2026-01-15T12:00:00.000Z"), "month", "Europe/Paris", 3))).toBe("2026-03-31T22:00:00.000Z");
  });
});
