/**
 * Interrupt wiring between platform devices and the interrupt controller. A device holds one line and
 * drives its level; the controller decides what that level means (QEMU's virt wires every device as a
 * level-triggered PLIC source).
 */

/** A device's interrupt output, wired to one PLIC source. */
export interface InterruptLine {
  set(level: boolean): void;
}
