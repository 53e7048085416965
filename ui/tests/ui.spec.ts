// The UI in a real browser against a live server with seeded data (tests/ui/seed.py): every page
// loads without console errors, and the main tasks work by clicking and typing. Screenshots of
// every page land in ui/screenshots/ for reviewers.

import { expect, test as base, type Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

interface Seed {
  store: string;
  experiments: Record<string, string>;
  runs: string[];
  best_run: string;
  running_run: string;
  model: { name: string; alias: string; versions: number[] };
}

const seed = (): Seed => JSON.parse(process.env.TRACKLOG_UI_SEED ?? "{}");
const url = (hash: string) => `${process.env.TRACKLOG_UI_URL}#${hash}`;
// where screenshots go: ui/screenshots (committed) by default; the pytest wrapper passes a
// temporary folder unless asked to refresh the committed ones; "0" takes none
const REPO = fileURLToPath(new URL("../..", import.meta.url));
const SHOTS = resolve(REPO, process.env.TRACKLOG_UI_SCREENSHOTS || "ui/screenshots");
if (process.env.TRACKLOG_UI_SCREENSHOTS !== "0") mkdirSync(SHOTS, { recursive: true });

async function shot(page: Page, name: string): Promise<void> {
  if (process.env.TRACKLOG_UI_SCREENSHOTS === "0") return;
  await page.waitForTimeout(150); // let the last paint land
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

// every test fails on a console error or an uncaught exception in the page, except for the
// failed requests it provokes on purpose (`errors.allow(400)`: Chromium logs every 4xx response)
interface Errors {
  allow: (status: number) => void;
}
const test = base.extend<{ errors: Errors }>({
  errors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      const allowed = new Set<number>();
      page.on("console", (m) => {
        const status = /status of (\d+)/.exec(m.text());
        if (m.type() === "error" && !(status && allowed.has(Number(status[1])))) errors.push(`${m.text()} at ${m.location().url}`);
      });
      page.on("pageerror", (e) => errors.push(e.message));
      await use({ allow: (status) => allowed.add(status) });
      expect(errors, "console errors").toEqual([]);
    },
    { auto: true },
  ],
});

test("experiments: list with run counts; create, rename, delete", async ({ page }) => {
  await page.goto(url("/"));
  const table = page.getByTestId("experiments-table");
  const vision = table.locator("tr", { hasText: "vision-resnet" });
  await expect(vision).toContainText("25");
  await shot(page, "experiments");

  await page.getByRole("button", { name: "New experiment" }).click();
  const name = `made-${Date.now()}`; // unique, so the test reruns against a kept server
  await page.getByRole("dialog").locator("input").fill(name);
  await page.getByRole("dialog").getByRole("button", { name: "Create" }).click();
  await expect(page.getByTestId("runs-title")).toHaveText(name);

  await page.goto(url("/"));
  const made = table.locator("tr", { hasText: name });
  await made.hover();
  await made.getByRole("button", { name: `Rename ${name}` }).click();
  const input = table.locator("td.name-cell input.input"); // the row's text is now the input's value
  await input.fill(`re${name}`);
  await input.press("Enter");
  const renamed = table.locator("tr", { hasText: `re${name}` });
  await expect(renamed).toBeVisible();
  await renamed.getByRole("button", { name: "Delete" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await expect(renamed).toHaveCount(0);
});

test("runs table: search, bad filter error, sort, columns, grouping", async ({ page, errors }) => {
  errors.allow(400); // the bad filter
  const s = seed();
  await page.goto(url(`/experiments/${s.experiments["vision-resnet"]}`));
  const count = page.getByTestId("runs-count");
  await expect(count).toHaveText(/25 runs/);
  await shot(page, "runs-table");

  // search with the filter grammar
  const box = page.getByTestId("filter-input");
  await box.fill("params.lr = '0.1' and metrics.acc > 0.9");
  await box.press("Enter");
  await expect(count).toHaveText(/8 runs/);

  // a bad filter shows the parser's message and points at its column
  await box.fill("metrics.acc > 'high'");
  await box.press("Enter");
  const err = page.getByTestId("filter-error");
  await expect(err).toContainText("col 15");
  await expect(err).toContainText("expected a number");
  await expect(err.locator(".caret-at")).toHaveText("'");
  await shot(page, "runs-filter-error");
  await page.getByRole("button", { name: "Clear" }).click();
  await expect(count).toHaveText(/25 runs/);

  // sort by a metric column, both ways
  const accHeader = page.locator("th", { hasText: /^macc/ });
  await accHeader.click();
  await expect(accHeader).toHaveAttribute("aria-sort", "descending");
  const first = page.locator("[data-testid=runs-grid] tbody tr[data-run-id]").first();
  await expect(first).toContainText("best-model");
  await accHeader.click();
  await expect(accHeader).toHaveAttribute("aria-sort", "ascending");
  await expect(first).not.toContainText("best-model");

  // column chooser: add the "team" tag, drop the "seed" param
  await page.getByRole("button", { name: /Columns/ }).click();
  const chooser = page.getByTestId("column-chooser");
  await chooser.getByLabel("team").check();
  await chooser.getByLabel("seed").uncheck();
  await shot(page, "runs-columns");
  await page.getByTestId("runs-title").click(); // close the popover
  await expect(page.locator("[data-testid=runs-grid] th", { hasText: /^tteam/ })).toBeVisible();
  await expect(page.locator("[data-testid=runs-grid] th", { hasText: /^pseed/ })).toHaveCount(0);

  // group by a param
  await page.getByLabel("Group by").selectOption("params.optimizer");
  const groups = page.getByTestId("run-groups");
  await expect(groups.locator(".group-head")).toHaveCount(2);
  await groups.locator(".group-head", { hasText: "adam" }).click();
  await expect(groups.locator("tr[data-run-id]").first()).toBeVisible();
  await shot(page, "runs-grouped");
});

test("run page: overview, tags and description edits, artifacts with previews", async ({ page }) => {
  const s = seed();
  await page.goto(url(`/experiments/${s.experiments["vision-resnet"]}`));
  await page.locator("tr[data-run-id]", { hasText: "best-model" }).click();
  await expect(page.getByTestId("run-title")).toContainText("best-model");
  await expect(page.getByTestId("metrics-table")).toContainText("train_loss");
  // MLflow's system metrics stand apart from the model's
  await expect(page.getByTestId("metrics-table")).not.toContainText("system/");
  await expect(page.getByTestId("system-metrics-table")).toContainText("system/cpu_utilization_percentage");
  await expect(page.getByTestId("logged-models")).toContainText("resnet-classifier v1");
  await expect(page.getByText("fold-0")).toBeVisible();
  await shot(page, "run-overview");

  const tags = page.getByTestId("tags");
  await tags.getByLabel("New tag key").fill("reviewed");
  await tags.getByLabel("New tag value").fill("yes");
  await tags.getByRole("button", { name: "Add tag" }).click();
  await expect(tags.locator("tr", { hasText: "reviewed" })).toContainText("yes");
  await tags.getByRole("button", { name: "Delete tag reviewed" }).click();
  await expect(tags.locator("tr", { hasText: "reviewed" })).toHaveCount(0);

  const desc = page.getByTestId("description");
  await desc.getByRole("button", { name: "Edit" }).click();
  await desc.locator("textarea").fill("Edited from the browser.");
  await desc.getByRole("button", { name: "Save" }).click();
  await expect(desc).toContainText("Edited from the browser.");

  await page.getByRole("tab", { name: "Artifacts" }).click();
  await page.getByRole("button", { name: /config\.json/ }).click();
  const preview = page.getByTestId("artifact-preview");
  await expect(preview).toContainText('"batch_size": 64');
  await page.getByRole("button", { name: /^▸ plots/ }).click();
  await page.getByRole("button", { name: /gradient\.png/ }).click();
  await expect(preview.locator("img")).toBeVisible();
  await expect.poll(() => preview.locator("img").evaluate((i: HTMLImageElement) => i.naturalWidth)).toBe(96);
  await shot(page, "run-artifacts");
  await page.getByRole("button", { name: /^▸ eval/ }).click();
  await page.getByRole("button", { name: /predictions\.csv/ }).click();
  await expect(preview.locator("table")).toContainText("score");
  await page.getByRole("button", { name: "Model: model", exact: true }).click();
  await page.getByRole("button", { name: /^MLmodel/ }).click();
  await expect(page.getByTestId("mlmodel-preview")).toContainText("sklearn");
  await shot(page, "run-model");
});

test("charts: a long history is downsampled, zoom fetches exact points", async ({ page }) => {
  const s = seed();
  const answer = page.waitForResponse((r) => r.url().includes("metrics/downsample"));
  await page.goto(url(`/runs/${s.best_run}?tab=charts&keys=train_loss`));
  // the spike at step 25,007 survives downsampling
  const series = (await (await answer).json()).series[0];
  expect(series.count).toBe(50_000);
  expect(series.x.length).toBeLessThan(5000);
  expect(Math.max(...series.y)).toBeGreaterThan(5);
  const panel = page.getByTestId("chart-train_loss");
  await expect(panel.locator("canvas")).toBeVisible();
  const info = panel.getByTestId("chart-info");
  await expect(info).toContainText("50,000 points");
  await expect(info).toContainText("drawn (min/max per bucket)");
  await shot(page, "chart-run");

  // drag-select a narrow range: the server answers with every point in it
  const over = panel.locator(".u-over");
  const box = (await over.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.52, box.y + box.height / 2, { steps: 4 });
  await page.mouse.up();
  await expect(info).not.toContainText("drawn");
  await expect(panel.getByRole("button", { name: "Reset zoom" })).toBeVisible();
  await panel.getByRole("button", { name: "Reset zoom" }).click();
  await expect(info).toContainText("drawn");

  // many runs overlaid, other x axes, smoothing and log scale
  await page.goto(url(`/charts?runs=${s.runs.slice(0, 6).join(",")}`));
  await expect(page.getByTestId("chart-loss").locator("canvas")).toBeVisible();
  await page.getByLabel("X axis").selectOption("relative");
  await page.getByLabel("Smoothing").fill("0.6");
  await page.getByText("Log scale").click();
  const loss = page.getByTestId("chart-loss");
  await expect(loss.getByTestId("chart-info")).toContainText("600 points");
  await loss.locator(".u-over").hover({ position: { x: 200, y: 60 } });
  await expect(loss.getByTestId("chart-tip")).toContainText("resnet-00");
  await expect(loss.getByTestId("chart-tip")).toContainText("Relative");
  await shot(page, "charts-compare");
});

test("charts: system metrics are a group of their own", async ({ page }) => {
  const s = seed();
  await page.goto(url(`/runs/${s.best_run}?tab=charts`));
  const system = page.getByTestId("chart-group-system");
  await expect(system.getByRole("heading", { name: "System metrics" })).toBeVisible();
  await expect(system.getByTestId("chart-system/cpu_utilization_percentage").locator("canvas")).toBeVisible();
  await expect(system.getByTestId("chart-system/system_memory_usage_megabytes")).toBeVisible();
  await expect(system.getByTestId("chart-train_loss")).toHaveCount(0);
  const model = page.getByTestId("chart-group-model");
  await expect(model.getByTestId("chart-train_loss")).toBeVisible();
  await expect(model.locator("[data-testid^='chart-system/']")).toHaveCount(0);
  await shot(page, "chart-system-metrics");
});

test("compare runs: differences, parallel coordinates, scatter", async ({ page }) => {
  const s = seed();
  await page.goto(url(`/experiments/${s.experiments["vision-resnet"]}`));
  for (const name of ["resnet-00", "resnet-01", "resnet-02"]) {
    await page.getByRole("checkbox", { name: `Select ${name}` }).check();
  }
  await page.getByTestId("compare-selected").click();
  const table = page.getByTestId("compare-table");
  await expect(table).toContainText("resnet-02");
  await expect(table.locator("tr.diff", { hasText: "lr" })).toBeVisible();
  await expect(page.getByTestId("parallel-coordinates").locator("polyline")).toHaveCount(3);
  await expect(page.getByTestId("scatter").locator("circle")).toHaveCount(3);
  await page.getByLabel("Only differences").check();
  await expect(table.locator("tr", { hasText: "team" })).toHaveCount(0);
  await shot(page, "compare");
});

test("registry: models, versions, move an alias, history", async ({ page }) => {
  const s = seed();
  await page.goto(url("/models"));
  await expect(page.getByTestId("models-table")).toContainText(/@champion → v\d/);
  await expect(page.getByTestId("models-table")).not.toContainText("greeting-prompt"); // a prompt is no model
  await shot(page, "models");
  await page.getByRole("link", { name: s.model.name }).click();
  await expect(page.getByTestId("model-title")).toHaveText(s.model.name);
  // move the alias to the version it is not on (v1 on a fresh store)
  const select = page.getByLabel("Version of alias champion");
  const [from, to] = (await select.inputValue()) === "1" ? ["1", "2"] : ["2", "1"];
  await expect(page.locator(`tr[data-version='${from}']`).getByTestId("alias-champion")).toBeVisible();
  await select.selectOption(to);
  await expect(page.locator(`tr[data-version='${to}']`).getByTestId("alias-champion")).toBeVisible();
  await expect(page.locator(`tr[data-version='${from}']`).getByTestId("alias-champion")).toHaveCount(0);
  await expect(page.getByTestId("history")).toContainText(`pointed @champion at v${to}`);
  const stage = page.getByLabel("Stage of version 2");
  const next = (await stage.inputValue()) === "Staging" ? "Archived" : "Staging";
  await stage.selectOption(next);
  await expect(page.getByTestId("history")).toContainText(`moved v2 to stage ${next}`);
  await shot(page, "model");
});

test("SQL console: run a query, see an error, download links", async ({ page, errors }) => {
  errors.allow(400); // the refused DELETE
  await page.goto(url("/sql"));
  const editor = page.getByTestId("sql-editor");
  await editor.fill("SELECT params['optimizer'] AS opt, count(*) AS n FROM runs WHERE params['optimizer'] IS NOT NULL GROUP BY opt ORDER BY opt");
  await page.getByTestId("sql-run").click();
  const result = page.getByTestId("sql-result");
  await expect(result).toContainText("adamw");
  await expect(page.getByTestId("sql-status")).toContainText("3 rows");
  const csv = await page.getByRole("link", { name: "CSV" }).getAttribute("href");
  const body = await (await page.request.get(new URL(csv!, process.env.TRACKLOG_UI_URL).toString())).text();
  expect(body).toContain("opt");
  await shot(page, "sql");
  await editor.fill("DELETE FROM runs");
  await editor.press("Control+Enter");
  await expect(page.getByRole("alert")).toContainText("read-only");
});

test("time travel: pages as they were before the registry existed", async ({ page }) => {
  const s = seed();
  // just after the first run started: before the other runs and any registered model
  const first = await (await page.request.get(`${process.env.TRACKLOG_UI_URL}api/2.0/tracklog/runs/get?run_id=${s.runs[0]}`)).json();
  const moment = first.info.start_time + 1;
  await page.goto(url(`/models?as_of=${moment}`));
  await expect(page.getByTestId("asof-banner")).toBeVisible();
  await expect(page.getByText("No registered models yet")).toBeVisible();
  await page.goto(url(`/experiments/${s.experiments["vision-resnet"]}?as_of=${moment}`));
  await expect(page.getByTestId("runs-count")).not.toHaveText(/25 runs/);
  await shot(page, "time-travel");
  await page.getByTestId("asof-button").click();
  await page.getByRole("button", { name: "Back to now" }).first().click();
  await expect(page.getByTestId("runs-count")).toHaveText(/25 runs/);
});

test("live: a new run appears, logs points and finishes while the pages watch", async ({ page }) => {
  const s = seed();
  const api = `${process.env.TRACKLOG_UI_URL}api/2.0/mlflow/`;
  await page.goto(url(`/experiments/${s.experiments["nlp-bert"]}`));
  await expect(page.getByTestId("runs-count")).toHaveText(/runs?$/);
  const created = await (await page.request.post(api + "runs/create", {
    data: { experiment_id: s.experiments["nlp-bert"], run_name: "live-run", start_time: Date.now() },
  })).json();
  const runId = created.run.info.run_id;
  const row = page.locator(`tr[data-run-id='${runId}']`);
  await expect(row).toContainText("running", { timeout: 15_000 }); // pushed by the event stream, no reload

  await page.goto(url(`/runs/${runId}?tab=charts&keys=loss`));
  const log = (from: number) =>
    page.request.post(api + "runs/log-batch", {
      data: { run_id: runId, metrics: Array.from({ length: 20 }, (_, i) => ({ key: "loss", value: 1 / (from + i + 1), timestamp: Date.now(), step: from + i })) },
    });
  await log(0);
  const info = page.getByTestId("chart-loss").getByTestId("chart-info");
  await expect(info).toContainText("20 points", { timeout: 15_000 });
  await log(20);
  await expect(info).toContainText("40 points", { timeout: 15_000 });
  await page.request.post(api + "runs/update", { data: { run_id: runId, status: "FINISHED", end_time: Date.now() } });
  await expect(page.getByTestId("run-title")).toContainText("FINISHED", { timeout: 15_000 });
});

test("MLflow's links: the URLs its client prints and its UI's bookmarks open the matching page", async ({ page }) => {
  const s = seed();
  const vision = s.experiments["vision-resnet"];
  const nlp = s.experiments["nlp-bert"];
  const best = s.best_run;
  const hash = () => decodeURIComponent(new URL(page.url()).hash);

  // MLflow's client prints http://host:5000/#/experiments/<id>/runs/<run_id> at the end of a run
  await page.goto(url(`/experiments/${vision}/runs/${best}`));
  await expect(page.getByTestId("run-title")).toContainText("best-model");
  expect(hash()).toBe(`#/runs/${best}`);
  await page.goto(url(`/runs/${best}/overview`));
  await expect(page.getByTestId("run-title")).toContainText("best-model");
  await page.goto(url(`/experiments/${vision}/runs/${best}/artifacts/config.json`));
  await expect(page.getByTestId("artifact-preview")).toContainText("batch_size");
  await page.goto(url(`/experiments/${vision}/runs/${best}/artifactPath/logs/train.log`));
  await expect(page.getByTestId("artifact-preview")).toContainText("epoch 2: loss 0.5");
  await page.goto(url(`/experiments/${vision}/runs/${best}/model-metrics`));
  await expect(page.getByRole("tab", { name: /Charts/ })).toHaveAttribute("aria-selected", "true");

  // the experiment page: the experiment's name as the heading, MLflow's filter applied
  await page.goto(url(`/experiments/${vision}`));
  await expect(page.getByTestId("runs-title")).toHaveText("vision-resnet");
  for (const tab of ["runs", "traces", "models"]) {
    await page.goto(url(`/experiments/${nlp}/${tab}`));
    await expect(page.getByTestId("runs-title")).toHaveText("nlp-bert");
  }
  const filter = "params.optimizer = 'sgd'";
  await page.goto(url(`/experiments/${vision}?searchFilter=${encodeURIComponent(filter)}`));
  await expect(page.getByTestId("filter-input")).toHaveValue(filter);
  await expect(page.getByTestId("runs-grid")).toContainText("resnet-01");
  await expect(page.getByTestId("runs-grid")).not.toContainText("resnet-00");
  await page.goto(url(`/compare-experiments/s?experiments=${JSON.stringify([vision, nlp])}`));
  await expect(page.getByTestId("runs-title")).toHaveText("vision-resnet, nlp-bert");

  // comparing runs, and a metric's chart
  await page.goto(url(`/compare-runs?runs=${JSON.stringify([s.runs[0], s.runs[1]])}&experiments=${JSON.stringify([vision])}`));
  await expect(page.getByTestId("compare-table")).toContainText("resnet-01");
  await expect(page.getByTestId("compare-table")).toContainText("resnet-00");
  await page.goto(url(`/metric/loss?runs=${JSON.stringify([s.runs[0]])}&metric=${encodeURIComponent('"loss"')}&experiments=${JSON.stringify([vision])}&plot_metric_keys=${encodeURIComponent('["loss"]')}&x_axis=step`));
  await expect(page.getByRole("heading", { name: "Charts · 1 run" })).toBeVisible();
  expect(hash()).toContain("keys=loss");

  // the registry: a model, one of its versions, versions compared
  if (!s.model.name) return; // the seed had no sklearn
  await page.goto(url(`/models/${encodeURIComponent(s.model.name)}/versions/1`));
  await expect(page.getByTestId("version-title")).toHaveText(`${s.model.name} v1`);
  await expect(page.getByTestId("version-details")).toContainText(best);
  await page.goto(url(`/models/${encodeURIComponent(s.model.name)}/serving`));
  await expect(page.getByTestId("model-title")).toHaveText(s.model.name);
  await page.goto(url(`/compare-model-versions?name=${JSON.stringify(encodeURIComponent(s.model.name))}&runs=${JSON.stringify({ [best]: "1" })}`));
  await expect(page.getByTestId("compare-table")).toContainText("best-model");

  // a logged model opens in its run's artifacts
  const found = await page.request.post(`${process.env.TRACKLOG_UI_URL}api/2.0/mlflow/logged-models/search`, { data: { experiment_ids: [vision] } });
  const modelId: string = (await found.json()).models[0].info.model_id;
  await page.goto(url(`/experiments/${vision}/models/${modelId}`));
  await expect(page.getByTestId("mlmodel-preview")).toBeVisible();
  expect(hash()).toBe(`#/runs/${best}?tab=artifacts&model=${modelId}&path=MLmodel`);
});
