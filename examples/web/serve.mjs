#!/usr/bin/env node
// A tiny static server for the live page: examples/web itself, the built client (clients/ts/dist) at
// /client/ and MQTT.js's browser ES module at /vendor/mqtt.esm.js. No framework, loopback by default.
//
//   cd clients/ts && npm run web -- --ws ws://127.0.0.1:8083/mqtt --port 8080
import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const clientRoot = path.resolve(here, '../../clients/ts');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** Maps a URL path to a file under one of the served roots, or null (never outside them). */
function resolveFile(urlPath) {
  const mounts = [
    ['/vendor/mqtt.esm.js', path.join(clientRoot, 'node_modules/mqtt/dist/mqtt.esm.js'), true],
    ['/client/', path.join(clientRoot, 'dist'), false],
    ['/', here, false],
  ];
  for (const [prefix, target, exact] of mounts) {
    if (exact ? urlPath !== prefix : !urlPath.startsWith(prefix)) continue;
    if (exact) return target;
    const rel = urlPath.slice(prefix.length) || 'index.html';
    const file = path.resolve(target, rel);
    if (file !== target && !file.startsWith(target + path.sep)) return null;
    return file;
  }
  return null;
}

/**
 * Starts the server. `ws` is the broker's WebSocket URL the page opens when its own URL names none.
 * Resolves to the running `http.Server` (its `address()` has the port when `port` is 0).
 */
export function startWebServer({ port = 8080, host = '127.0.0.1', ws = 'ws://127.0.0.1:8083/mqtt' } = {}) {
  for (const [what, file] of [
    ['the built client (run `npm run build` in clients/ts)', path.join(clientRoot, 'dist/index.js')],
    ['MQTT.js (run `npm ci` in clients/ts)', path.join(clientRoot, 'node_modules/mqtt/dist/mqtt.esm.js')],
  ]) {
    if (!existsSync(file)) throw new Error(`missing ${what}: ${file}`);
  }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if ((url.pathname === '/' || url.pathname === '/index.html') && !url.searchParams.has('ws')) {
      url.searchParams.set('ws', ws);
      res.writeHead(302, { location: `${url.pathname}${url.search}` }).end();
      return;
    }
    let file;
    try {
      file = resolveFile(decodeURIComponent(url.pathname));
    } catch {
      file = null;
    }
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    const body = readFileSync(file);
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(ws|port|host)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unknown argument ${argv[i]} (use --ws URL --port N --host ADDR)`);
    out[m[1]] = m[2] ?? argv[++i];
  }
  if (out.port !== undefined) out.port = Number(out.port);
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    const opts = parseArgs(process.argv.slice(2));
    const server = await startWebServer(opts);
    const { address, port } = server.address();
    console.log(`live users page: http://${address}:${port}/ (broker ${opts.ws ?? 'ws://127.0.0.1:8083/mqtt'}; Ctrl-C stops)`);
  } catch (e) {
    console.error(`serve: ${e.message}`);
    process.exit(1);
  }
}
