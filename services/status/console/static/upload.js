// Drag-and-drop (or pick) files; each one's upload progress, then its job.

import { $, el } from "./dom.js";

export function setUpUploads(api, jobs) {
  const drop = $("#drop");
  const list = $("#uploads");

  function send(file) {
    const bar = el("progress", { max: 1, value: 0 });
    const state = el("span", { class: "muted upload-state" }, "uploading…");
    const item = el("li", { "data-file": file.name }, el("strong", {}, file.name), bar, state);
    list.prepend(item);
    api
      .upload(file, (fraction) => { bar.value = fraction; })
      .then((accepted) => {
        bar.value = 1;
        state.textContent = "uploaded";
        state.className = "ok upload-state";
        item.dataset.jobId = accepted.job_id; // the jobs table shows its state here from now on
        item.addEventListener("click", () => jobs.show(accepted.job_id));
        jobs.refresh();
      })
      .catch((error) => {
        state.textContent = `rejected: ${error.message}`;
        state.className = "error upload-state";
      });
  }

  const sendAll = (files) => { for (const file of files) send(file); };
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    sendAll(event.dataTransfer.files);
  });
  $("#files").addEventListener("change", (event) => {
    sendAll(event.target.files);
    event.target.value = "";
  });
}
