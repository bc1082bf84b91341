// Starts a private PostgreSQL server (Debian's package; scripts/install-postgres.sh
// installs it) through scripts/pg-test-server.sh, for the cluster tests.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { repo } from "./server.js";
import { freePort } from "./nats.js";

/** Resolves to { url, stop() }. */
export async function startPostgres() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "kurve-pg-"));
  const script = path.join(repo, "scripts/pg-test-server.sh");
  const started = spawnSync(script, ["start", dir, String(await freePort())], { encoding: "utf8" });
  if (started.status !== 0) {
    throw new Error(`PostgreSQL did not start (run scripts/install-postgres.sh): ${started.stderr}`);
  }
  return {
    url: started.stdout.trim(),
    stop: () => {
      spawnSync(script, ["stop", dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
