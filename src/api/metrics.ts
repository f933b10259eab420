/**
 * GET /metrics in the Prometheus text exposition format (version 0.0.4). Written by hand: the
 * numbers already exist in VmInfo, so a metrics library would only add a registry to keep in sync.
 * Every per-VM series carries the label vm="name".
 */
import type { VmInfo, VmManagerApi, VmMetrics, VmState } from '../vmm/types.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const STATES: VmState[] = ['stopped', 'starting', 'running', 'paused', 'stopping', 'crashed'];

interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  value(vm: VmInfo): unknown;
}

function metric(key: keyof VmMetrics) {
  return (vm: VmInfo) => vm.metrics?.[key];
}

const PER_VM: Family[] = [
  { name: 'typervisor_vm_vcpus', help: 'Configured vCPUs.', type: 'gauge', value: (vm) => vm.spec.vcpus },
  {
    name: 'typervisor_vm_memory_bytes',
    help: 'Configured guest RAM.',
    type: 'gauge',
    value: (vm) => vm.spec.memoryMiB * 1024 * 1024,
  },
  {
    name: 'typervisor_vm_uptime_seconds',
    help: 'Seconds since the VM last started (absent when it is not running or paused).',
    type: 'gauge',
    value: (vm) => vm.uptimeSeconds,
  },
  {
    name: 'typervisor_vm_instructions_total',
    help: 'Guest instructions retired since the VM started.',
    type: 'counter',
    value: metric('instructions'),
  },
  {
    name: 'typervisor_vm_mips',
    help: 'Guest million instructions per second over the last sampling period.',
    type: 'gauge',
    value: metric('mips'),
  },
  {
    name: 'typervisor_vm_guest_ram_bytes',
    help: 'Guest RAM allocated.',
    type: 'gauge',
    value: metric('guestRamBytes'),
  },
  {
    name: 'typervisor_vm_host_rss_bytes',
    help: "Resident set size of the VM's runner (for thread runners: the daemon's, shared).",
    type: 'gauge',
    value: metric('hostRssBytes'),
  },
  {
    name: 'typervisor_vm_cpu_seconds_total',
    help: 'Host CPU seconds the runner used.',
    type: 'counter',
    value: metric('cpuSeconds'),
  },
  {
    name: 'typervisor_vm_disk_read_bytes_total',
    help: 'Bytes read from virtio-blk disks.',
    type: 'counter',
    value: metric('diskReadBytes'),
  },
  {
    name: 'typervisor_vm_disk_written_bytes_total',
    help: 'Bytes written to virtio-blk disks.',
    type: 'counter',
    value: metric('diskWriteBytes'),
  },
  {
    name: 'typervisor_vm_net_received_bytes_total',
    help: 'Bytes received by virtio-net NICs.',
    type: 'counter',
    value: metric('netRxBytes'),
  },
  {
    name: 'typervisor_vm_net_transmitted_bytes_total',
    help: 'Bytes transmitted by virtio-net NICs.',
    type: 'counter',
    value: metric('netTxBytes'),
  },
  {
    name: 'typervisor_vm_console_output_dropped_bytes_total',
    help: 'Console output dropped because the daemon could not take it as fast as the guest wrote it.',
    type: 'counter',
    value: metric('consoleOutputDroppedBytes'),
  },
  {
    name: 'typervisor_vm_console_input_dropped_bytes_total',
    help: 'Console input dropped because the guest did not read it.',
    type: 'counter',
    value: metric('consoleInputDroppedBytes'),
  },
  {
    name: 'typervisor_vm_log_lines_dropped_total',
    help: 'Log lines the guest caused (device errors) dropped by the per-VM rate limit.',
    type: 'counter',
    value: metric('logLinesDropped'),
  },
];

/** Label values may hold any text; the format escapes backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * A sample's value as the format spells it. Whatever is not a number (a string that slipped through
 * from a runner, say) is written as NaN: text in a value position could start new lines and forge
 * other series.
 */
function formatNumber(value: unknown): string {
  if (typeof value !== 'number' || Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

export function renderMetrics(manager: VmManagerApi): string {
  const vms = manager.list();
  const budget = manager.budget();
  const lines: string[] = [];
  const header = (name: string, help: string, type: string) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };

  header('typervisor_vms', 'VMs defined.', 'gauge');
  lines.push(`typervisor_vms ${formatNumber(vms.length)}`);
  header('typervisor_memory_budget_bytes', 'Host memory the daemon may give to VMs.', 'gauge');
  lines.push(`typervisor_memory_budget_bytes ${formatNumber(budget.totalBytes)}`);
  header('typervisor_memory_used_bytes', 'Host memory taken by VMs (guest RAM + per-VM overhead).', 'gauge');
  lines.push(`typervisor_memory_used_bytes ${formatNumber(budget.usedBytes)}`);

  // One series per state with value 1 for the current one: the usual Prometheus shape for an
  // enum, so that `typervisor_vm_state{state="running"} == 1` selects running VMs.
  header('typervisor_vm_state', 'VM state: 1 for the current state, 0 for the others.', 'gauge');
  for (const vm of vms) {
    const label = escapeLabelValue(String(vm.spec.name));
    for (const state of STATES) {
      lines.push(`typervisor_vm_state{vm="${label}",state="${state}"} ${vm.state === state ? 1 : 0}`);
    }
  }
  for (const family of PER_VM) {
    header(family.name, family.help, family.type);
    for (const vm of vms) {
      const value = family.value(vm);
      if (value === undefined) continue;
      lines.push(`${family.name}{vm="${escapeLabelValue(String(vm.spec.name))}"} ${formatNumber(value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
