/* Numbers shared by the runtime's assembly and C: boot magics and stack sizes. */
#ifndef UNIK_RT_BOOT_H
#define UNIK_RT_BOOT_H

#define BOOT_MAGIC_MB1 0x2badb002
#define BOOT_MAGIC_MB2 0x36d76289
/* Not a loader's magic: the PVH entry stub sets it (hvm_start_info's own magic). */
#define BOOT_MAGIC_PVH 0x336ec578

#define KSTACK_SIZE (32 * 1024)
#define ISTACK_SIZE (16 * 1024)

#define EFAULT_NUM 14

#endif
