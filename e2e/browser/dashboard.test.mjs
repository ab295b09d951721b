// The dashboard in a real headless Chromium: sign in, upload a file of good and failing
// domains, watch its progress reach COMPLETED without reloading, filter the failures, retry
// them, download the CSV, delete the file. A screenshot of each step goes to OUTPUT_DIR.
//
// Environment (set by scripts/browser-test): API_URL and API_KEY of a running stack,
// CHROMIUM (default /usr/bin/chromium), OUTPUT_DIR (default target/browser-test).
// Any failure exits non-zero; nothing is skipped.

import { strict as assert } from "node:assert";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const apiUrl = required("API_URL");
const apiKey = required("API_KEY");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const outputDir = path.resolve(process.env.OUTPUT_DIR || "target/browser-test");
const STEP_TIMEOUT = 90_000;
/** Statuses of the page's `GET /events` requests: the live updates come from this stream. */
const eventStreams = [];

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set (scripts/browser-test sets it)`);
  return value;
}

let stepNumber = 0;
async function step(page, name, body) {
  stepNumber += 1;
  const label = `${String(stepNumber).padStart(2, "0")}-${name}`;
  process.stdout.write(`step ${label} … `);
  await body();
  await page.screenshot({ path: path.join(outputDir, `${label}.png`), fullPage: true });
  process.stdout.write("ok\n");
}

/** The domains of the upload: most have an icon, `missing-*` hosts answer 404, one is invalid. */
function domainList() {
  const good = Array.from({ length: 30 }, (_, i) => `site-${i}.example.com`);
  const missing = Array.from({ length: 8 }, (_, i) => `missing-${i}.example.org`);
  return ["domain", ...good, ...missing, "not a domain"].join("\n") + "\n";
}

async function main() {
  await rm(outputDir, { recursive: true, force: true });
  await mkdir(outputDir, { recursive: true });
  const profile = await mkdtemp(path.join(tmpdir(), "fp-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 860 },
    acceptDownloads: true,
  });
  const problems = [];
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("response", (response) => {
      if (new URL(response.url()).pathname === "/events") eventStreams.push(response.status());
    });
    page.on("console", (message) => {
      const text = message.text();
      if (message.type() === "error" && /Content Security Policy|Refused to/i.test(text)) {
        problems.push(`console: ${text}`);
      }
    });
    await run(page, context);
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
  assert.deepEqual(problems, [], "the page ran without script errors or CSP violations");
  console.log(`all steps passed; screenshots in ${outputDir}`);
}

async function run(page, context) {
  await step(page, "sign-in-form", async () => {
    await page.goto(`${apiUrl}/`);
    await page.locator("#sign-in-view").waitFor({ state: "visible" });
    assert.equal(await page.locator("#api-key").evaluate((input) => document.activeElement === input), true,
      "the key field has the focus");
  });

  await step(page, "signed-in", async () => {
    // With the keyboard only: type the key, press Enter.
    await page.keyboard.type(apiKey);
    await page.keyboard.press("Enter");
    await page.locator("#files-view").waitFor({ state: "visible" });
    const cookies = await context.cookies(apiUrl);
    const session = cookies.find((cookie) => cookie.name.endsWith("fp_session"));
    assert.ok(session, `a session cookie is set: ${JSON.stringify(cookies)}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, "Strict");
    assert.ok(!page.url().includes(apiKey), "the key is not in the URL");
    assert.equal(await page.evaluate(() => document.cookie.includes("fp_session")), false,
      "scripts cannot read the session cookie");
    await page.locator("#counts button").first().waitFor();
  });

  // A marker that a reload would lose: the page must update without one.
  await page.evaluate(() => { window.notReloaded = true; });
  const uploadPath = path.join(outputDir, "domains.csv");
  await writeFile(uploadPath, domainList());
  let fileId;

  await step(page, "uploading", async () => {
    await page.setInputFiles("#file-input", uploadPath);
    const row = page.locator("#files-table tbody tr").first();
    await row.locator("a", { hasText: "domains.csv" }).waitFor();
    fileId = await row.getAttribute("data-file-id");
    assert.match(fileId, /^[0-9a-f-]{36}$/);
  });

  await step(page, "progress", async () => {
    const row = page.locator(`#files-table tr[data-file-id="${fileId}"]`);
    // Progress is shown while the worker runs (the icon server answers slowly): a bar part
    // way, on a PROCESSING row, without a reload.
    await page.waitForFunction((id) => {
      const row = document.querySelector(`#files-table tr[data-file-id="${id}"]`);
      const bar = row && row.querySelector("progress");
      return bar && row.dataset.status === "PROCESSING" && bar.value > 0 && bar.value < 100;
    }, fileId, { polling: 100 });
    assert.ok(await row.count() === 1);
  });

  await step(page, "completed", async () => {
    await page.locator(`#files-table tr[data-file-id="${fileId}"][data-status="COMPLETED"]`).waitFor();
    const text = await page.locator(`#files-table tr[data-file-id="${fileId}"] .progress-text`).textContent();
    assert.equal(text, "100.0% (39 of 39)");
    assert.equal(await page.evaluate(() => window.notReloaded), true, "no reload happened");
    assert.ok(eventStreams.includes(200), `the page follows GET /events: ${eventStreams}`);
    await page.waitForFunction(() => {
      const count = document.querySelector('#counts [data-status="COMPLETED"] .count-number');
      return count && count.textContent === "1";
    });
    assert.equal(await page.locator("#files-page").textContent(), "Page 1 of 1 (1 file)");
  });

  await step(page, "file-page", async () => {
    await page.locator(`#files-table tr[data-file-id="${fileId}"] a`).click();
    await page.locator("#file-view").waitFor({ state: "visible" });
    await page.locator("#file-status", { hasText: "Completed" }).waitFor();
    await page.locator("#results-table tbody tr").first().waitFor();
    assert.match(await page.locator("#results-page").textContent(), /\(39 results\)/);
    // Every stored icon loads and is an image. Those below the viewport are lazy: scrolling to
    // the last row loads them (and the full-page screenshot shows them all); the rows scrolled
    // out of view by then must have loaded on their own.
    await page.locator("#results-table tbody tr").last().scrollIntoViewIfNeeded();
    await page.waitForFunction(() => {
      const images = [...document.querySelectorAll("#results-table img")];
      return images.length > 0 && images.every((img) => img.complete);
    });
    const broken = await page.locator("#results-table img").evaluateAll((images) => images
      .filter((img) => img.naturalWidth === 0)
      .map((img) => img.closest("tr").querySelector(".domain").textContent));
    assert.deepEqual(broken, [], "every icon on the page is an image");
    await page.evaluate(() => window.scrollTo(0, 0));
  });

  await step(page, "failures", async () => {
    await page.selectOption("#result-status", "failed");
    await page.locator("#results-page", { hasText: "(9 results)" }).waitFor();
    const statuses = await page.locator("#results-table tbody tr").evaluateAll(
      (rows) => rows.map((row) => row.dataset.status));
    assert.deepEqual([...new Set(statuses)], ["failed"]);
    await page.selectOption("#result-category", "invalid_domain");
    await page.locator("#results-page", { hasText: "(1 result)" }).waitFor();
    await page.selectOption("#result-category", "");
    await page.locator("#results-page", { hasText: "(9 results)" }).waitFor();
  });

  await step(page, "retried", async () => {
    await page.locator("#retry").click();
    await page.locator("#action-message", { hasText: "Retrying" }).waitFor();
    // Retried failures resolve again (and fail again): their tries grow, the file completes.
    await page.locator("#file-status", { hasText: "Completed" }).waitFor();
    await page.waitForFunction(async (id) => {
      const answer = await fetch(`/files/${id}/results?status=failed&error_category=http_status`);
      const page = await answer.json();
      return page.items.length > 0 && page.items.every((result) => result.tries >= 2);
    }, fileId, { polling: 500 });
    await page.locator("#results-table tbody tr").first().waitFor();
  });

  await step(page, "download-csv", async () => {
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.locator("#download-csv").click(),
    ]);
    const saved = path.join(outputDir, "results.csv");
    await download.saveAs(saved);
    const lines = (await readFile(saved, "utf8")).trim().split("\n");
    assert.match(lines[0], /^domain,favicon_url,status/);
    assert.equal(lines.length, 40, "a header and one line per domain");
    assert.ok(lines.some((line) => line.startsWith("site-0.example.com,")));
  });

  await step(page, "confirm-delete", async () => {
    await page.locator("#delete").click();
    await page.locator("#confirm-dialog[open]").waitFor();
    assert.match(await page.locator("#confirm-text").textContent(), /domains\.csv/);
  });

  await step(page, "deleted", async () => {
    await page.locator("#confirm-yes").click();
    await page.locator("#files-view").waitFor({ state: "visible" });
    await page.locator(`#files-table tr[data-file-id="${fileId}"]`).waitFor({ state: "detached" });
    const status = await page.evaluate(async (id) => (await fetch(`/files/${id}`)).status, fileId);
    assert.equal(status, 404);
  });

  await step(page, "phone", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator("#drop-zone").waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false, "nothing wider than a phone's screen");
  });
}

main().catch((error) => {
  console.error(`\nbrowser test FAILED: ${error.stack || error}`);
  process.exit(1);
});
