/**
 * Which Typervisors a benchmark measures: each variant is a Node binary (the one running the benchmark,
 * Node 24 from scripts/node24.sh, or any other) and extra Typervisor CLI flags (a tier switch such as
 * `--jit off`). Every benchmark takes the same options:
 *
 *   --node PATH|current|24  a Node that runs Typervisor (repeatable; default: current). `24` is the Node 24
 *                           that scripts/node24.sh installs in its cache folder (fetched on first use).
 *   --node-24               shorthand for `--node current --node 24`: this machine's Node and Node 24 side
 *                           by side in one invocation.
 *   --variant NAME[:FLAGS]  Typervisor run with FLAGS (whitespace-separated) added after the subcommand
 *                           (repeatable; default one variant without flags), e.g.
 *                           `--variant interp:"--jit off" --variant jit`.
 *
 * Every node is combined with every variant, so `--node-24 --variant a --variant b:...` measures four.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

export const VARIANT_USAGE = `  --node PATH|current|24  Node that runs Typervisor (repeatable; default: current, the Node running
                          this script; 24: Node 24 installed by scripts/node24.sh into its cache folder)
  --node-24               shorthand for --node current --node 24 (side by side in one invocation)
  --variant NAME[:FLAGS]  extra Typervisor CLI flags, whitespace-separated, after the subcommand
                          (repeatable; default: one variant without flags)`;

/** The options of parseArgs (node:util) that VARIANT_USAGE documents. */
export const VARIANT_OPTIONS = {
  node: { type: 'string', multiple: true },
  'node-24': { type: 'boolean', default: false },
  variant: { type: 'string', multiple: true },
} as const;

export interface NodeBinary {
  path: string;
  /** As `node --version` prints it, e.g. v24.22.3. */
  version: string;
  /** Short and unique among the nodes measured: node20, node24 (full versions when majors repeat). */
  label: string;
}

export interface Variant {
  node: NodeBinary;
  /** From --variant (empty for the default variant). */
  name: string;
  flags: string[];
  /** Unique among the variants measured, e.g. "node20", "node24 jit". */
  label: string;
}

export class VariantError extends Error {}

/** Runs scripts/node24.sh (it installs Node 24 once, then reuses its cache) and returns the binary's path. */
export function node24(): string {
  const script = join(ROOT, 'scripts', 'node24.sh');
  const r = spawnSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const path = r.stdout?.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || path === '') {
    throw new VariantError(`scripts/node24.sh could not provide Node 24 (exit status ${r.status})`);
  }
  return path;
}

function nodeVersion(path: string): string {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new VariantError(`--node ${path}: not an executable file`);
  }
  const r = spawnSync(path, ['--version'], { encoding: 'utf8' });
  const v = r.stdout?.trim() ?? '';
  if (r.status !== 0 || !/^v\d+\./.test(v)) throw new VariantError(`--node ${path}: '--version' failed`);
  return v;
}

/** The nodes named by --node / --node-24, resolved to binaries, in order, without repeats. */
export function resolveNodes(values: { node?: string[]; 'node-24'?: boolean }): NodeBinary[] {
  const specs = [...(values['node-24'] ? ['current', '24'] : []), ...(values.node ?? [])];
  if (specs.length === 0) specs.push('current');
  const paths: string[] = [];
  for (const spec of specs) {
    const path = spec === 'current' ? process.execPath : spec === '24' ? node24() : spec;
    if (!paths.includes(path)) paths.push(path);
  }
  const nodes = paths.map((path) => {
    const version = path === process.execPath ? process.version : nodeVersion(path);
    return { path, version, label: `node${version.slice(1).split('.')[0]}` };
  });
  // Two Nodes of one major line: tell them apart by their full versions, then by position.
  for (const n of nodes) {
    if (nodes.filter((m) => m.label === n.label).length > 1) n.label = `node${n.version.slice(1)}`;
  }
  nodes.forEach((n, i) => {
    if (nodes.filter((m) => m.label === n.label).length > 1) n.label = `${n.label}#${i + 1}`;
  });
  return nodes;
}

/** Every node with every --variant. */
export function resolveVariants(values: {
  node?: string[];
  'node-24'?: boolean;
  variant?: string[];
}): Variant[] {
  const nodes = resolveNodes(values);
  const specs = (values.variant ?? ['']).map((v) => {
    const colon = v.indexOf(':');
    const name = (colon < 0 ? v : v.slice(0, colon)).trim();
    const flags =
      colon < 0
        ? []
        : v
            .slice(colon + 1)
            .trim()
            .split(/\s+/)
            .filter(Boolean);
    if (name.includes(' ')) throw new VariantError(`--variant ${v}: the name must be one word`);
    return { name, flags };
  });
  const names = specs.map((s) => s.name);
  if (new Set(names).size !== names.length) throw new VariantError('two --variant options share a name');
  return nodes.flatMap((node) =>
    specs.map((s) => ({
      node,
      name: s.name,
      flags: s.flags,
      label: s.name ? `${node.label} ${s.name}` : node.label,
    })),
  );
}

/** The command line of `typervisor SUBCOMMAND ...args` for a variant: its node, its flags after the subcommand. */
export function typervisorCommand(
  variant: Variant,
  subcommand: string,
  args: string[],
): { command: string; args: string[] } {
  return { command: variant.node.path, args: [CLI, subcommand, ...variant.flags, ...args] };
}

/** "node20 = v20.20.2 (/usr/bin/node), ..." for a benchmark's header. */
export function describeVariants(variants: Variant[]): string {
  return variants
    .map(
      (v) =>
        `${v.label} = node ${v.node.version} (${v.node.path})${v.flags.length ? ` ${v.flags.join(' ')}` : ''}`,
    )
    .join('\n  ');
}
