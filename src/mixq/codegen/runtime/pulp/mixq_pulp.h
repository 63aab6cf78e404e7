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
 * multiple of 4; per block of 4 channels, per group g of G codes: the 4 channels' words; then
 * one word, the output stage (kernels_pulp.output_mode: pulp_out_t of mixq_pulp_out.h).
 * Cluster: MIXQ_PULP_CORES cores split the layer: pairs of output pixels in contiguous chunks
 * (or, with fewer pairs than cores, blocks of 4 output channels); core c runs its share with
 * its own columns. mixq_pulp_fork(c) marks the start of core c's program and
 * mixq_pulp_fork(-1) the barrier that ends the layer. Emulated, one core runs the cores'
 * programs one after the other (they share only read-only inputs and write disjoint outputs).
 * Scratch: per core, the columns of the two pixels, MIXQ_PULP_CORES * 2 * Kp * L / 8 bytes.
 * Windows inside the input whose rows are whole words and weight groups at the lane width are
 * read in place, row by row (no im2col; pulp_walk_t in mixq_pulp_conv.c).
 * Requantization: the rule of mixq.quant.integer on 32-bit halves (mixq_pulp_requantize); with
 * 8/4/2-bit outputs a full 4-channel block stored from the MatMul's registers (pulp_store4;
 * sub-byte codes packed into the block's whole bytes).
 * On RISC-V the inner loop is inline assembly (.insn encodings, a hardware loop, post-increment
 * loads); elsewhere a portable C loop with the same semantics (host checks of the layouts).
 *
 * Depthwise (mixq_pulp_dwconv_l8, mixq_pulp_dw.c; any input / weight / output width; 8-bit
 * weights stored per channel as k_h rows of ceil(k_w / 4) words of signed bytes, zero beyond
 * k_w (mixq.codegen.kernels_pulp.pack_pulp_dw_weights), sub-byte weights in the reference
 * layout (k_h, k_w, C), unpacked to that form per channel): the cores split blocks of 4 channels or, when that
 * balances worse, the output rows; per channel a core builds the zero-padded plane of the
 * input codes its rows read, one code per byte, rows a word multiple apart (the padding
 * zeroed once per layer); each
 * output is the sum of 4-tap dot products of unaligned plane words and weight words (RI5CY
 * loads misaligned words in two accesses). Scratch: mixq_pulp_dw_scratch_bytes.
 */
#ifndef MIXQ_PULP_H
#define MIXQ_PULP_H

#include "mixq_kernels.h"

#define MIXQ_PULP_CORES 8

#if defined(__riscv)
/* Xpulp encodings through .insn (stock binutils), operands named as in the asm statement:
 * p.lw rd, 4(rs!); p.lw rd, rt(rs!) (register post-increment); pv.sdot* (f: "funct3, funct7");
 * lp.setup 0, %[n], L: a hardware loop of %[n] iterations whose last instruction is at
 * pc + 2 * imm (its body starts word aligned; no compressed instructions inside) */
#define MIXQ_PLW(rd, rs) ".insn i 0x0b, 2, %[" #rd "], %[" #rs "], 4\n\t"
#define MIXQ_PLW_RR(rd, rs, rt) ".insn r 0x0b, 7, 0x10, %[" #rd "], %[" #rs "], %[" #rt "]\n\t"
#define MIXQ_DOT(f, acc, a, b) ".insn r 0x57, " f ", %[" #acc "], %[" #a "], %[" #b "]\n\t"
#define MIXQ_LOOP_HEAD(imm) ".option push\n\t.option norvc\n\t.balign 4\n\t" \
    ".insn i 0x7b, 4, x0, %[n], " imm "\n\t"
/* The words of acc * m + (bhi:blo) (mixq's int64 requantization sum): high word in y (may be
 * acc), low word in t, c the carry (may be t): mul, mulh, the carry of the 64-bit add */
#define MIXQ_REQUANT_WORDS(y, acc, t, c) \
    "mul %[" #t "], %[" #acc "], %[m]\n\t" \
    "mulh %[" #y "], %[" #acc "], %[m]\n\t" \
    "add %[" #t "], %[" #t "], %[blo]\n\t" \
    "sltu %[" #c "], %[" #t "], %[blo]\n\t" \
    "add %[" #y "], %[" #y "], %[bhi]\n\t" \
    "add %[" #y "], %[" #y "], %[" #c "]\n\t"
/* y = clamp(y, lo, hi): p.max, p.min */
#define MIXQ_CLAMP(y) ".insn r 0x33, 6, 0x02, %[" #y "], %[" #y "], %[lo]\n\t" \
    ".insn r 0x33, 4, 0x02, %[" #y "], %[" #y "], %[hi]\n\t"
/* mixq's requantization when shift >= 32, into register y (may be acc; t a scratch register):
 * y = clamp((hi(acc * m) + bhi + carry(lo(acc * m) + blo)) >> dn, lo, hi) with dn = shift - 32
 * (the result never leaves int32): 9 instructions, 13 cycles (mulh takes 5) */
#define MIXQ_REQUANT_HI(y, acc, t) MIXQ_REQUANT_WORDS(y, acc, t, t) \
    "sra %[" #y "], %[" #y "], %[dn]\n\t" MIXQ_CLAMP(y)
/* pv.sdotsp.b / pv.sdotusp.b: 4 signed / unsigned bytes times 4 signed bytes, accumulated */
#define MIXQ_SDOTSP_B "1, 0x5c"
#define MIXQ_SDOTUSP_B "1, 0x54"
#endif

/* floor(x / 2^s) for 0 <= s <= 31, without relying on >> of a negative value. */
static inline int32_t mixq_pulp_asr32(int32_t x, int32_t s)
{
    return x >= 0 ? x >> s : ~(~x >> s);
}

/* mixq's requantization (mixq_requantize_inline: clamp(floor((acc * multiplier + bias) /
 * 2^shift), act_min, act_max), shift in [1, 62]) on 32-bit halves, as a RV32 core runs it: the
 * product's halves (mul, mulh), a 64-bit add as two adds and a carry, then the shift of the
 * pair; a result outside int32 saturates to the side of its sign before the clamp. */
static inline int32_t mixq_pulp_requantize(int32_t acc, int64_t bias, int32_t multiplier,
                                           int32_t shift, int32_t act_min, int32_t act_max)
{
    const uint64_t prod = (uint64_t)((int64_t)acc * multiplier);
    const uint32_t plo = (uint32_t)prod, blo = (uint32_t)(uint64_t)bias;
    const uint32_t lo = plo + blo;
    const int32_t hi = (int32_t)((uint32_t)(prod >> 32) + (uint32_t)((uint64_t)bias >> 32) +
                                 (uint32_t)(lo < plo));
    int32_t y;
    if (shift >= 32) {
        y = mixq_pulp_asr32(hi, shift - 32);
    } else {
        y = (int32_t)((lo >> shift) | ((uint32_t)hi << (32 - shift)));
        if (mixq_pulp_asr32(hi, shift) != (y < 0 ? -1 : 0)) {  /* beyond int32 */
            return hi < 0 ? act_min : act_max;
        }
    }
    return y < act_min ? act_min : (y > act_max ? act_max : y);
}

/* [lo, hi) of `n` items in `cores` contiguous chunks: chunk `core`. */
static inline void mixq_pulp_chunk(int32_t n, int32_t core, int32_t cores, int32_t *lo,
                                   int32_t *hi)
{
    const int32_t size = (n + cores - 1) / cores;
    *lo = core * size < n ? core * size : n;
    *hi = *lo + size < n ? *lo + size : n;
}

int32_t mixq_pulp_conv_scratch_bytes(const mixq_conv_params_t *p, int32_t lane_bits);
void mixq_pulp_fork(int32_t core);
int32_t mixq_pulp_dw_scratch_bytes(const mixq_conv_params_t *p);

MIXQ_CONV_KERNEL(mixq_pulp_conv_l8_w8);
MIXQ_CONV_KERNEL(mixq_pulp_conv_l8_w4);
MIXQ_CONV_KERNEL(mixq_pulp_conv_l8_w2);
MIXQ_CONV_KERNEL(mixq_pulp_conv_l4_w4);
MIXQ_CONV_KERNEL(mixq_pulp_conv_l2_w2);
MIXQ_CONV_KERNEL(mixq_pulp_dwconv_l8);

/* Pooling and residual add with the portable kernels' arguments and results
 * (mixq_kernels.h), split over the cores (mixq_pulp_pool.c, mixq_pulp_add.c). */
void mixq_pulp_maxpool(const mixq_pool2d_params_t *p, const uint8_t *input, uint8_t *output,
                       uint8_t *scratch);
void mixq_pulp_avgpool2d(const mixq_pool2d_params_t *p, const uint8_t *input, uint8_t *output,
                         uint8_t *scratch);
void mixq_pulp_avgpool(const mixq_pool_params_t *p, const uint8_t *input, uint8_t *output,
                       uint8_t *scratch);
void mixq_pulp_add(const mixq_add_params_t *p, const uint8_t *input_a, const uint8_t *input_b,
                   uint8_t *output, uint8_t *scratch);

#endif /* MIXQ_PULP_H */
