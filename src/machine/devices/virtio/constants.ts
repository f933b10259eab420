/** Numbers from the VIRTIO 1.2 specification shared by the transport, the queues and the devices. */

/** Device status bits (2.1). */
export const STATUS_ACKNOWLEDGE = 1;
export const STATUS_DRIVER = 2;
export const STATUS_DRIVER_OK = 4;
export const STATUS_FEATURES_OK = 8;
export const STATUS_DEVICE_NEEDS_RESET = 64;
export const STATUS_FAILED = 128;

/** Reserved feature bits (6), as bit numbers. */
export const F_INDIRECT_DESC = 28;
export const F_EVENT_IDX = 29;
export const F_VERSION_1 = 32;
export const F_RING_RESET = 40;

/** Device IDs (5). */
export const DEVICE_ID = {
  net: 1,
  block: 2,
  console: 3,
  entropy: 4,
  p9: 9,
} as const;

/** Split virtqueue descriptor flags (2.7.5). */
export const DESC_F_NEXT = 1;
export const DESC_F_WRITE = 2;
export const DESC_F_INDIRECT = 4;
/** avail.flags: the driver asks for no interrupts (ignored when EVENT_IDX is negotiated). */
export const AVAIL_F_NO_INTERRUPT = 1;
/** used.flags: the device asks for no notifications (ignored when EVENT_IDX is negotiated). */
export const USED_F_NO_NOTIFY = 1;

/** Split queues hold at most 32768 descriptors, a power of two (2.7). */
export const MAX_QUEUE_SIZE = 32768;

/** InterruptStatus bits (4.2.2). */
export const INT_USED_BUFFER = 1;
export const INT_CONFIG_CHANGE = 2;

/** A feature set as two 32-bit words, so it stays plain data (no BigInt) in saved state. */
export type FeatureWords = [low: number, high: number];

export function hasFeature(words: FeatureWords, bit: number): boolean {
  return ((words[bit >> 5] >>> (bit & 31)) & 1) === 1;
}

export function featureWords(...bits: number[]): FeatureWords {
  const words: FeatureWords = [0, 0];
  for (const bit of bits) words[bit >> 5] = (words[bit >> 5] | (1 << (bit & 31))) >>> 0;
  return words;
}
