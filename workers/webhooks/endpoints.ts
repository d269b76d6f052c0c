// Webhook endpoints in D1: created with a secret shown once, listed without it, disabled (never
// deleted, so their delivery log stays readable), and rotated with a 24-hour overlap.
import { randomId } from "../../durable-objects/ids";
import { EVENT_TYPES, type EventType } from "../../durable-objects/ledger/types";
import { newSecret } from "./signature";

/** How long the previous secret still signs after a rotation. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000;

export type Subscription = EventType | "*";

export interface EndpointRow {
  id: string;
  url: string;
  events: string;
  description: string | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: number | null;
  status: "active" | "disabled";
  disabled_reason: string | null;
  disabled_at: number | null;
  failing_since: number | null;
  last_success_at: number | null;
  created_at: number;
  updated_at: number;
}

export const subscriptions = (row: Pick<EndpointRow, "events">): Subscription[] => JSON.parse(row.events) as Subscription[];

export function subscribesTo(row: Pick<EndpointRow, "events">, type: string): boolean {
  const events = subscriptions(row);
  return events.includes("*") || events.includes(type as EventType);
}

/** The secrets that sign a delivery now: the current one, and the previous one during its overlap. */
export function signingSecrets(row: Pick<EndpointRow, "secret" | "previous_secret" | "previous_secret_expires_at">, now: number): string[] {
  const previous = row.previous_secret && (row.previous_secret_expires_at ?? 0) > now ? [row.previous_secret] : [];
  return [row.secret, ...previous];
}

export { EVENT_TYPES };

export async function createEndpoint(db: D1Database, input: { url: string; events: Subscription[]; description: string | null }, now: number): Promise<EndpointRow> {
  const row: EndpointRow = {
    id: randomId("we"),
    url: input.url,
    events: JSON.stringify(input.events.includes("*") ? ["*"] : [...new Set(input.events)]),
    description: input.description,
    secret: newSecret(),
    previous_secret: null,
    previous_secret_expires_at: null,
    status: "active",
    disabled_reason: null,
    disabled_at: null,
    failing_since: null,
    last_success_at: null,
    created_at: now,
    updated_at: now,
  };
  await db
    .prepare(
      `INSERT INTO webhook_endpoints (id, url, events, description, secret, status, created_at, updated_at)
       VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?6)`,
    )
    .bind(row.id, row.url, row.events, row.description, row.secret, now)
    .run();
  return row;
}

export const endpointById = (db: D1Database, id: string) => db.prepare("SELECT * FROM webhook_endpoints WHERE id = ?").bind(id).first<EndpointRow>();

export async function listEndpoints(db: D1Database): Promise<EndpointRow[]> {
  return (await db.prepare("SELECT * FROM webhook_endpoints ORDER BY created_at DESC, id").all<EndpointRow>()).results;
}

/** The endpoints that receive events now (the fan-out reads them once per history batch). */
export async function activeEndpoints(db: D1Database): Promise<EndpointRow[]> {
  return (await db.prepare("SELECT * FROM webhook_endpoints WHERE status = 'active'").all<EndpointRow>()).results;
}

export async function disableEndpoint(db: D1Database, id: string, reason: string, now: number): Promise<EndpointRow | null> {
  await db
    .prepare("UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = ?2, disabled_at = ?3, updated_at = ?3 WHERE id = ?1 AND status = 'active'")
    .bind(id, reason, now)
    .run();
  return endpointById(db, id);
}

/** A new secret; the one it replaces keeps signing for ROTATION_OVERLAP_MS. */
export async function rotateSecret(db: D1Database, id: string, now: number): Promise<EndpointRow | null> {
  const secret = newSecret();
  await db
    .prepare(
      `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = ?3, secret = ?2, updated_at = ?4
       WHERE id = ?1`,
    )
    .bind(id, secret, now + ROTATION_OVERLAP_MS, now)
    .run();
  return endpointById(db, id);
}
