// The dashboard in a real (headless) Chromium: log in, enable the webhooks plugin, send a
// test event and see it succeed, make the receiver fail and see the failure with its
// response body, resend and see the new attempt, download a quotation file, check the
// phone layout, log out. Screenshots of the main pages go to <screenshot-dir>.
//
//   node flow.mjs <server-url> <token> <receiver-url> <screenshot-dir>
//
// The receiver takes deliveries at /hook and switches with GET /control/fail and
// /control/ok (crates/skyhook/tests/dashboard_browser.rs runs it). Exits non-zero on
// the first failed check.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [server, token, receiver, shots] = process.argv.slice(2);
if (!shots) {
  console.error("usage: node flow.mjs <server-url> <token> <receiver-url> <screenshot-dir>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

let checks = 0;
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  checks += 1;
  console.log(`ok - ${what}`);
}

/** Reloads until `fn` is true (the pages also refresh themselves while a delivery is due). */
async function until(page, what, fn, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) {
      await page.screenshot({ path: join(shots, "failure.png"), fullPage: true });
      throw new Error(`timed out waiting for ${what}`);
    }
    await page.waitForTimeout(500);
    await page.reload();
  }
}

const shot = (page, name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const problems = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on("dialog", (d) => d.accept()); // the confirmations of the rotate buttons
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // The 401 of the wrong token and the 422 of the bad URL are answers the flow asks
    // for; anything else (a CSP refusal, a missing asset, a script error) is a problem.
    const expected = /Failed to load resource: .* status of (401|422)/.test(m.text());
    if (m.type() === "error" && !expected) problems.push(`console error: ${m.text()}`);
  });

  // Log in.
  await page.goto(`${server}/`);
  check(page.url().endsWith("/login"), "logged out: the dashboard leads to the login form");
  await shot(page, "01-login");
  await page.getByLabel("API token").fill("sk_not_a_token");
  await page.getByRole("button", { name: "Log in" }).click();
  check(await page.getByText("This token is not valid").isVisible(), "a wrong token is refused with a message");
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${server}/`);
  check(await page.getByRole("heading", { name: "Projects" }).isVisible(), "logged in: the projects list");
  await shot(page, "02-projects");

  // The project and its quotation secret.
  await page.locator("table a").first().click();
  check(await page.getByText("projectUrl").isVisible(), "the project page shows its projectUrl");
  await page.getByText("Reveal quotation secret").click();
  const qs = (await page.locator("#quotation-secret-value").textContent()).trim();
  check(qs.startsWith("qs_"), "the quotation secret is revealed");
  await page.getByRole("button", { name: "Rotate quotation secret" }).click();
  await page.getByText("Reveal quotation secret").click();
  const qs2 = (await page.locator("#quotation-secret-value").textContent()).trim();
  check(qs2.startsWith("qs_") && qs2 !== qs, "the quotation secret is rotated");
  await shot(page, "03-project");

  // Plugins → Webhooks: a bad URL is refused inline, then a good one is saved.
  await page.getByRole("link", { name: "Plugins · Webhooks" }).click();
  await page.getByLabel("Enabled").check();
  await page.getByLabel("Endpoint URL").fill("not a url");
  await page.getByRole("button", { name: "Save" }).click();
  check(await page.locator("#url-error").isVisible(), "a bad URL shows an inline error");
  check((await page.getByLabel("Endpoint URL").getAttribute("aria-invalid")) === "true", "the field is marked invalid");
  await shot(page, "04-webhooks-invalid-url");
  await page.getByLabel("Endpoint URL").fill(`${receiver}/hook`);
  await page.getByRole("button", { name: "Save" }).click();
  check(await page.getByText("Saved.").isVisible(), "the plugin is enabled with the URL");
  check(await page.locator("#insecure-warning").isVisible(), "an http:// URL is marked insecure");
  await page.getByText("Reveal signing secret").click();
  check((await page.locator("#signing-secret").textContent()).trim().startsWith("whsec_"), "the signing secret is revealed");

  // A test event that succeeds.
  await page.getByRole("button", { name: "Send test event" }).click();
  await until(page, "the test event to succeed",
    async () => (await page.locator('#test-result [data-status="success"]').count()) === 1);
  check(await page.locator("#test-result").getByText("HTTP 200").isVisible(), "the test event's attempt: HTTP 200");
  await shot(page, "05-webhooks-test-ok");

  await page.getByRole("link", { name: "Event log" }).click();
  check((await page.locator('table.log [data-status="success"]').count()) >= 1, "the event log shows the success");
  await shot(page, "06-event-log");

  // The receiver fails: the failure and its response body.
  await fetch(`${receiver}/control/fail`);
  await page.getByRole("link", { name: "Plugins · Webhooks" }).click();
  await page.getByRole("button", { name: "Send test event" }).click();
  await until(page, "the failed attempt",
    async () => (await page.locator("#test-result").getByText("HTTP 503").count()) === 1);
  check(await page.locator("#test-result").getByText("ERP down for maintenance").isVisible(),
    "the failure's response body is shown");
  await page.getByRole("link", { name: "Event log" }).click();
  const newest = page.locator("table.log tbody tr").first();
  check((await newest.locator('[data-status="pending"]').count()) === 1, "the log shows the failed event as pending");
  check((await newest.getByText("next retry").count()) === 1, "with its next retry");
  await page.getByRole("combobox", { name: "Status" }).selectOption("pending");
  await page.getByRole("button", { name: "Filter" }).click();
  check((await page.locator("table.log tbody tr").count()) === 1, "filtering by status");
  await shot(page, "07-event-log-pending");
  await page.locator("table.log tbody tr a").first().click();
  check(await page.getByText("HTTP 503").isVisible(), "the message page shows the attempt's status code");
  check(await page.getByText("ERP down for maintenance").isVisible(), "and its response body");
  check(await page.getByText('"test": true').isVisible(), "and the pretty-printed payload");
  await shot(page, "08-message-failed");

  // Resend once the receiver is back: a new attempt.
  await fetch(`${receiver}/control/ok`);
  await page.getByRole("button", { name: /^Resend to/ }).click();
  check(await page.getByText("Resend queued").isVisible(), "resend is queued");
  await until(page, "the resent attempt", async () => (await page.locator("li.attempt").count()) === 2);
  check((await page.locator("li.attempt.success").getByText("HTTP 200").count()) === 1, "the new attempt succeeded");
  await shot(page, "09-message-resent");

  // Quotations: list, detail, a download through the session.
  await page.getByRole("link", { name: "Quotations" }).click();
  await shot(page, "10-quotations");
  await page.locator("table a").first().click();
  const link = page.getByRole("link", { name: /^Download / }).first();
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  const { readFile } = await import("node:fs/promises");
  const bytes = await readFile(await download.path(), "utf8");
  check(bytes === "hello drawing\n", "a quotation file downloads through the dashboard");
  await shot(page, "11-quotation");

  // The overview's health chart, then phone width without horizontal scrolling.
  await page.getByRole("link", { name: "Overview" }).click();
  check((await page.locator("svg.chart").count()) >= 1, "endpoint health chart");
  check(await page.locator(".health").getByText("Healthy").isVisible(), "the plugin is healthy again");
  await shot(page, "12-health");
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [path, name] of [["", "13-phone-overview"], ["/webhooks", "14-phone-webhooks"], ["/events", "15-phone-events"]]) {
    await page.goto(page.url().replace(/\/app\/([^/?]+).*$/, `/app/$1${path}`));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `no horizontal scrolling at phone width (${name})`);
    await shot(page, name);
  }

  // Log out.
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(/\/login$/);
  await page.goto(`${server}/`);
  check(page.url().endsWith("/login"), "logged out");

  check(problems.length === 0, `no page or console errors (CSP blocks nothing we need): ${problems.join("; ")}`);
  console.log(`browser flow: all ${checks} checks ok`);
} finally {
  await browser.close();
}
