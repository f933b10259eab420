import type { BlockBackend } from '../../../../src/storage/block-backend.js';

/**
 * A disk in host memory whose operations can be held back (to finish in a chosen order) or made to
 * fail, and which records what it was asked to do.
 */
export class MemoryDisk implements BlockBackend {
  readonly name = 'memory';
  readonly data: Uint8Array;
  readonly readOnly: boolean;
  readonly calls: string[] = [];
  /** When true, operations wait until release() is called. */
  hold = false;
  fail = false;
  closed = false;
  private held: (() => void)[] = [];

  constructor(size: number, readOnly = false) {
    this.data = new Uint8Array(size);
    this.readOnly = readOnly;
  }

  get size(): number {
    return this.data.length;
  }

  get pending(): number {
    return this.held.length;
  }

  /** Lets the held operation with this index (in order of arrival among those held) finish. */
  release(index = 0): void {
    const [go] = this.held.splice(index, 1);
    go?.();
  }

  private async gate(what: string): Promise<void> {
    this.calls.push(what);
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    if (this.fail) throw new Error(`${what}: EIO`);
  }

  async readv(views: Uint8Array[], position: number): Promise<void> {
    await this.gate(`readv ${position}`);
    let at = position;
    for (const v of views) {
      v.set(this.data.subarray(at, at + v.length));
      at += v.length;
    }
  }

  async writev(views: Uint8Array[], position: number): Promise<void> {
    await this.gate(`writev ${position}`);
    let at = position;
    for (const v of views) {
      this.data.set(v, at);
      at += v.length;
    }
  }

  async flush(): Promise<void> {
    await this.gate('flush');
  }

  async discard(position: number, length: number): Promise<void> {
    await this.gate(`discard ${position} ${length}`);
  }

  async writeZeroes(position: number, length: number): Promise<void> {
    await this.gate(`writeZeroes ${position} ${length}`);
    this.data.fill(0, position, position + length);
  }

  async close(): Promise<void> {
    this.calls.push('close');
    this.closed = true;
  }
}
