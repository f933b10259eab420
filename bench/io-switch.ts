/**
 * Part of the I/O benchmark that must run inside the Node being measured: two default-guest VMs in this
 * process on one in-process switch (one event loop runs both), VM-to-VM TCP between them. bench/io.ts
 * starts this file with each Node it measures; it prints {"mbps": N} as its last line.
 *
 * Usage: node dist/bench/io-switch.js --mib N
 */
import { parseArgs } from 'node:util';
import { VirtioNet } from '../src/machine/devices/virtio/net.js';
import { SwitchRegistry } from '../src/net/virtual-switch.js';
import { PROMPT } from '../test/machine/guest-session.js';
import { InProcessVm } from '../test/machine/in-process-vm.js';
import { shell, tcpRate } from './io-guest.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { mib: { type: 'string', default: '32' } } });
  const switches = new SwitchRegistry();
  const vms = ['a', 'b'].map((name, i) => {
    const mac = Uint8Array.of(0x52, 0x54, 0, 0, 9, i + 1);
    return new InProcessVm(name, {
      ramSize: 256 * 2 ** 20,
      virtio: [new VirtioNet(switches.get('bench').connect(name, mac), { mac })],
    });
  });
  try {
    await Promise.all(vms.map((vm) => vm.waitFor(PROMPT, 300_000)));
    const mbps = await tcpRate(shell(vms[0]), shell(vms[1]), Number(values.mib));
    console.log(JSON.stringify({ mbps }));
  } finally {
    for (const vm of vms) vm.stop();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench:io (switch): ${(e as Error).message}`);
    process.exit(1);
  },
);
