/*
 * mixq PULP kernels: im2col + 4x2 MatMul on XpulpV2 / XpulpNN SIMD dot products.
 *
 * One function per (lane width L, weight width WB): the im2col column holds the input codes
 * widened to L-bit lanes (lane k = code k of the column, tap-major: k = tap * in_c + channel,
 * zero padded to Kp, a multiple of G = 32 / WB codes); the MatMul runs 2 output pixels x 4
 * output channels per step and one packed weight word per channel per hardware-loop iteration:
 *  - L == WB: the word feeds the dot product as is (pv.sdotsp/sdotusp .b, .n or .c);
 *  - L = 8, WB = 4 or 2: the word holds G codes; byte i holds codes i, i + 4, ... (in that
 *    order from the low bits), so part j (codes 4j .. 4j + 3) is
 *    pv.sra.sci.b(pv.sll.sci.b(word, 8 - WB * (j + 1)), 8 - WB): signed bytes.
 * Weight blob (built by mixq.codegen.kernels_pulp.pack_pulp_weights): out_c padded to a
 * multiple of 4; per block of 4 channels, per group g of G codes: the 4 channels' words.
 * Cluster: MIXQ_PULP_CORES cores split the layer: pairs of output pixels in contiguous chunks
 * (or, with fewer pairs than cores, blocks of 4 output channels); core c runs its share with
 * its own columns. mixq_pulp_fork(c) marks the start of core c's program and
 * mixq_pulp_fork(-1) the barrier that ends the layer. Emulated, one core runs the cores'
 * programs one after the other (they share only read-only inputs and write disjoint outputs).
 * Scratch: per core, the columns of the two pixels, MIXQ_PULP_CORES * 2 * Kp * L / 8 bytes.
 * Requantization: mixq_requantize_s32 per output (the rule of mixq.quant.integer).
 * On RISC-V the inner loop is inline assembly (.insn encodings, a hardware loop, post-increment
 * loads); elsewhere a portable C loop with the same semantics (host checks of the layouts).
 */
#ifndef MIXQ_PULP_H
#define MIXQ_PULP_H

#include "mixq_kernels.h"

#define MIXQ_PULP_CORES 8

int32_t mixq_pulp_conv_scratch_bytes(const mixq_conv_params_t *p, int32_t lane_bits);
void mixq_pulp_fork(int32_t core);

MIXQ_CONV_KERNEL(mixq_pulp_conv_l8_w8);
MIXQ_CONV_KERNEL(mixq_pulp_conv_l8_w4);
MIXQ_CONV_KERNEL(mixq_pulp_conv_l8_w2);
MIXQ_CONV_KERNEL(mixq_pulp_conv_l4_w4);
MIXQ_CONV_KERNEL(mixq_pulp_conv_l2_w2);

#endif /* MIXQ_PULP_H */
