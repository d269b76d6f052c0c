// The page shell every hosted page shares: branding, navigation, the way back to the app.
import type { Child } from "hono/jsx";
import type { Env } from "../env";

export const PAGES = [
  { path: "/portal", label: "Overview" },
  { path: "/portal/prices", label: "Prices" },
  { path: "/portal/buy", label: "Buy credits" },
  { path: "/portal/usage", label: "Usage" },
  { path: "/portal/controls", label: "Controls" },
  { path: "/portal/policies", label: "Policies" },
  { path: "/portal/purchases", label: "Purchases" },
] as const;

export interface Brand {
  name: string;
  logoUrl: string | null;
  supportUrl: string | null;
}

export function brandOf(env: Env): Brand {
  const https = (v: string | undefined) => (v && /^https:\/\/[^\s"'<>]+$/.test(v) ? v : null);
  return { name: env.PORTAL_PRODUCT_NAME?.trim() || "Credits", logoUrl: https(env.PORTAL_LOGO_URL), supportUrl: https(env.PORTAL_SUPPORT_URL) };
}

export function Layout(props: { brand: Brand; title: string; active?: string; lang: string; returnUrl?: string | null; children: Child; head?: Child }) {
  const { brand } = props;
  return (
    <html lang={props.lang}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · ${brand.name}`}</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/portal/assets/app.css" />
        <link rel="stylesheet" href="/portal/assets/theme.css" />
        {props.head}
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <div class="bar">
            <a class="brand" href="/portal">
              {brand.logoUrl ? <img src={brand.logoUrl} alt="" /> : null}
              <span>{brand.name}</span>
            </a>
            {props.active !== undefined ? (
              <nav class="tabs" aria-label="Sections">
                <ul>
                  {PAGES.map((p) => (
                    <li>
                      <a href={p.path} aria-current={p.path === props.active ? "page" : undefined}>
                        {p.label}
                      </a>
                    </li>
                  ))}
                </ul>
              </nav>
            ) : null}
            {props.returnUrl ? (
              <a class="back" href={props.returnUrl}>
                Back to the app
              </a>
            ) : null}
          </div>
        </header>
        <main id="main">
          <h1>{props.title}</h1>
          {props.children}
        </main>
        <footer>
          {brand.supportUrl ? (
            <p>
              Questions about your credits? <a href={brand.supportUrl}>Contact support</a>.
            </p>
          ) : null}
        </footer>
      </body>
    </html>
  );
}

export const Banner = (props: { tone: "warn" | "bad" | "ok"; children: Child }) => (
  <div class={`banner ${props.tone}`} role={props.tone === "ok" ? "status" : "alert"}>
    {props.children}
  </div>
);

export const Csrf = (props: { token: string }) => <input type="hidden" name="csrf" value={props.token} />;

/** A table's horizontal scroller on narrow screens: focusable and named, so keyboards can scroll it. */
export const Scroll = (props: { label: string; children: Child }) => (
  <div class="scroll" tabindex={0} role="region" aria-label={props.label}>
    {props.children}
  </div>
);
