/* Layer boundary marker for instruction counting (an emulator hooks this function's address). */
#include "mixq_kernels.h"

__attribute__((noinline)) void mixq_layer_mark(int32_t layer)
{
    (void)layer;
    __asm__ volatile("");
}
