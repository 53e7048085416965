import { defineConfig } from "vite";

// The server serves dist/ at "/"; relative asset URLs also work behind a path prefix.
// `npm run dev` proxies the API to a tracklog server on TRACKLOG_URL (default :5000).
const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const target = env.TRACKLOG_URL ?? "http://127.0.0.1:5000";

export default defineConfig({
  base: "./",
  build: { outDir: "dist", target: "es2022", sourcemap: false, chunkSizeWarningLimit: 400 },
  server: { proxy: { "/api": target, "/ajax-api": target, "/get-artifact": target } },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
});
