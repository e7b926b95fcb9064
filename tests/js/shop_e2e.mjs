// Drive the demo shop page in headless Debian Chromium (playwright-core, executablePath
// /usr/bin/chromium): one page visit per customer, a real click on "Add to order" where
// asked, a screenshot of the first offer shown. Usage: node shop_e2e.mjs INPUT.json
// INPUT: {"shop": url, "collector": url, "token": str, "experiment": id,
//         "customers": [{"id", "channel", "click"}], "screenshot": path, "profile": dir}
// Prints one JSON object: {"visits": [{"id", "state", "variant", "wording", "console"}]}.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const context = await chromium.launchPersistentContext(input.profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 900, height: 600 },
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const page = context.pages()[0] || (await context.newPage());
const consoleLines = [];
page.on("console", (message) => consoleLines.push(message.type() + ": " + message.text()));
page.on("pageerror", (error) => consoleLines.push("pageerror: " + error.message));

const visits = [];
let screenshotTaken = false;
for (const customer of input.customers) {
  consoleLines.length = 0;
  const query = new URLSearchParams({
    collector: input.collector,
    token: input.token,
    experiment: input.experiment,
    customer: customer.id,
    channel: customer.channel,
  });
  await page.goto(input.shop + "?" + query.toString());
  await page.waitForFunction(
    () => document.getElementById("status").dataset.state !== "loading",
    null,
    { timeout: 20000 },
  );
  let state = await page.$eval("#status", (el) => el.dataset.state);
  const variant = await page.$eval("#offer", (el) => (el.hidden ? null : el.dataset.variant));
  const wording = await page.$eval("#offer-wording", (el) => el.textContent);
  if (state === "exposed" && !screenshotTaken) {
    await page.screenshot({ path: input.screenshot });
    screenshotTaken = true;
  }
  if (state === "exposed" && customer.click) {
    await page.getByRole("button", { name: "Add to order" }).click();
    await page.waitForFunction(
      () => ["ordered", "error"].includes(document.getElementById("status").dataset.state),
      null,
      { timeout: 20000 },
    );
    state = await page.$eval("#status", (el) => el.dataset.state);
  }
  const status = await page.$eval("#status", (el) => el.textContent);
  visits.push({ id: customer.id, state, variant, wording, status, console: [...consoleLines] });
}
await context.close();
process.stdout.write(JSON.stringify({ visits }) + "\n");
