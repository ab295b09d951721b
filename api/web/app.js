// The dashboard: sign-in, then the files list (#/) or one file's page (#/files/<id>), kept up
// to date by the server's events (`GET /events`, sent with the session cookie), or by
// polling while the event stream is unavailable.

import * as api from "./api.js";
import { byId, announce } from "./dom.js";
import * as files from "./files.js";
import * as file from "./file.js";

const views = ["loading", "sign-in-view", "files-view", "file-view"];
let events = null;
let pollTimer = null;

function show(id) {
  for (const view of views) byId(view).hidden = view !== id;
}

function signedIn(session) {
  byId("client-name").textContent = session.client_name;
  byId("who").hidden = false;
  listen();
  route();
}

function signedOut() {
  if (events) { events.close(); events = null; }
  clearInterval(pollTimer);
  pollTimer = null;
  byId("who").hidden = true;
  show("sign-in-view");
  byId("api-key").focus();
}

/** Shows the view the address names. */
function route() {
  if (byId("who").hidden) return;
  const match = location.hash.match(/^#\/files\/([0-9a-f-]{36})$/);
  if (match) {
    show("file-view");
    file.open(match[1]);
  } else {
    show("files-view");
    files.open();
  }
}

/** A change of a file, from the event stream or polling. */
function changed(fileJson) {
  files.changed(fileJson);
  file.changed(fileJson);
}

/** Follows `GET /events`; polls every two seconds while it is not open. */
function listen() {
  if (events) events.close();
  events = new EventSource("/events", { withCredentials: true });
  events.addEventListener("file", (event) => {
    try { changed(JSON.parse(event.data)); } catch { /* ignore a malformed event */ }
  });
  events.addEventListener("open", () => { clearInterval(pollTimer); pollTimer = null; });
  events.addEventListener("error", () => {
    if (!pollTimer) pollTimer = setInterval(() => (file.isOpen() ? file.refresh() : files.refresh()), 2000);
    // A stream the server refused (404 before it was offered, 401) is not retried by the
    // browser: try again in a while.
    if (events && events.readyState === EventSource.CLOSED) {
      events = null;
      setTimeout(() => { if (!byId("who").hidden && !events) listen(); }, 15000);
    }
  });
}

async function start() {
  api.whenSignedOut(signedOut);
  files.setup();
  file.setup();
  byId("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = byId("api-key");
    const error = byId("sign-in-error");
    error.textContent = "";
    try {
      const session = await api.signIn(input.value.trim());
      input.value = "";
      announce(`Signed in as ${session.client_name}`);
      signedIn(session);
    } catch (failure) {
      error.textContent = failure.status === 401 ? "That API key is not valid." : failure.message;
      input.focus();
    }
  });
  byId("sign-out").addEventListener("click", async () => {
    try { await api.signOut(); } finally { signedOut(); announce("Signed out"); }
  });
  window.addEventListener("hashchange", route);
  try {
    const session = await api.currentSession();
    if (session) signedIn(session); else signedOut();
  } catch (failure) {
    signedOut();
    byId("sign-in-error").textContent = failure.message;
  }
}

start();
