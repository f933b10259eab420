/** STUB: replaced by the real device model. */
import type { SharedFolder } from '../../../storage/shared-folder.js';
import type { FeatureWords } from './constants.js';
import type { VirtioContext, VirtioDevice } from './device.js';

export class Virtio9p implements VirtioDevice {
  readonly deviceId = 0;
  readonly name = 'Virtio9p';
  readonly features: FeatureWords = [0, 0];
  readonly queueMaxSizes = [];
  readonly config = new Uint8Array(0);
  constructor(_folder: SharedFolder, _options: { tag: string }) {
    throw new Error('Virtio9p is not implemented yet');
  }
  attach(_ctx: VirtioContext): void {}
  activate(): void {}
  notify(_index: number): void {}
  reset(): void {}
  async close(): Promise<void> {}
  saveState(): unknown {
    return {};
  }
}
