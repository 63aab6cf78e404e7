/* The PULP cluster's fork / join marker, shared by every kernel of the pulp sets (mixq_pulp.h). */
#include "mixq_pulp.h"

/* Start of core `core`'s program (-1: the barrier closing the layer); the emulator's tracer
 * attributes the instructions after it to that core, at this symbol's address: kept out of
 * line and unspecialised (gcc would otherwise clone it for the constant -1). */
__attribute__((noipa)) void mixq_pulp_fork(int32_t core)
{
    __asm__ volatile("" : : "r"(core) : "memory");
}
