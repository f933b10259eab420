/** STUB: in-process L2 learning switch. */
import type { NetBackend } from './net-backend.js';

export class VirtualSwitch {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  connect(label: string): NetBackend {
    throw new Error(`switch ${this.name}: cannot connect ${label}: not implemented yet`);
  }
}

/** The switches of one process, by name: VMs naming the same switch share it. */
export class SwitchRegistry {
  private readonly switches = new Map<string, VirtualSwitch>();
  get(name: string): VirtualSwitch {
    let s = this.switches.get(name);
    if (!s) {
      s = new VirtualSwitch(name);
      this.switches.set(name, s);
    }
    return s;
  }
}
