#!/usr/bin/env node
/**
 * mqttspec-codegen: asks a running mqttspec server for `meta` and writes TypeScript declarations.
 *
 *   npx mqttspec-codegen --url ws://127.0.0.1:8083/mqtt --out src/entities.ts
 */
import { writeFileSync } from 'node:fs';

import { connect } from './client.js';
import { generateTypes } from './codegen.js';
import { MqttspecError } from './errors.js';

const USAGE = `usage: mqttspec-codegen --url <mqtt://… | ws://…/mqtt> [--out <file.ts>] [--client-id <id>]
                        [--username <u>] [--password <p>] [--prefix <spec>] [--schema <s>] [--timeout <ms>]
The password may also come from MQTTSPEC_PASSWORD. Without --out the declarations go to stdout.`;

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument ${a}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    out[m[1]!] = value;
  }
  return out;
}

async function main(): Promise<void> {
  let args: Record<string, string>;
  try {
    args = parseArgs(process.argv.slice(2));
    if (!args.url) throw new Error('--url is required');
  } catch (e) {
    console.error(`mqttspec-codegen: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const client = await connect({
    url: args.url,
    clientId: args['client-id'] ?? `mqttspec-codegen-${process.pid}`,
    ...(args.username !== undefined ? { username: args.username } : {}),
    ...((args.password ?? process.env.MQTTSPEC_PASSWORD) !== undefined
      ? { password: args.password ?? process.env.MQTTSPEC_PASSWORD }
      : {}),
    ...(args.prefix !== undefined ? { prefix: args.prefix } : {}),
    timeout: args.timeout ? Number(args.timeout) : 10_000,
    reconnectPeriod: 0,
  });
  try {
    const entities = await client.meta(args.schema !== undefined ? { schema: args.schema } : {});
    const text = generateTypes(entities);
    if (args.out) {
      writeFileSync(args.out, text);
      console.error(`mqttspec-codegen: ${entities.length} entit${entities.length === 1 ? 'y' : 'ies'} written to ${args.out}`);
    } else process.stdout.write(text);
  } finally {
    await client.close();
  }
}

main().catch((e: unknown) => {
  const msg = e instanceof MqttspecError ? `${e.code}: ${e.message}` : String(e);
  console.error(`mqttspec-codegen: ${msg}`);
  process.exit(1);
});
