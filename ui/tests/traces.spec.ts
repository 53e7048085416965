// The Traces tab against the live server: traces sent to its OTLP endpoint (as any OpenTelemetry
// exporter sends them) are listed, filtered with MLflow's trace grammar, and open as a span tree
// whose spans show their timings, inputs and outputs.

import { expect, test } from "@playwright/test";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const base = () => process.env.TRACKLOG_UI_URL ?? "";
const url = (hash: string) => `${base()}#${hash}`;
const REPO = fileURLToPath(new URL("../..", import.meta.url));
const SHOTS = resolve(REPO, process.env.TRACKLOG_UI_SCREENSHOTS || "ui/screenshots");

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const str = (value: string) => ({ stringValue: value });

function span(traceId: string, spanId: string, parent: string, name: string, startMs: number, endMs: number,
              extra: Record<string, unknown> = {}) {
  const ns = (ms: number) => `${BigInt(ms) * 1_000_000n}`;
  return { traceId, spanId, parentSpanId: parent, name, startTimeUnixNano: ns(startMs), endTimeUnixNano: ns(endMs), ...extra };
}

test("traces: list, filter by MLflow's grammar, span tree with timings, inputs and outputs", async ({ page, request }) => {
  const errors: string[] = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));

  const now = Date.now();
  const good = hex(16), bad = hex(16), root = hex(8), child = hex(8);
  const spans = [
    span(good, root, "", "agent", now - 900, now - 100, { status: { code: 1 },
      attributes: [{ key: "mlflow.spanType", value: str("AGENT") }] }),
    span(good, child, root, "llm-call", now - 700, now - 300, { status: { code: 1 }, attributes: [
      { key: "mlflow.spanType", value: str("LLM") },
      { key: "mlflow.spanInputs", value: { kvlistValue: { values: [{ key: "prompt", value: str("hello tracklog") }] } } },
      { key: "mlflow.spanOutputs", value: str("a friendly answer") }] }),
    span(bad, hex(8), "", "broken-tool", now - 500, now - 400, { status: { code: 2, message: "tool failed" } }),
  ];
  const sent = await request.post(`${base()}v1/traces`, { data: { resourceSpans: [{ scopeSpans: [{ spans }] }] } });
  expect(sent.status()).toBe(200);

  await page.goto(url("/traces"));
  const table = page.getByTestId("traces-table");
  await expect(table.locator("tr", { hasText: "agent" })).toContainText("OK");
  await expect(table.locator("tr", { hasText: "broken-tool" })).toContainText("ERROR");

  await page.getByTestId("traces-filter").fill("trace.status = 'ERROR'");
  await page.getByTestId("traces-search").click();
  await expect(table.locator("tbody tr", { hasText: "broken-tool" })).toHaveCount(1);
  await expect(table.locator("tbody tr", { hasText: "agent" })).toHaveCount(0);

  await page.getByTestId("traces-filter").fill("trace.name = 'agent'");
  await page.getByTestId("traces-search").click();
  await table.locator("tbody tr", { hasText: "agent" }).locator("a").click();
  const rows = page.getByTestId("span-row");
  await expect(rows).toHaveCount(2);
  await expect(rows.nth(0)).toContainText("agent");
  await expect(rows.nth(0)).toContainText("800.0 ms");
  await expect(rows.nth(1)).toContainText("llm-call");
  await expect(rows.nth(1)).toContainText("400.0 ms");
  await rows.nth(1).click();
  await expect(page.getByTestId("span-inputs")).toContainText('"prompt": "hello tracklog"');
  await expect(page.getByTestId("span-outputs")).toContainText("a friendly answer");
  await expect(page.getByTestId("span-detail")).toContainText("+200ms");
  if (process.env.TRACKLOG_UI_SCREENSHOTS !== "0") {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, "trace.png") });
  }
  expect(errors, "console errors").toEqual([]);
});
