import type { Env } from "../env";

/** The account's ledger object. Named by the app's own account id, so no lookup stands in between. */
export function ledgerOf(env: Env, accountId: string) {
  return env.LEDGER.get(env.LEDGER.idFromName(accountId));
}
