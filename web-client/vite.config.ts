import { defineConfig } from "vite";

// Same-origin in production: kurve-server serves dist/ at "/" next to /api and /socket.
// In development (`npm run dev`) Vite proxies both to a local kurve-server.
const backend = process.env.KURVE_BACKEND ?? "http://127.0.0.1:4000";

export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2020",
    sourcemap: true,
  },
  server: {
    proxy: {
      "/api": { target: backend, changeOrigin: true },
      "/socket": { target: backend, ws: true, changeOrigin: true },
      "/healthz": { target: backend },
    },
  },
});
