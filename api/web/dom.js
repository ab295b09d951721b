// Building DOM nodes without innerHTML: every text goes in as text, so nothing a file or an
// error message contains can become markup.

/** An element with attributes (`class`, `hidden`, `on…` listeners, others as attributes). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      node.className = value;
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The element with id `id`. */
export const byId = (id) => document.getElementById(id);

/** Says `message` to screen readers through the page's polite live region. */
export function announce(message) {
  const announcer = byId("announcer");
  announcer.textContent = "";
  // A new node after a tick, so that repeating the same message is read again.
  setTimeout(() => { announcer.textContent = message; }, 50);
}

/** "45.2% (90 of 200)" */
export function progressText(progress) {
  return `${progress.percent.toFixed(1)}% (${progress.processed} of ${progress.total})`;
}

/** Where a paged list is: "Page 2 of 5 (41 files)", "Page 1 of 1 (1 file)". */
export function pageText(page, perPage, total, singular, plural) {
  const pages = Math.max(1, Math.ceil(total / perPage));
  return `Page ${page} of ${pages} (${total} ${total === 1 ? singular : plural})`;
}

/** A status as people read it: "COMPLETED" → "Completed". */
export function statusLabel(status) {
  return status.charAt(0) + status.slice(1).toLowerCase();
}

/** A short local date and time. */
export function when(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
}
