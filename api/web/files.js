// The files list: counts by status (each a filter), uploads (drag and drop or a file input,
// with upload progress), and a table of files, newest first, paged, with live progress bars.

import * as api from "./api.js";
import { el, byId, announce, pageText, progressText, statusLabel, when } from "./dom.js";

const PAGE_SIZE = 10;
const STATUS_ORDER = ["PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"];
let page = 1;
let status = "";
let total = 0;
let countsTimer = null;
let loading = null;

/** Wires the list's controls; once. */
export function setup() {
  byId("status-filter").addEventListener("change", (event) => {
    status = event.target.value;
    page = 1;
    load();
  });
  byId("files-prev").addEventListener("click", () => { if (page > 1) { page -= 1; load(); } });
  byId("files-next").addEventListener("click", () => {
    if (page * PAGE_SIZE < total) { page += 1; load(); }
  });
  const zone = byId("drop-zone");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    for (const dropped of event.dataTransfer.files) sendUpload(dropped);
  });
  byId("file-input").addEventListener("change", (event) => {
    for (const chosen of event.target.files) sendUpload(chosen);
    event.target.value = "";
  });
}

/** Shows the list (again). */
export function open() {
  load();
}

/** Reloads counts and the current page. */
export function refresh() {
  if (!byId("files-view").hidden) load();
}

async function load() {
  const query = new URLSearchParams({ page, limit: PAGE_SIZE });
  if (status) query.set("status", status);
  const current = (loading = Promise.all([
    api.request("GET", `/files?${query}`),
    api.request("GET", "/files/counts"),
  ]));
  try {
    const [list, counts] = await current;
    if (current !== loading) return; // a newer load has started
    total = list.total;
    renderCounts(counts);
    renderRows(list.items);
    byId("files-page").textContent =
      total === 0 ? "" : pageText(page, PAGE_SIZE, total, "file", "files");
    byId("files-prev").disabled = page <= 1;
    byId("files-next").disabled = page * PAGE_SIZE >= total;
  } catch (error) {
    if (error.status !== 401) announce(`Could not load the files: ${error.message}`);
  }
}

function orderedStatuses(counts) {
  const known = STATUS_ORDER.filter((name) => name in counts);
  return known.concat(Object.keys(counts).filter((name) => !known.includes(name)));
}

function renderCounts(counts) {
  const statuses = orderedStatuses(counts);
  byId("counts").replaceChildren(...statuses.map((name) => el("button", {
    type: "button",
    class: `count status-${name.toLowerCase()}`,
    "aria-pressed": status === name ? "true" : "false",
    "data-status": name,
    onclick: () => {
      status = status === name ? "" : name;
      byId("status-filter").value = status;
      page = 1;
      load();
    },
  }, el("span", { class: "count-number" }, counts[name]), " ", el("span", { class: "count-label" }, statusLabel(name)))));
  const select = byId("status-filter");
  if (select.options.length !== statuses.length + 1) {
    select.replaceChildren(el("option", { value: "" }, "All"),
      ...statuses.map((name) => el("option", { value: name }, statusLabel(name))));
  }
  select.value = status;
}

function progressCell(file) {
  return el("td", { class: "progress-cell" },
    el("progress", { max: 100, value: file.progress.percent, "aria-label": `Progress of ${file.original_name}` }),
    el("span", { class: "progress-text" }, progressText(file.progress)));
}

function row(file) {
  return el("tr", { "data-file-id": file.id, "data-status": file.status },
    el("td", {}, el("a", { href: `#/files/${file.id}` }, file.original_name)),
    el("td", {}, el("span", { class: `badge status-${file.status.toLowerCase()}` }, statusLabel(file.status))),
    progressCell(file),
    el("td", { class: "wide-only" }, when(file.created_at)));
}

function renderRows(items) {
  byId("files-table").tBodies[0].replaceChildren(...items.map(row));
  byId("files-empty").hidden = items.length > 0;
}

/** A file changed (event stream): update its row in place, the counts soon after. */
export function changed(file) {
  if (byId("files-view").hidden) return;
  const existing = document.querySelector(`#files-table tr[data-file-id="${file.id}"]`);
  if (existing) {
    if (status && file.status !== status) { scheduleReload(); return; }
    existing.replaceWith(row(file));
    if (existing.dataset.status !== file.status) {
      announce(`${file.original_name} is ${statusLabel(file.status)}`);
      scheduleReload();
    }
  } else if (page === 1) {
    scheduleReload();
  }
}

function scheduleReload() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(load, 300);
}

function sendUpload(file) {
  const bar = el("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` });
  const text = el("span", {}, "0%");
  const item = el("li", { class: "upload" }, el("span", { class: "upload-name" }, file.name), bar, text);
  byId("uploads").prepend(item);
  announce(`Uploading ${file.name}`);
  api.upload(file, (sent, size) => {
    const percent = Math.floor((sent * 100) / size);
    bar.value = percent;
    text.textContent = `${percent}%`;
  }).then((stored) => {
    bar.value = 100;
    text.textContent = "uploaded";
    item.classList.add("done");
    announce(`${file.name} uploaded; processing`);
    if (page === 1) load();
    setTimeout(() => item.remove(), 5000);
    return stored;
  }).catch((error) => {
    item.classList.add("failed");
    text.textContent = `failed: ${error.message}`;
    announce(`Upload of ${file.name} failed: ${error.message}`);
  });
}
