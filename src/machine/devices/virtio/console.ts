/** STUB: replaced by the real device model. */
import type { CharPort } from './char-port.js';
import type { FeatureWords } from './constants.js';
import type { VirtioContext, VirtioDevice } from './device.js';

export class VirtioConsole implements VirtioDevice {
  readonly deviceId = 0;
  readonly name = 'VirtioConsole';
  readonly features: FeatureWords = [0, 0];
  readonly queueMaxSizes = [];
  readonly config = new Uint8Array(0);
  constructor(_ports: CharPort[]) {
    throw new Error('VirtioConsole is not implemented yet');
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
