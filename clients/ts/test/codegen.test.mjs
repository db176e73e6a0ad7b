// mqttspec-codegen against a real server: its output must equal the committed declarations that the
// type-level test (test/types/typecheck.ts) compiles against.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { startServer } from './helpers/server.mjs';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/codegen-cli.js');
const golden = path.join(root, 'test/types/quickstart-types.ts');

let server;
let dir;
before(async () => {
  server = await startServer();
  dir = mkdtempSync(path.join(tmpdir(), 'mqttspec-codegen-'));
});
after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

for (const transport of ['ws', 'tcp']) {
  test(`mqttspec-codegen over ${transport} writes the committed declarations`, async () => {
    const out = path.join(dir, `types-${transport}.ts`);
    const url = transport === 'ws' ? server.wsUrl : server.tcpUrl;
    const { stderr } = await run(process.execPath, [cli, '--url', url, '--out', out], { timeout: 20_000 });
    assert.match(stderr, /1 entity written to/);
    assert.equal(readFileSync(out, 'utf8'), readFileSync(golden, 'utf8'));
  });
}

test('mqttspec-codegen prints to stdout without --out', async () => {
  const { stdout } = await run(process.execPath, [cli, `--url=${server.tcpUrl}`], { timeout: 20_000 });
  assert.match(stdout, /export interface User \{/);
  assert.match(stdout, /export type UserColumn = 'id' \| 'name' \| 'email' \| 'status';/);
});

test('mqttspec-codegen explains its usage and fails clearly', async () => {
  await assert.rejects(run(process.execPath, [cli], { timeout: 20_000 }), (e) => e.code === 2 && /--url is required/.test(e.stderr));
  await assert.rejects(
    run(process.execPath, [cli, '--url', server.tcpUrl, '--schema', 'nope'], { timeout: 20_000 }),
    (e) => e.code === 1 && /model_not_found/.test(e.stderr),
  );
});
