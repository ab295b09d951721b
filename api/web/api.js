// The page's one way to the JSON API: the same endpoints as every other client, signed in by
// the session cookie (sent by the browser; scripts cannot read it) and, on every request that
// changes something, the session's CSRF token in `X-CSRF-Token`.

let csrfToken = null;

/** An answer of the API that was not 2xx, with its stable `code`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Called with no arguments when an answer says the session ended. */
let onSignedOut = () => {};
export function whenSignedOut(handler) { onSignedOut = handler; }

async function failure(response) {
  let code = "http_" + response.status;
  let message = response.statusText || "request failed";
  try {
    const body = await response.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch { /* not JSON */ }
  return new ApiError(response.status, code, message);
}

/** `method path` with an optional JSON body; the parsed JSON answer, or null for 204. */
export async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (!response.ok) {
    const error = await failure(response);
    if (response.status === 401 && path !== "/session") onSignedOut();
    throw error;
  }
  return response.status === 204 ? null : response.json();
}

/** Exchanges the API key for the session cookie. */
export async function signIn(apiKey) {
  const session = await request("POST", "/session", { api_key: apiKey });
  csrfToken = session.csrf_token;
  return session;
}

/** The current session (after a reload), or null when signed out. */
export async function currentSession() {
  try {
    const session = await request("GET", "/session");
    csrfToken = session.csrf_token;
    return session;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

/** Ends the session on the server and forgets the CSRF token. */
export async function signOut() {
  try { await request("DELETE", "/session"); } finally { csrfToken = null; }
}

/** Uploads `file`, calling `onProgress(sent, total)` as it goes; resolves to the file JSON. */
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/files/upload");
    xhr.setRequestHeader("Accept", "application/json");
    if (csrfToken) xhr.setRequestHeader("X-CSRF-Token", csrfToken);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 202) return resolve(body);
      if (xhr.status === 401) onSignedOut();
      const error = body && body.error ? body.error : { code: "http_" + xhr.status, message: xhr.statusText };
      reject(new ApiError(xhr.status, error.code, error.message));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network", "the upload could not be sent")));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}
