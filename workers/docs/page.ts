// A self-contained reference page rendered from the OpenAPI document: no script, no CDN, so it works
// offline and under a strict Content-Security-Policy.
import { html, raw } from "hono/html";

type Operation = { summary?: string; requestBody?: unknown; responses?: Record<string, { description?: string }> };
type Doc = { info: { title: string; version: string; description?: string }; paths: Record<string, Record<string, Operation>> };

const escape = (s: string) => s.replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch] as string);

export function docsPage(doc: Doc) {
  const rows = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(
      ([method, op]) => `<tr><td><code class="m ${method}">${method.toUpperCase()}</code></td><td><code>${escape(path)}</code></td>
        <td>${escape(op.summary ?? "")}</td><td>${Object.keys(op.responses ?? {}).join(" ")}</td></tr>`,
    ),
  );
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${doc.info.title} API reference</title>
        <style>
          body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #1a1a1a; }
          table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid #ddd; padding: .4rem; text-align: left; vertical-align: top; }
          .m { font-weight: 600; } .get { color: #0a6; } .post { color: #06c; } .put { color: #a60; } .delete { color: #c22; }
        </style>
      </head>
      <body>
        <h1>${doc.info.title} <small>v${doc.info.version}</small></h1>
        <p>${doc.info.description ?? ""}</p>
        <p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
        <table>
          <thead><tr><th>Method</th><th>Path</th><th>What it does</th><th>Answers</th></tr></thead>
          <tbody>${raw(rows.join(""))}</tbody>
        </table>
      </body>
    </html>`;
}
