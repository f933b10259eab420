/**
 * Where a virtual NIC's frames go. virtio-net talks only to this interface; a backend connects it to a
 * virtual switch, a socket to another emulator, or (later) a user-mode NAT. Frames are whole Ethernet
 * frames without the virtio-net header and without the FCS.
 */
export interface NetBackend {
  readonly name: string;
  /** Whether the cable is plugged in (a stream socket without a peer is down). */
  readonly linkUp: boolean;
  /** Sends one frame to the network. Never blocks; a backend may drop frames it cannot queue. */
  send(frame: Uint8Array): void;
  /** Set by the device: called for each frame that arrives from the network. */
  onReceive: (frame: Uint8Array) => void;
  /** Set by the device: called when linkUp changes. */
  onLinkChange: (up: boolean) => void;
  close(): Promise<void>;
}
