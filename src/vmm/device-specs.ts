/** The devices of one VM as the CLI flags and the VM definitions both describe them. */

export interface DiskSpec {
  kind: 'disk';
  path: string;
  readOnly: boolean;
  serial?: string;
}

export type NetAttachment =
  | { type: 'switch'; name: string }
  | { type: 'connect'; host: string; port: number }
  | { type: 'listen'; host: string; port: number };

export interface NetSpec {
  kind: 'net';
  attachment: NetAttachment;
  /** Six bytes; absent means a random locally administered address under QEMU's 52:54:00 prefix. */
  mac?: Uint8Array;
}

export interface ShareSpec {
  kind: 'share';
  path: string;
  tag: string;
  readOnly: boolean;
}

export interface ConsolePortSpec {
  /** The port's name as the guest sees it in /sys/class/virtio-ports/<port>/name. */
  name: string;
  /** A Unix socket path the port listens on; absent means the port is connected to nothing. */
  socket?: string;
}
