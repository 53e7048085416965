// Time to first render in headless Chromium, for benchmarks/ui_workloads.py.
//
//   node tests/bench.mjs '{"url": "...", "ready": "<JS expression>", "repeats": 3, "timeout_ms": 60000,
//                         "scroll": {"fraction": 0.5, "ready": "<JS expression>"}}'
//
// Each repeat opens a fresh browser context (empty cache), navigates to `url`, and records the
// moment (ms since navigation start) after which `ready` first holds and the page has painted
// (checked on every DOM change, at most once a frame; "painted" = two animation frames later).
// With `scroll`, it then scrolls the first scrollable grid to `fraction` of its height and
// times until `scroll.ready` holds. Prints one JSON object: {"first_render_ms": [...], ...}.

import { chromium } from "@playwright/test";

const spec = JSON.parse(process.argv[2]);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

function watcher(ready) {
  const check = new Function(`return (${ready})`);
  let scheduled = false;
  const test = () => {
    scheduled = false;
    if (window.__tlReady !== undefined) return;
    let ok = false;
    try {
      ok = Boolean(check());
    } catch {
      ok = false;
    }
    if (ok) {
      window.__tlReady = performance.now();
      requestAnimationFrame(() => requestAnimationFrame(() => (window.__tlPainted = performance.now())));
    }
  };
  const obs = new MutationObserver(() => {
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(test);
    }
  });
  obs.observe(document, { childList: true, subtree: true, characterData: true, attributes: true });
}

const out = { url: spec.url, first_render_ms: [], dom_ready_ms: [], scroll_render_ms: [], errors: [] };
for (let i = 0; i < (spec.repeats ?? 3); i++) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  await page.addInitScript(watcher, spec.ready);
  try {
    await page.goto(spec.url, { waitUntil: "commit" });
    await page.waitForFunction(() => window.__tlPainted !== undefined, null, { timeout: spec.timeout_ms ?? 60_000, polling: 50 });
    out.first_render_ms.push(await page.evaluate(() => window.__tlPainted));
    out.dom_ready_ms.push(await page.evaluate(() => window.__tlReady));
    if (spec.scroll) {
      const took = await page.evaluate(async ({ fraction, ready, timeout }) => {
        const check = new Function(`return (${ready})`);
        const grid = document.querySelector(".grid-scroll");
        const t0 = performance.now();
        grid.scrollTop = grid.scrollHeight * fraction;
        while (!check()) {
          if (performance.now() - t0 > timeout) return null;
          await new Promise((r) => requestAnimationFrame(r));
        }
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        return performance.now() - t0;
      }, { fraction: spec.scroll.fraction, ready: spec.scroll.ready, timeout: spec.timeout_ms ?? 60_000 });
      out.scroll_render_ms.push(took);
    }
  } catch (e) {
    out.errors.push(String(e).split("\n")[0]);
  }
  await context.close();
}
await browser.close();
console.log(JSON.stringify(out));
