/**
 * A byte stream behind a virtio-console port: the host terminal, a Unix socket, or nothing. The
 * console device talks only to this interface.
 */
export interface CharPort {
  readonly name: string;
  /** Whether a host side is attached (the guest sees the port open or closed). */
  readonly connected: boolean;
  /** Bytes from the guest. */
  write(bytes: Uint8Array): void;
  /** Set by the device: bytes for the guest. */
  onInput: (bytes: Uint8Array) => void;
  /** Set by the device: called when `connected` changes. */
  onConnectionChange: (connected: boolean) => void;
  close(): Promise<void>;
}
