// Starts a real nats-server (Debian's package; scripts/install-nats.sh installs it) with
// JetStream, on a free port and its own store directory, for the cluster tests.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

function binary() {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/bin"]) {
    const candidate = path.join(dir, "nats-server");
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error("nats-server is missing: run scripts/install-nats.sh");
}

async function waitForPort(port, ms = 10000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.end();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not listen on ${port}`);
}

/**
 * Starts nats-server; resolves to { url, stop(), start() }. `stop` kills it, `start`
 * starts it again on the same port and store (as a restarted server would be).
 */
export async function startNats() {
  const port = await freePort();
  const store = mkdtempSync(path.join(os.tmpdir(), "kurve-nats-"));
  let proc = null;
  const start = async () => {
    proc = spawn(binary(), ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", store], { stdio: "ignore" });
    await waitForPort(port);
  };
  const stop = async () => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, "exit");
    proc.kill("SIGKILL");
    await exited;
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    start,
    stop,
    cleanup: async () => {
      await stop();
      rmSync(store, { recursive: true, force: true });
    },
  };
}

/**
 * Subscribes to `subject` on the NATS server at `url` with the plain NATS protocol (no
 * client library: only counting is needed) and resolves, once the server has the
 * subscription, to { count(), close() }: how many messages arrived so far.
 */
export async function watchSubject(url, subject) {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  let buffer = Buffer.alloc(0);
  let messages = 0;
  let subscribed;
  const ready = new Promise((resolve, reject) => {
    subscribed = resolve;
    socket.once("error", reject);
  });
  socket.on("data", (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const end = buffer.indexOf("\r\n");
      if (end < 0) return;
      const [op, ...args] = buffer.subarray(0, end).toString().split(" ");
      // MSG <subject> <sid> [reply] <bytes>; HMSG <subject> <sid> [reply] <header bytes> <total bytes>
      const body = op === "MSG" || op === "HMSG" ? Number(args.at(-1)) + 2 : 0;
      if (buffer.length < end + 2 + body) return;
      buffer = buffer.subarray(end + 2 + body);
      if (body > 0) messages++;
      else if (op === "PING") socket.write("PONG\r\n");
      else if (op === "PONG") subscribed();
    }
  });
  socket.write(`CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\nSUB ${subject} 1\r\nPING\r\n`);
  await ready;
  return { count: () => messages, close: () => socket.destroy() };
}
