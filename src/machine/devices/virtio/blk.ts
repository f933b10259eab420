/** STUB: replaced by the real device model. */
import type { BlockBackend } from '../../../storage/block-backend.js';
import type { FeatureWords } from './constants.js';
import type { VirtioContext, VirtioDevice } from './device.js';

export class VirtioBlk implements VirtioDevice {
  readonly deviceId = 0;
  readonly name = 'VirtioBlk';
  readonly features: FeatureWords = [0, 0];
  readonly queueMaxSizes = [];
  readonly config = new Uint8Array(0);
  constructor(_backend: BlockBackend, _options: { serial?: string }) {
    throw new Error('VirtioBlk is not implemented yet');
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
