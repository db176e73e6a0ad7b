// Starts a real quickstart server (embedded broker + SQLite) on free loopback ports for one test file.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_BIN = path.resolve(here, '../../../../target/debug/examples/quickstart');

/** The quickstart binary: $MQTTSPEC_QUICKSTART_BIN, else target/debug/examples/quickstart of the repo. */
export function quickstartBin() {
  const bin = process.env.MQTTSPEC_QUICKSTART_BIN || DEFAULT_BIN;
  if (!existsSync(bin)) {
    throw new Error(
      `quickstart server binary not found at ${bin}.\n` +
        'Build it with `cargo build --example quickstart` at the repository root, or point ' +
        'MQTTSPEC_QUICKSTART_BIN at a built one.',
    );
  }
  return bin;
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Polls `check` every 20 ms until it returns a truthy value or `ms` pass. */
export async function until(check, ms = 5000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Starts the quickstart with a fresh SQLite file in a temp dir. Returns its URLs, pid, log and
 * `stop()`, which ends only this process and removes the temp dir.
 */
export async function startServer() {
  const bin = quickstartBin();
  const dir = mkdtempSync(path.join(tmpdir(), 'mqttspec-ts-'));
  const tcp = await freePort();
  const ws = await freePort();
  const child = spawn(
    bin,
    ['--host', '127.0.0.1', '--port', String(tcp), '--websocket', `127.0.0.1:${ws}`, '--database-url', `sqlite://${dir}/q.db`],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG ?? 'info,rmqtt=warn' } },
  );
  let log = '';
  const collect = (b) => {
    log += b.toString().replace(/\x1b\[[0-9;]*m/g, '');
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let exited = null;
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve((exited = { code, signal }))));
  // Should the test process end without `stop()` (a crash, a failed `before`), take the server along.
  const onExit = () => {
    if (!exited) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const stop = async () => {
    if (!exited) {
      process.kill(child.pid, 'SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => !exited && child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
    process.off('exit', onExit);
  };
  try {
    await until(async () => {
      if (exited) throw new Error(`quickstart exited early (${JSON.stringify(exited)}):\n${log}`);
      return (await accepts(tcp)) && (await accepts(ws));
    }, 15_000, 'the quickstart to accept connections');
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    pid: child.pid,
    tcpUrl: `mqtt://127.0.0.1:${tcp}`,
    wsUrl: `ws://127.0.0.1:${ws}/mqtt`,
    log: () => log,
    /** Freezes the server process (SIGSTOP); `resume()` thaws it. */
    pause: () => process.kill(child.pid, 'SIGSTOP'),
    resume: () => process.kill(child.pid, 'SIGCONT'),
    stop,
  };
}
