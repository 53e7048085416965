// Seeds a fresh store (tests/ui/seed.py) and starts `tracklog ui` on a free port, unless
// TRACKLOG_UI_URL and TRACKLOG_UI_SEED (the seed's JSON summary) are given by the caller
// (the pytest wrapper does that). Tests read both from the environment.

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const python = process.env.TRACKLOG_PYTHON ?? join(repo, ".venv", "bin", "python");

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => ok(port));
    });
    srv.on("error", fail);
  });
}

async function waitFor(url: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server at ${url} did not come up in ${ms / 1000}s`);
}

export default async function globalSetup(): Promise<() => void> {
  if (process.env.TRACKLOG_UI_URL && process.env.TRACKLOG_UI_SEED) return () => {};
  const store = mkdtempSync(join(tmpdir(), "tracklog-ui-"));
  const seed = execFileSync(python, ["-m", "tests.ui.seed", join(store, "store")], { cwd: repo, encoding: "utf8" });
  const port = await freePort();
  const server = spawn(python, ["-m", "tracklog.cli", "ui", "--store", join(store, "store"), "--port", String(port), "--host", "127.0.0.1",
    "--no-browser", "--no-access-log", "--log-level", "warning"], {
    cwd: repo,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, TRACKLOG_CACHE_DIR: join(store, "cache") },
  });
  const url = `http://127.0.0.1:${port}/`;
  await waitFor(url);
  process.env.TRACKLOG_UI_URL = url;
  process.env.TRACKLOG_UI_SEED = seed.trim().split("\n").pop();
  return () => {
    server.kill("SIGTERM");
    rmSync(store, { recursive: true, force: true });
  };
}
