// Search with citations: file, page, heading.

import { $, el } from "./dom.js";

function citation(hit) {
  const parts = [hit.filename || hit.document_id];
  if (hit.page !== null && hit.page !== undefined) parts.push(`page ${hit.page}`);
  if (hit.heading) parts.push(`§ ${hit.heading}`);
  return parts.join(" · ");
}

export function setUpSearch(api) {
  const status = $("#search-status");
  const results = $("#results");
  $("#search-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = $("#query").value.trim();
    if (!query) return;
    status.textContent = "Searching…";
    results.replaceChildren();
    try {
      const found = await api.post("/v1/search", { query, top_k: 5 });
      status.textContent = found.results.length
        ? `${found.results.length} passages (${found.embedding_model})`
        : "No matches: nothing indexed yet?";
      results.replaceChildren(
        ...found.results.map((hit) =>
          el(
            "li",
            { class: "card hit" },
            el("p", { class: "cite" }, citation(hit), el("span", { class: "muted" }, ` score ${hit.score.toFixed(3)}`)),
            el("blockquote", {}, hit.text),
          ),
        ),
      );
    } catch (error) {
      status.textContent = error.status === 503 ? `Not ready: ${error.message}` : `Search failed: ${error.message}`;
    }
  });
}
