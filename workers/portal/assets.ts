// The hosted page's stylesheet, served from the Worker (no CDN), and the theme built from the
// operator's accent colour. A strict CSP forbids inline styles, so both are files.
export const APP_CSS = `
:root{--accent:#3b5bdb;--ink:#1b1f24;--muted:#4a5260;--line:#d5d9e0;--bg:#f6f7f9;--warn:#8a5a00;--warn-bg:#fff4d6;--bad:#a1261d;--bad-bg:#fde8e6;--ok:#1e6b34;--ok-bg:#e3f5e8}
*{box-sizing:border-box}html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg);line-height:1.45}
body{margin:0}a{color:var(--accent)}a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,summary:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:2}
header.top{background:#fff;border-bottom:1px solid var(--line)}header.top .bar{max-width:64rem;margin:0 auto;padding:.75rem 1rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
.brand{font-weight:700;font-size:1.1rem;display:flex;gap:.5rem;align-items:center;color:var(--ink);text-decoration:none}.brand img{height:28px;width:auto}
nav.tabs ul{list-style:none;margin:0;padding:0;display:flex;gap:.25rem;flex-wrap:wrap}nav.tabs a{display:block;padding:.4rem .6rem;border-radius:6px;text-decoration:none;color:var(--muted)}
nav.tabs a[aria-current=page]{background:var(--accent);color:#fff}
.back{margin-left:auto}main{max-width:64rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:1rem;margin:0 0 1rem}
.balance{font-size:2.6rem;font-weight:700;margin:.2rem 0}.sub{color:var(--muted);margin:.2rem 0}
.grid{display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr))}
.banner{border-radius:8px;padding:.75rem 1rem;margin:0 0 1rem;border:1px solid}.banner.warn{background:var(--warn-bg);border-color:#e6c46b;color:#5c3d00}.banner.bad{background:var(--bad-bg);border-color:#f0a9a2;color:#7a1c15}.banner.ok{background:var(--ok-bg);border-color:#9fd3ae;color:#14522a}
table{width:100%;border-collapse:collapse;background:#fff}th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}th{font-weight:600;color:var(--muted)}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}label{display:block;font-weight:600;margin:.6rem 0 .2rem}input[type=number],input[type=text],select{font:inherit;padding:.45rem .5rem;border:1px solid #8a93a3;border-radius:6px;width:100%;max-width:20rem;background:#fff;color:var(--ink)}
.check{display:flex;gap:.5rem;align-items:center;font-weight:600}.check input{width:1.1rem;height:1.1rem}
.card>h2:first-child,.card>h2:first-of-type{margin-top:0}form.card button{display:block}
button{font:inherit;background:var(--accent);color:#fff;border:0;border-radius:6px;padding:.55rem 1rem;margin-top:.8rem;cursor:pointer}button.secondary{background:#fff;color:var(--accent);border:1px solid var(--accent)}
.error{color:var(--bad);font-weight:600;margin:.2rem 0}.hint{color:var(--muted);font-size:.9rem;margin:.2rem 0}
.price{font-size:1.4rem;font-weight:700}.tag{display:inline-block;background:var(--ok-bg);color:#14522a;border-radius:999px;padding:0 .5rem;font-size:.85rem;font-weight:600}
.chart svg{width:100%;height:auto;display:block}.legend{display:flex;flex-wrap:wrap;gap:.75rem;list-style:none;padding:0;margin:.5rem 0 0}.legend span{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;vertical-align:middle}
.filters{display:flex;gap:1rem;flex-wrap:wrap;align-items:flex-end}.filters label{margin-top:0}.pager{display:flex;gap:1rem;margin:.75rem 0}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
footer{max-width:64rem;margin:2rem auto;padding:0 1rem;color:var(--muted);font-size:.9rem}
@media (max-width:40rem){.balance{font-size:2.1rem}header.top .bar{gap:.5rem}.back{margin-left:0}}
`;

/** The accent as CSS, from PORTAL_ACCENT_COLOR when it is a #rrggbb colour dark enough for white text. */
export function themeCss(accent: string | undefined): string {
  const colour = accent && /^#[0-9a-fA-F]{6}$/.test(accent) && luminance(accent) < 0.18 ? accent : "#3b5bdb";
  return `:root{--accent:${colour}}`;
}

/** WCAG relative luminance: white text on the accent needs it below ~0.18 for 4.5:1. */
function luminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}
