/**
 * Host files a runner opens on an API client's say-so: a FIFO, /dev/zero, a gzip bomb or a file swapped
 * after the daemon's check end as errors naming the field and the file, promptly, with bounded memory.
 *
 * Each case runs in a child process with a time limit: on a broken implementation the FIFO blocks an
 * open for ever, and /dev/zero or a bomb fills memory; neither may take the test runner with it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const HERE = dirname(fileURLToPath(import.meta.url));
const SRC = join(HERE, '..', '..', 'src');
const dir = mkdtempSync(join(tmpdir(), 'tv-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fifo = join(dir, 'fifo');
let haveFifo = true;
try {
  execFileSync('mkfifo', [fifo]);
} catch {
  haveFifo = false;
}
const MiB = 2 ** 20;

interface Outcome {
  error?: string;
  ok?: string;
  maxRssMiB: number;
}

/** Runs `body` (an async function of the imported modules) in a fresh Node with a time limit. */
function isolated(body: string, timeoutMs = 20_000): Outcome {
  const script = `
    const { machineConfig } = await import(${JSON.stringify(join(SRC, 'vmm', 'machine-config.js'))});
    const { openRawDisk } = await import(${JSON.stringify(join(SRC, 'storage', 'raw-file.js'))});
    let out;
    try {
      const ok = await (async () => { ${body} })();
      out = { ok: String(ok) };
    } catch (e) {
      out = { error: e.message };
    }
    out.maxRssMiB = process.resourceUsage().maxRSS / 1024;
    console.log(JSON.stringify(out));
    process.exit(0);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    timeout: timeoutMs,
    encoding: 'utf8',
    killSignal: 'SIGKILL',
  });
  if (r.signal)
    throw new Error(`the child did not finish within ${timeoutMs} ms (${r.signal}): it blocked or ballooned`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Outcome;
  } catch {
    throw new Error(`child said: ${r.stdout} ${r.stderr}`);
  }
}

const boot = (extra: string) =>
  `machineConfig({ mem: 64 * 2 ** 20, smp: 1, bios: 'builtin', defaultKernel: '/none', defaultInitrd: '/none',
     labels: { kernel: 'boot.kernel', initrd: 'boot.initrd', firmware: 'boot.firmware' }, ${extra} })`;

test('a FIFO as kernel, initrd, firmware or disk is refused at once, naming the field and the file', {
  skip: haveFifo ? false : 'mkfifo is not available',
}, () => {
  const kernel = join(dir, 'k.bin');
  writeFileSync(kernel, Buffer.alloc(4096));
  for (const [field, config] of [
    ['boot.kernel', `kernel: ${JSON.stringify(fifo)}`],
    ['boot.initrd', `kernel: ${JSON.stringify(kernel)}, initrd: ${JSON.stringify(fifo)}`],
  ] as const) {
    const r = isolated(`return ${boot(config)}`);
    assert.equal(r.error, `${field}: ${fifo}: not a regular file (a FIFO)`);
  }
  const fw = isolated(
    `return machineConfig({ mem: 64 * 2 ** 20, smp: 1, bios: ${JSON.stringify(fifo)}, defaultKernel: '/none', defaultInitrd: '/none' })`,
  );
  assert.equal(fw.error, `firmware (--bios): ${fifo}: not a regular file (a FIFO)`);
  for (const readOnly of [true, false]) {
    const r = isolated(`return openRawDisk(${JSON.stringify(fifo)}, { readOnly: ${readOnly} })`);
    assert.match(r.error ?? '', /^.*fifo: not a regular file \(a FIFO/, JSON.stringify(r));
  }
});

test('/dev/zero as a kernel is refused without reading it', () => {
  const r = isolated(`return ${boot("kernel: '/dev/zero'")}`);
  assert.equal(r.error, 'boot.kernel: /dev/zero: not a regular file (a character device)');
  assert.ok(r.maxRssMiB < 200, `${r.maxRssMiB} MiB`);
});

test('boot files larger than RAM are refused from their size, before a byte is read', () => {
  const big = join(dir, 'big.img');
  writeFileSync(big, '');
  truncateSync(big, 65 * MiB); // sparse: costs no disk
  const r = isolated(`return ${boot(`kernel: ${JSON.stringify(big)}`)}`);
  assert.equal(r.error, `boot.kernel: ${big}: 68157440 bytes, more than the 64 MiB of the VM's RAM`);
  assert.ok(r.maxRssMiB < 150, `${r.maxRssMiB} MiB: the file was read`);
});

test("a gzip kernel is inflated no further than the VM's RAM", () => {
  // 256 gzip members of 1 MiB of zeros each: a 256 KiB file that inflates to 256 MiB.
  const member = gzipSync(Buffer.alloc(MiB));
  const bomb = join(dir, 'bomb.gz');
  writeFileSync(bomb, Buffer.concat(new Array(256).fill(member)));
  assert.ok(statSync(bomb).size < MiB);
  const r = isolated(`return ${boot(`kernel: ${JSON.stringify(bomb)}`)}`);
  assert.equal(
    r.error,
    `boot.kernel: ${bomb}: decompresses to more than 64 MiB, the most it may fill (the VM's RAM)`,
  );
  // Node's baseline plus at most the bound (twice, while the output is gathered); 256 MiB would not fit.
  assert.ok(r.maxRssMiB < 64 + 2 * 64, `${r.maxRssMiB} MiB at most`);

  // A real compressed kernel within the bound inflates as before.
  const small = join(dir, 'small.gz');
  writeFileSync(small, gzipSync(Buffer.alloc(4 * MiB, 1)));
  const ok = isolated(`const c = ${boot(`kernel: ${JSON.stringify(small)}`)}; return c.kernel.bytes.length`);
  assert.equal(ok.ok, String(4 * MiB));
});

test('a file replaced after the daemon checked it is refused by the runner', () => {
  const kernel = join(dir, 'checked.bin');
  writeFileSync(kernel, Buffer.alloc(4096));
  const st = statSync(kernel, { bigint: true });
  const other = `${st.dev}:${st.ino + 1n}`;
  const r = isolated(
    `return ${boot(`kernel: ${JSON.stringify(kernel)}, identities: { ${JSON.stringify(kernel)}: '${other}' }`)}`,
  );
  assert.match(r.error ?? '', /^boot\.kernel: .*checked\.bin: was replaced after the daemon checked it/);
  const same = isolated(
    `return ${boot(`kernel: ${JSON.stringify(kernel)}, identities: { ${JSON.stringify(kernel)}: '${st.dev}:${st.ino}' }`)}.kernel.bytes.length`,
  );
  assert.equal(same.ok, '4096');

  const disk = join(dir, 'disk.img');
  writeFileSync(disk, Buffer.alloc(4096));
  const d = statSync(disk, { bigint: true });
  const bad = isolated(
    `return openRawDisk(${JSON.stringify(disk)}, { readOnly: false, identity: '${d.dev}:${d.ino + 1n}' })`,
  );
  assert.match(bad.error ?? '', /disk\.img: was replaced after the daemon checked it/);
  const good = isolated(
    `const b = await openRawDisk(${JSON.stringify(disk)}, { readOnly: false, identity: '${d.dev}:${d.ino}' }); await b.close(); return b.size`,
  );
  assert.equal(good.ok, '4096');
});
