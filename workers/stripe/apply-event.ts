// Which handler applies each verified Stripe event (API.md, "The Stripe webhook contract"); any other
// type is acknowledged and ignored.
import type Stripe from "stripe";
import type { Env } from "../env";
import type { Outcome } from "./applied";
import { paymentFailed, paymentSucceeded } from "./auto-recharge";
import { credit, disputeClosed, disputeOpened, failed, recordUnpaid, refunded } from "./events";

export { NotApplied } from "./applied";

export async function applyEvent(env: Env, event: Stripe.Event, now: number): Promise<Outcome> {
  switch (event.type) {
    case "checkout.session.completed":
      return event.data.object.payment_status === "paid" ? credit(env, event.data.object, now) : recordUnpaid(env, event.data.object, now);
    case "checkout.session.async_payment_succeeded":
      return credit(env, event.data.object, now);
    case "checkout.session.async_payment_failed":
      return failed(env, event.data.object, now);
    case "charge.refunded":
      return refunded(env, event.data.object, now);
    case "charge.dispute.created":
      return disputeOpened(env, event.data.object, now);
    case "charge.dispute.closed":
      return disputeClosed(env, event.data.object, now);
    case "payment_intent.succeeded":
      return paymentSucceeded(env, event.data.object, now);
    case "payment_intent.payment_failed":
      return paymentFailed(env, event.data.object);
    default:
      return "ignored";
  }
}
