// D1 allows 1,000 queries per Worker invocation, and local workerd does not enforce it: past the
// limit every query throws, including the one that would have saved a pass's progress. A pass that
// shares its invocation with others wraps D1 in a budget, counts what it asks, and stops while it still
// has room to write down where it got to.

export interface QueryBudget {
  /** The same database; every statement executed through it is counted. */
  readonly db: D1Database;
  used(): number;
  left(): number;
}

/**
 * Counts statements: each first/run/all/raw is one, a batch is as many as it holds (D1 counts each of
 * them), an exec one. Never refuses: the caller asks `left()` before work whose cost it knows.
 */
export function queryBudget(db: D1Database, limit: number): QueryBudget {
  let used = 0;
  const unwrapped = new WeakMap<object, D1PreparedStatement>();
  const counted = (statement: D1PreparedStatement): D1PreparedStatement => {
    const proxy = new Proxy(statement, {
      get(target, prop) {
        if (prop === "bind") return (...values: unknown[]) => counted(target.bind(...values));
        if (prop === "first" || prop === "run" || prop === "all" || prop === "raw") {
          return (...args: unknown[]) => {
            used++;
            return (target[prop] as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    unwrapped.set(proxy, statement);
    return proxy;
  };
  const wrapped = new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (query: string) => counted(target.prepare(query));
      if (prop === "batch") {
        return (statements: D1PreparedStatement[]) => {
          used += statements.length;
          return target.batch(statements.map((s) => unwrapped.get(s) ?? s));
        };
      }
      if (prop === "exec") {
        return (query: string) => {
          used++;
          return target.exec(query);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db: wrapped, used: () => used, left: () => limit - used };
}
