// scheduled(): the Cron Triggers (wrangler.toml [triggers]). Every invocation sweeps what has fallen
// due (expiries, allowance periods, notices); the one whose cron is RECONCILE_CRON, or one started by
// hand (wrangler dev's /__scheduled, which names no cron), also reconciles D1 against the objects and
// runs the charged ⇒ credited pass against Stripe.

import type { Env } from "../env";
import { paymentsPass, type PaymentsPassResult } from "./payments";
import { reconcile, type ReconcileResult } from "./reconcile";
import { cronSettings } from "./settings";
import { sweep, type SweepResult } from "./sweep";
import { requeueOverdueDeliveries } from "../webhooks/requeue";

export interface ScheduledOutcome {
  sweep: SweepResult;
  reconcile: ReconcileResult | null;
  payments: PaymentsPassResult | null;
  /** Webhook deliveries whose message was overdue, queued again. */
  requeued: number;
}

export async function handleScheduled(controller: ScheduledController, env: Env): Promise<ScheduledOutcome> {
  const settings = cronSettings(env);
  const started = Date.now();
  const common = { scheduledTime: controller.scheduledTime, concurrency: settings.concurrency };
  const swept = await sweep(env, { ...common, deadline: started + settings.sweepBudgetMs, maxAccounts: settings.sweepMaxAccounts });
  const requeued = await requeueOverdueDeliveries(env, Date.now());
  const reconciles = controller.cron === settings.reconcileCron || controller.cron === "";
  const reconciled = reconciles
    ? await reconcile(env, {
        ...common,
        // Reconciliation gets the same budget again: it runs on its own, rarer schedule.
        deadline: Date.now() + settings.sweepBudgetMs,
        sample: settings.reconcileSample,
        maxAccounts: settings.reconcileMaxAccounts,
      })
    : null;
  // After reconciliation, with a budget of its own: a lost webhook must never lose a user's money.
  const payments = reconciles
    ? await paymentsPass(env, {
        scheduledTime: controller.scheduledTime,
        deadline: Date.now() + settings.sweepBudgetMs,
        graceMs: settings.paymentGraceMs,
        maxObjects: settings.paymentMaxObjects,
        maxQueries: settings.paymentMaxQueries,
      })
    : null;
  console.log(
    `cron ${controller.cron || "(manual)"}: swept ${swept.accounts} account(s), ${swept.failures} failure(s)${swept.finished ? "" : ", continuing next time"}` +
      (reconciled ? `; reconciled ${reconciled.checked}, drift in ${reconciled.drift.length}` : "") +
      (payments && payments.status !== "not_configured" ? `; payments: checked ${payments.checked}, repaired ${payments.repaired}` : ""),
  );
  return { sweep: swept, reconcile: reconciled, payments, requeued };
}
