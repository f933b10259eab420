/** STUB: raw image files as block backends. */
import type { BlockBackend } from './block-backend.js';

export async function openRawDisk(path: string, _options: { readOnly: boolean }): Promise<BlockBackend> {
  throw new Error(`${path}: raw disks are not implemented yet`);
}
