/*
 * A virtio driver gone bad, against virtio-rng: every descriptor of a 256-entry queue is an indirect
 * table of 1024 buffers, each 16 MiB of RAM (16 GiB asked for per request), and the driver re-posts
 * them faster than any device could serve them, without waiting for completions. The device must serve this in bounded steps
 * (and, when the ring overflows, ask for a reset, which this driver does at once and starts over), so
 * that pause, the CPU quota and other VMs keep working. Runs until the host stops it. Needs --mem 64M.
 */
#include "hostile.h"

#define VIRTIO_BASE 0x10001000UL
#define VIRTIO_SLOTS 8
#define REG_MAGIC 0x000
#define REG_DEVICE_ID 0x008
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES 0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_INTERRUPT_STATUS 0x060
#define REG_INTERRUPT_ACK 0x064
#define REG_STATUS 0x070
#define REG_QUEUE_DESC_LOW 0x080
#define REG_QUEUE_DESC_HIGH 0x084
#define REG_QUEUE_DRIVER_LOW 0x090
#define REG_QUEUE_DRIVER_HIGH 0x094
#define REG_QUEUE_DEVICE_LOW 0x0a0
#define REG_QUEUE_DEVICE_HIGH 0x0a4

#define STATUS_ACKNOWLEDGE 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8
#define STATUS_NEEDS_RESET 64

#define DESC_F_WRITE 2
#define DESC_F_INDIRECT 4

#define QUEUE_SIZE 256
#define INDIRECT_ENTRIES 1024
#define DESC_TABLE 0x81000000UL
#define AVAIL_RING 0x81001000UL
#define USED_RING 0x81002000UL
#define INDIRECT_TABLE 0x81003000UL
#define TARGET 0x82000000UL
#define TARGET_SIZE (16UL << 20)

struct desc {
  u64 addr;
  u32 len;
  u16 flags;
  u16 next;
};

static u64 find_rng(void) {
  for (int i = 0; i < VIRTIO_SLOTS; i++) {
    u64 base = VIRTIO_BASE + 0x1000UL * i;
    if (mmio_read32(base + REG_MAGIC) == 0x74726976 && mmio_read32(base + REG_DEVICE_ID) == 4) return base;
  }
  return 0;
}

static void setup(u64 base) {
  mmio_write32(base + REG_STATUS, 0);
  mmio_write32(base + REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
  mmio_write32(base + REG_DRIVER_FEATURES_SEL, 0);
  mmio_write32(base + REG_DRIVER_FEATURES, 1u << 28); /* INDIRECT_DESC */
  mmio_write32(base + REG_DRIVER_FEATURES_SEL, 1);
  mmio_write32(base + REG_DRIVER_FEATURES, 1); /* VERSION_1 */
  mmio_write32(base + REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
  mmio_write32(base + REG_QUEUE_SEL, 0);
  mmio_write32(base + REG_QUEUE_NUM, QUEUE_SIZE);
  mmio_write32(base + REG_QUEUE_DESC_LOW, (u32)DESC_TABLE);
  mmio_write32(base + REG_QUEUE_DESC_HIGH, 0);
  mmio_write32(base + REG_QUEUE_DRIVER_LOW, (u32)AVAIL_RING);
  mmio_write32(base + REG_QUEUE_DRIVER_HIGH, 0);
  mmio_write32(base + REG_QUEUE_DEVICE_LOW, (u32)USED_RING);
  mmio_write32(base + REG_QUEUE_DEVICE_HIGH, 0);
  mmio_write32(base + REG_QUEUE_READY, 1);
  mmio_write32(base + REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
}

int main(void) {
  u64 base = find_rng();
  if (base == 0) return 30;
  volatile struct desc *table = (volatile struct desc *)DESC_TABLE;
  volatile struct desc *indirect = (volatile struct desc *)INDIRECT_TABLE;
  for (int i = 0; i < INDIRECT_ENTRIES; i++) {
    indirect[i].addr = TARGET;
    indirect[i].len = TARGET_SIZE;
    indirect[i].flags = DESC_F_WRITE | (i + 1 < INDIRECT_ENTRIES ? 1 : 0); /* NEXT */
    indirect[i].next = (u16)(i + 1);
  }
  for (int i = 0; i < QUEUE_SIZE; i++) {
    table[i].addr = INDIRECT_TABLE;
    table[i].len = INDIRECT_ENTRIES * 16;
    table[i].flags = DESC_F_INDIRECT;
    table[i].next = 0;
  }
  volatile u16 *avail = (volatile u16 *)AVAIL_RING;
  for (;;) {
    setup(base);
    u16 idx = 0;
    avail[0] = 0;
    avail[1] = 0;
    while (!(mmio_read32(base + REG_STATUS) & STATUS_NEEDS_RESET)) {
      /* Eight more requests per notification: faster than a device in bounded steps serves them. */
      for (int i = 0; i < 8; i++, idx++) avail[2 + idx % QUEUE_SIZE] = idx % QUEUE_SIZE;
      asm volatile("fence w, w" ::: "memory");
      avail[1] = idx;
      mmio_write32(base + REG_QUEUE_NOTIFY, 0);
      mmio_write32(base + REG_INTERRUPT_ACK, mmio_read32(base + REG_INTERRUPT_STATUS));
    }
  }
}
