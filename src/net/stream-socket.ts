/** STUB: QEMU-compatible stream socket backend (4-byte big-endian length before each frame). */
import type { NetBackend } from './net-backend.js';

export async function connectStream(host: string, port: number): Promise<NetBackend> {
  throw new Error(`socket ${host}:${port}: not implemented yet`);
}

export async function listenStream(host: string, port: number): Promise<NetBackend> {
  throw new Error(`listen ${host}:${port}: not implemented yet`);
}
