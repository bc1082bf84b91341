// Issue 20, #7: bursts of WebSocket upgrades with a bad token (docs/PERF.md, memory after
// bursts). Usage: node rejected-upgrades.mjs PORT [TOTAL=3000] [CONCURRENT=100]; read the
// server's VmRSS from /proc/<pid>/status before and after.
import net from "node:net";
const [port, total = 3000, conc = 100] = process.argv.slice(2).map(Number);
let started = 0, done = 0;
function one() {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.write(`GET /socket/websocket?vsn=2.0.0&token=bad${started} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    s.on("data", () => s.end());
    s.on("close", resolve);
    s.on("error", resolve);
  });
}
async function worker() { while (started < total) { started++; await one(); done++; } }
await Promise.all(Array.from({ length: conc }, worker));
console.log("done", done);
