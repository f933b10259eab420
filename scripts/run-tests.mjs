// Runs every compiled *.test.js under the given directories (or the given files; default dist/test) with node's test runner. Node 20 cannot take a glob,
// and given a directory it would also run the helper modules that sit beside the tests.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(dir) {
  if (statSync(dir).isFile()) return [dir];
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...collect(path));
    else if (entry.name.endsWith('.test.js')) found.push(path);
  }
  return found.sort();
}

// `--soak` turns on the long differential soak (an environment variable, set here so that the npm script
// stays portable to shells without VAR=value syntax).
const args = process.argv.slice(2);
const env = { ...process.env };
if (args.includes('--soak')) env.TYPERVISOR_DIFF_SOAK = '1';
// `--debian-kernel`: the stock-kernel boot tests must run (their kernel was just fetched), not skip.
if (args.includes('--debian-kernel')) env.TYPERVISOR_DEBIAN_KERNEL = '1';
const dirs = args.filter((a) => !a.startsWith('--'));
const files = (dirs.length ? dirs : ['dist/test']).flatMap(collect);
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
  env,
});
process.exit(result.status ?? 1);
