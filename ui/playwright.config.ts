import { defineConfig } from "@playwright/test";

// Drives Debian's chromium (never a downloaded browser) against a live tracklog server that
// tests/global-setup.ts seeds and starts, unless TRACKLOG_UI_URL points at one already.
export default defineConfig({
  testDir: "tests",
  testMatch: /.*\.spec\.ts/,
  globalSetup: "./tests/global-setup.ts",
  workers: 1,
  fullyParallel: false,
  timeout: 45_000,
  expect: { timeout: 10_000 },
  retries: 0,
  reporter: [["list"]],
  use: {
    browserName: "chromium",
    viewport: { width: 1400, height: 900 },
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
      ],
    },
    trace: "off",
    screenshot: "off",
  },
});
