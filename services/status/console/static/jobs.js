// The jobs table (live: polled now; the place where a Server-Sent Events feed plugs in is
// `follow`) and one job's timeline and error.

import { $, badge, clock, duration, el, reason, seconds } from "./dom.js";

const POLL_MS = 1500;
const TIMELINE = ["queued", "parsing", "parsed", "embedding", "indexed", "failed"];

function timings(job) {
  const t = job.timestamps || {};
  return {
    wait: seconds(t.queued_at, t.parsing_at),
    parse: seconds(t.parsing_at, t.parsed_at),
    embed: seconds(t.embedding_at, t.indexed_at),
    total: seconds(t.queued_at, t.indexed_at || t.failed_at),
  };
}

export class Jobs {
  constructor(api) {
    this.api = api;
    this.selected = null;
    this.timer = null;
    this.body = $("#jobs tbody");
  }

  // Keep the table current until stop(). Polling the list; a tenant event stream
  // (GET /v1/jobs/events) would call this.refresh() on each event instead.
  follow() {
    const tick = async () => {
      if (!document.hidden) await this.refresh();
      this.timer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  stop() {
    clearTimeout(this.timer);
  }

  async refresh() {
    try {
      const page = await this.api.get("/v1/jobs?limit=50");
      this.render(page.jobs);
      $("#jobs-error").textContent = "";
      $("#jobs-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
      if (this.selected) await this.show(this.selected, false);
    } catch (error) {
      $("#jobs-error").textContent = `Could not load jobs: ${error.message}`;
    }
  }

  render(jobs) {
    const rows = jobs.map((job) => {
      const t = timings(job);
      return el(
        "tr",
        {
          "data-job-id": job.job_id,
          "data-state": job.state,
          class: job.job_id === this.selected ? "selected" : null,
          title: reason(job.error) || job.job_id,
          onclick: () => this.show(job.job_id),
        },
        el("td", {}, job.filename || job.document_id),
        el("td", {}, badge(job.state)),
        el("td", {}, duration(t.wait)),
        el("td", {}, duration(t.parse)),
        el("td", {}, duration(t.embed)),
        el("td", {}, duration(t.total)),
        el("td", {}, clock(job.updated_at)),
      );
    });
    this.body.replaceChildren(...rows);
    const states = new Map(jobs.map((job) => [job.job_id, job.state]));
    for (const item of document.querySelectorAll("#uploads li[data-job-id]")) {
      const state = states.get(item.dataset.jobId);
      if (state) item.querySelector(".upload-state").replaceChildren(badge(state));
    }
    if (!jobs.length) {
      this.body.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No jobs yet: drop a file above.")));
    }
  }

  async show(jobId, mark = true) {
    this.selected = jobId;
    if (mark) {
      for (const row of this.body.querySelectorAll("tr")) {
        row.classList.toggle("selected", row.dataset.jobId === jobId);
      }
    }
    const panel = $("#job");
    try {
      panel.replaceChildren(...this.detail(await this.api.get(`/v1/jobs/${encodeURIComponent(jobId)}`)));
    } catch (error) {
      panel.replaceChildren(el("p", { class: "error" }, error.message));
    }
    panel.hidden = false;
  }

  detail(job) {
    const t = job.timestamps || {};
    let previous = null;
    const steps = TIMELINE.filter((state) => t[`${state}_at`]).map((state) => {
      const at = t[`${state}_at`];
      const after = seconds(previous, at);
      previous = at;
      return el(
        "li",
        { class: `step step-${state}` },
        badge(state),
        el("time", { datetime: at }, clock(at)),
        after === null ? null : el("span", { class: "muted" }, ` +${duration(after)}`),
      );
    });
    const facts = [
      ["Job", job.job_id],
      ["Document", job.document_id],
      ["Type", job.media_type],
      ["Pages", job.page_count],
      ["Chunks", job.chunk_count],
      ["Model", job.embedding_model],
      ["Attempt", job.attempt],
    ].filter(([, value]) => value !== null && value !== undefined);
    return [
      el("h2", {}, job.filename || job.job_id),
      el("p", {}, badge(job.state)),
      job.error
        ? el("p", { class: "error", id: "job-error" }, reason(job.error), job.error.stage ? ` (stage: ${job.error.stage})` : "")
        : null,
      job.last_error && job.state !== "failed"
        ? el("p", { class: "muted" }, `Retried after: ${reason(job.last_error)}`)
        : null,
      el("ol", { class: "timeline" }, ...steps),
      el("dl", {}, ...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, String(value))])),
    ].filter(Boolean);
  }
}
