// The console: sign in with a token (kept in sessionStorage), then jobs, uploads, search,
// and for admins the pipeline view when the status service has one.

import { Api, ApiError, claims } from "./api.js";
import { $ } from "./dom.js";
import { Jobs } from "./jobs.js";
import * as pipeline from "./pipeline.js";
import { setUpSearch } from "./search.js";
import { setUpUploads } from "./upload.js";

const KEY = "sluice.token";

function showTab(name) {
  for (const button of document.querySelectorAll("#tabs button")) {
    const current = button.dataset.tab === name;
    if (current) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  for (const view of ["jobs", "search", "pipeline"]) $(`#view-${view}`).hidden = view !== name;
}

async function start(config, token) {
  const api = new Api(token, config.ingest_url);
  await api.get("/v1/jobs?limit=1"); // a bad or expired token fails here, not later
  sessionStorage.setItem(KEY, token);
  const who = claims(token);
  $("#who").textContent = `${who.sub ?? "?"} @ ${who.tenant ?? "?"}`;
  $("#sign-in").hidden = true;
  $("#tabs").hidden = false;
  $("#sign-out").hidden = false;
  const jobs = new Jobs(api);
  setUpUploads(api, jobs);
  setUpSearch(api);
  const admin = String(who.scope ?? "").split(" ").includes("admin:pipeline");
  if (admin && (await pipeline.probe(api)) !== null) {
    document.querySelector('#tabs [data-tab="pipeline"]').hidden = false;
  }
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => {
      showTab(button.dataset.tab);
      if (button.dataset.tab === "pipeline") pipeline.show(api);
    });
  }
  showTab("jobs");
  jobs.follow();
}

async function main() {
  const config = await (await fetch("/console/config.json")).json();
  $("#sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    location.reload();
  });
  $("#sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("#token").value.trim();
    try {
      await start(config, token);
    } catch (error) {
      const why = error instanceof ApiError && error.status === 401 ? "token refused" : "sign-in failed";
      $("#sign-in-error").textContent = `${why}: ${error.message}`;
    }
  });
  const saved = sessionStorage.getItem(KEY);
  if (saved) {
    start(config, saved).catch(() => sessionStorage.removeItem(KEY));
  }
}

main();
