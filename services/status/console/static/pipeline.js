// The admin pipeline view: what GET /v1/pipeline answers, per stage (verdict, lag, instances,
// DLQ depth, oldest unfinished job, windows); the tab stays hidden
// while the endpoint is missing (404) or the token is not an admin's (403).

import { $, el } from "./dom.js";

function cell(value) {
  if (value === null || value === undefined) return "–";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function stageRows(body) {
  const stages = body.stages ?? body;
  if (Array.isArray(stages)) return stages.map((s) => [s.stage ?? s.name ?? "?", s]);
  return Object.entries(stages);
}

export function render(body) {
  const rows = stageRows(body);
  const named = new Set(["stage", "name"]); // already the first column
  const keys = [...new Set(rows.flatMap(([, s]) => (s && typeof s === "object" ? Object.keys(s) : [])))]
    .filter((key) => !named.has(key));
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, el("th", {}, "stage"), ...keys.map((k) => el("th", {}, k)))),
    el("tbody", {}, ...rows.map(([name, s]) => el("tr", {}, el("td", {}, name), ...keys.map((k) => el("td", {}, cell(s?.[k])))))),
  );
}

export async function probe(api) {
  try {
    return await api.get("/v1/pipeline");
  } catch {
    return null;
  }
}

export async function show(api) {
  const body = await probe(api);
  $("#pipeline").replaceChildren(body ? render(body) : el("p", { class: "muted" }, "Not available."));
}
