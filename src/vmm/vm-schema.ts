/**
 * JSON Schemas (draft-07, as Fastify's Ajv uses) of what the API exchanges: a VM definition
 * (VmSpec), what the manager reports about a VM (VmInfo) and the event log (VmEvent). The REST API
 * validates request bodies against `vmSpecSchema` and publishes all of them in its OpenAPI
 * document, so the schema here and the interfaces in types.ts must change together.
 */

/** VM and switch names: safe as file names and in URLs, Prometheus labels and shell commands. */
export const NAME_PATTERN = '^[a-z0-9][a-z0-9_.-]{0,62}$';
/** A unicast MAC address (the low bit of the first octet, the multicast bit, clear). */
export const MAC_PATTERN = '^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$';
const path = { type: 'string', minLength: 1, maxLength: 4096 } as const;

export const vmSpecSchema = {
  $id: 'VmSpec',
  title: 'VmSpec',
  description: 'A VM definition.',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'vcpus', 'memoryMiB', 'boot'],
  properties: {
    name: { type: 'string', pattern: NAME_PATTERN, description: 'Unique VM name.' },
    // Up to the board's 8 harts, so that definitions written for SMP stay valid; the manager
    // refuses what it cannot boot yet (today: more than one) with a message saying so.
    vcpus: { type: 'integer', minimum: 1, maximum: 8 },
    memoryMiB: { type: 'integer', minimum: 16, maximum: 2048, description: 'Guest RAM in MiB.' },
    boot: {
      type: 'object',
      additionalProperties: false,
      properties: {
        kernel: { ...path, description: 'Linux Image / Image.gz / ELF; omitted: the bundled guest.' },
        initrd: path,
        cmdline: { type: 'string', maxLength: 4096 },
        firmware: {
          type: 'string',
          minLength: 1,
          maxLength: 4096,
          description:
            "'builtin' (default), 'none', or an M-mode firmware file such as OpenSBI fw_dynamic.bin.",
        },
      },
    },
    disks: {
      type: 'array',
      maxItems: 8,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path'],
        properties: {
          path,
          readOnly: { type: 'boolean' },
          // virtio-blk's serial field is 20 bytes; printable ASCII keeps it a valid string in the guest.
          serial: { type: 'string', pattern: '^[\\x20-\\x7e]{0,20}$' },
        },
      },
    },
    nics: {
      type: 'array',
      maxItems: 8,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['switch'],
        properties: {
          switch: { type: 'string', pattern: NAME_PATTERN, description: 'Virtual switch name.' },
          mac: { type: 'string', pattern: MAC_PATTERN },
        },
      },
    },
    shares: {
      type: 'array',
      maxItems: 8,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'tag'],
        properties: {
          path,
          // The 9p mount tag is a 16-bit-length string in the config space; keep it short and plain.
          tag: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,31}$' },
          readOnly: { type: 'boolean' },
        },
      },
    },
    rng: { type: 'boolean' },
    jit: {
      type: 'boolean',
      description:
        'The WebAssembly tier for hot guest code (default true); false runs the interpreter alone.',
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        cpuPercent: { type: 'integer', minimum: 1, maximum: 100 },
        diskBytesPerSecond: { type: 'integer', minimum: 1 },
        netBytesPerSecond: { type: 'integer', minimum: 1 },
      },
    },
    autostart: { type: 'boolean' },
    runner: { type: 'string', enum: ['process', 'thread'] },
  },
} as const;

export const vmStateSchema = {
  type: 'string',
  enum: ['stopped', 'starting', 'running', 'paused', 'stopping', 'crashed'],
} as const;

export const vmMetricsSchema = {
  type: 'object',
  properties: {
    instructions: { type: 'number' },
    mips: { type: 'number' },
    guestRamBytes: { type: 'number' },
    hostRssBytes: { type: 'number' },
    diskReadBytes: { type: 'number' },
    diskWriteBytes: { type: 'number' },
    netRxBytes: { type: 'number' },
    netTxBytes: { type: 'number' },
    cpuSeconds: { type: 'number' },
    consoleOutputDroppedBytes: { type: 'number' },
    consoleInputDroppedBytes: { type: 'number' },
    logLinesDropped: { type: 'number' },
  },
} as const;

export const vmInfoSchema = {
  $id: 'VmInfo',
  title: 'VmInfo',
  type: 'object',
  required: ['spec', 'state'],
  properties: {
    spec: { $ref: 'VmSpec#' },
    state: vmStateSchema,
    reason: { type: 'string' },
    startedAt: { type: 'string', format: 'date-time' },
    uptimeSeconds: { type: 'number' },
    pid: { type: 'integer' },
    metrics: vmMetricsSchema,
  },
} as const;

export const vmEventSchema = {
  $id: 'VmEvent',
  title: 'VmEvent',
  type: 'object',
  required: ['time', 'vm', 'type'],
  properties: {
    seq: { type: 'integer', description: 'Sequence number: GET /events?since=seq returns the later ones.' },
    time: { type: 'string', format: 'date-time' },
    vm: { type: 'string' },
    type: { type: 'string' },
    detail: { type: 'string' },
  },
} as const;
