/**
 * A byte stream behind a virtio-console port: the host terminal, a Unix socket, or nothing. The
 * console device talks only to this interface.
 */
export interface CharPort {
  readonly name: string;
  /** Whether a host side is attached (the guest sees the port open or closed). */
  readonly connected: boolean;
  /**
   * Whether the host side takes more bytes now. While it is false the device leaves the guest's output
   * in the transmit ring, so a host reader that falls behind slows the guest's writes instead of growing
   * host memory. Absent means always.
   */
  readonly writable?: boolean;
  /**
   * Bytes from the guest. A port holds at most a bounded amount the host has not taken yet; beyond
   * it, bytes are dropped (a guest that ignores `writable`, such as emergency writes, loses output).
   */
  write(bytes: Uint8Array): void;
  /** Set by the device: bytes for the guest. */
  onInput: (bytes: Uint8Array) => void;
  /** Set by the device: called when `connected` changes. */
  onConnectionChange: (connected: boolean) => void;
  /** Set by the device: called when `writable` turns true again. */
  onWritable?: () => void;
  close(): Promise<void>;
}
