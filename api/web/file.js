// One file's page: status and live progress, downloads, retry, cancel and delete (with
// confirmation), and its results, paged and filtered by status and error category, with the
// icons themselves when the results name them (`icon_url`).

import * as api from "./api.js";
import { el, byId, announce, pageText, progressText, statusLabel } from "./dom.js";

const PER_PAGE = 25;
const CATEGORIES = ["invalid_domain", "dns", "connect", "tls", "timeout", "http_status",
  "not_image", "no_icon", "blocked", "too_large"];
let fileId = null;
let current = null;
let page = 1;
let total = 0;
let resultsTimer = null;

/** Wires the page's controls; once. */
export function setup() {
  byId("result-category").append(...CATEGORIES.map((name) => el("option", { value: name }, name)));
  for (const id of ["result-status", "result-category"]) {
    byId(id).addEventListener("change", () => { page = 1; loadResults(); });
  }
  byId("results-prev").addEventListener("click", () => { if (page > 1) { page -= 1; loadResults(); } });
  byId("results-next").addEventListener("click", () => {
    if (page * PER_PAGE < total) { page += 1; loadResults(); }
  });
  byId("retry").addEventListener("click", () => act("POST", "retry", "Retrying the failed domains"));
  byId("cancel").addEventListener("click", () => act("POST", "cancel", "Cancelled"));
  byId("delete").addEventListener("click", confirmDelete);
}

/** Whether a file's page is shown. */
export const isOpen = () => !byId("file-view").hidden && fileId !== null;

/** Shows the page of file `id`. */
export function open(id) {
  if (id !== fileId) {
    page = 1;
    byId("result-status").value = "";
    byId("result-category").value = "";
    byId("action-message").textContent = "";
  }
  fileId = id;
  byId("download-csv").href = `/files/${id}/download?format=csv`;
  byId("download-jsonl").href = `/files/${id}/download?format=jsonl`;
  refresh();
}

/** Reloads the file and its results. */
export async function refresh() {
  if (!isOpen()) return;
  try {
    render(await api.request("GET", `/files/${fileId}`));
    loadResults();
  } catch (error) {
    if (error.status === 404) {
      byId("file-title").textContent = "File not found";
      byId("file-error").textContent = "It was deleted, or it is not yours.";
    }
  }
}

function render(file) {
  const previous = current;
  current = file;
  byId("file-title").textContent = file.original_name;
  const badge = byId("file-status");
  badge.textContent = statusLabel(file.status);
  badge.className = `badge status-${file.status.toLowerCase()}`;
  byId("file-progress").value = file.progress.percent;
  byId("file-progress-text").textContent =
    `${progressText(file.progress)}: ${file.progress.succeeded} with a favicon, ${file.progress.failed} without`;
  byId("file-error").textContent = file.error_message || "";
  const running = file.status === "PENDING" || file.status === "PROCESSING";
  byId("retry").disabled = !(file.status === "COMPLETED" && file.progress.failed > 0);
  byId("cancel").disabled = !running;
  if (previous && previous.id === file.id && previous.status !== file.status) {
    announce(`${file.original_name} is ${statusLabel(file.status)}`);
  }
}

/** A file changed (event stream). */
export function changed(file) {
  if (!isOpen() || file.id !== fileId) return;
  render(file);
  clearTimeout(resultsTimer);
  resultsTimer = setTimeout(loadResults, 500);
}

async function loadResults() {
  const query = new URLSearchParams({ page, per_page: PER_PAGE });
  const status = byId("result-status").value;
  const category = byId("result-category").value;
  if (status) query.set("status", status);
  if (category) query.set("error_category", category);
  const id = fileId;
  try {
    const results = await api.request("GET", `/files/${id}/results?${query}`);
    if (id !== fileId) return;
    total = results.total;
    byId("results-table").tBodies[0].replaceChildren(...results.items.map(resultRow));
    byId("results-empty").hidden = results.items.length > 0;
    byId("results-page").textContent =
      total === 0 ? "" : pageText(page, PER_PAGE, total, "result", "results");
    byId("results-prev").disabled = page <= 1;
    byId("results-next").disabled = page * PER_PAGE >= total;
  } catch (error) {
    if (error.status !== 401 && error.status !== 404) announce(`Could not load the results: ${error.message}`);
  }
}

function resultRow(result) {
  const icon = result.icon_url
    ? el("img", { src: result.icon_url, alt: "", width: 16, height: 16, loading: "lazy" })
    : el("span", { class: "no-icon", "aria-hidden": "true" });
  const detail = result.status === "success"
    ? `${result.icon ? `${result.icon.format} ${result.icon.width}×${result.icon.height}` : ""}${result.from_cache ? " (cached)" : ""}`
    : result.error || "";
  return el("tr", { "data-status": result.status },
    el("td", { class: "icon-cell" }, icon),
    el("td", { class: "domain" }, result.domain),
    el("td", {}, el("span", { class: `badge status-${result.status}` }, statusLabel(result.status))),
    el("td", { class: "detail" }, detail),
    el("td", { class: "wide-only" }, result.tries));
}

async function act(method, action, done) {
  const message = byId("action-message");
  message.textContent = "";
  try {
    const file = await api.request(method, `/files/${fileId}/${action}`);
    if (file && file.id) render(file);
    message.textContent = done;
    loadResults();
  } catch (error) {
    message.textContent = `Could not ${action}: ${error.message}`;
  }
}

function confirmDelete() {
  const dialog = byId("confirm-dialog");
  byId("confirm-text").textContent =
    `Delete ${current ? current.original_name : "this file"}, its results and its stored objects? This cannot be undone.`;
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "confirm") return;
    try {
      await api.request("DELETE", `/files/${fileId}`);
      announce(`${current ? current.original_name : "The file"} was deleted`);
      fileId = null;
      location.hash = "#/";
    } catch (error) {
      byId("action-message").textContent = `Could not delete: ${error.message}`;
    }
  }, { once: true });
  dialog.showModal();
}
