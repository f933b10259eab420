/** STUB: replaced by the real device model. */
import type { NetBackend } from '../../../net/net-backend.js';
import type { FeatureWords } from './constants.js';
import type { VirtioContext, VirtioDevice } from './device.js';

export class VirtioNet implements VirtioDevice {
  readonly deviceId = 0;
  readonly name = 'VirtioNet';
  readonly features: FeatureWords = [0, 0];
  readonly queueMaxSizes = [];
  readonly config = new Uint8Array(0);
  constructor(_backend: NetBackend, _options: { mac: Uint8Array }) {
    throw new Error('VirtioNet is not implemented yet');
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
