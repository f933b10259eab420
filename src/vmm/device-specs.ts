/** The devices of one VM as the CLI flags and the VM definitions both describe them. */

export interface DiskSpec {
  kind: 'disk';
  path: string;
  readOnly: boolean;
  serial?: string;
  /** How messages name it (default '--disk'; the daemon says disks[N].path). */
  label?: string;
  /** "dev:ino" of the file the daemon checked: the runner refuses anything else at the path. */
  identity?: string;
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
  /** How messages name it (default '--share'; the daemon says shares[N].path). */
  label?: string;
  /** "dev:ino" of the folder the daemon checked. */
  identity?: string;
}

export interface ConsolePortSpec {
  /** The port's name as the guest sees it in /sys/class/virtio-ports/<port>/name. */
  name: string;
  /** A Unix socket path the port listens on; absent means the port is connected to nothing. */
  socket?: string;
}
