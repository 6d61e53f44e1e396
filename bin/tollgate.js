#!/usr/bin/env node
// Tollgate runs its TypeScript sources directly with Node's type stripping (on by default
// since Node 22.18 / 23.6). On an older 22.x, re-run with the flag that enables it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

if (!process.features.typescript) {
  const r = spawnSync(process.execPath, ['--experimental-strip-types', '--no-warnings', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
} else {
  await import('../src/cli/main.ts');
}
