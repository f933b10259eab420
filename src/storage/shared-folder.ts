/** STUB: a host folder shared with a guest, sandboxed. */
export class SharedFolder {
  readonly root = '';
  static async open(path: string, _options: { readOnly: boolean }): Promise<SharedFolder> {
    throw new Error(`${path}: shared folders are not implemented yet`);
  }
}
