/* The output stage of the PULP conv / pointwise / FC kernels (mixq_pulp_conv.c): how a block
 * of 4 channels x 2 pixels is requantized and stored, from the MatMul's registers or in C. */
#ifndef MIXQ_PULP_OUT_H
#define MIXQ_PULP_OUT_H

#include "mixq_pulp.h"

/* How a layer's outputs are requantized and stored: the word after the weight words of the
 * blob, chosen by mixq.codegen.kernels_pulp.output_mode (which states why PULP_OUT_LO is exact). */
typedef enum {
    PULP_OUT_ANY,  /* mixq_pulp_requantize and the code stores, per output (pulp_output) */
    PULP_OUT_HI,   /* 8/4/2-bit outputs, every shift >= 32: MIXQ_REQUANT_HI after the MatMul */
    PULP_OUT_LO,   /* 8/4/2-bit outputs, every shift in [2, 31]: PULP_REQUANT_LO after it */
    PULP_OUT_MIX   /* 8/4/2-bit outputs, every shift >= 2: either form, per channel */
} pulp_out_t;

/* A whole block of 4 channels stored by the MatMul itself (PULP_OUT_HI / PULP_OUT_LO): the
 * block's requantization constants and the two pixels' output bytes at its first channel. */
typedef struct {
    pulp_out_t mode;
    const int32_t *multiplier, *shift;
    const int64_t *bias;
    uint8_t *row0, *row1;
    int32_t act_min, act_max, bits;  /* bits: the output code width, 8, 4 or 2 */
} pulp_store_t;

#if defined(__riscv)
/* mixq's requantization when 2 <= shift < 32 (PULP_OUT_LO), into y (t, c scratch): the 64-bit
 * sum's words, the high word clipped to [-(R + 1), R] with R = 2^(s-1) - 1, the pair shifted
 * right by s (dn: shift, r: -shift, whose low 5 bits are 32 - s), p.max / p.min */
#define PULP_REQUANT_LO(y, acc, t) MIXQ_REQUANT_WORDS(y, acc, t, c) \
    ".insn r 0x33, 5, 0x0A, %[" #y "], %[" #y "], %[R]\n\t" \
    "srl %[" #t "], %[" #t "], %[dn]\n\t" \
    "sll %[" #y "], %[" #y "], %[r]\n\t" \
    "or %[" #y "], %[" #y "], %[" #t "]\n\t" MIXQ_CLAMP(y)
/* a channel's multiplier, bias words and shift (p.lw, post-increment); with PULP_OUT_HI, sra
 * by the shift itself, as RV32 shifts use its low 5 bits: shift - 32 */
#define PULP_OUT_LOADS MIXQ_PLW(m, mp) MIXQ_PLW(blo, bp) MIXQ_PLW(bhi, bp) MIXQ_PLW(dn, shp)
/* requantize ca, cb (pixels 0, 1 of a channel) with REQ; p.sb y, 1(row0!), p.sb y, 1(row1!) */
#define PULP_OUT_CH(REQ, ca, cb) REQ(y, ca, t) ".insn s 0x2b, 0, %[y], 1(%[r0])\n\t" \
    REQ(y, cb, t) ".insn s 0x2b, 0, %[y], 1(%[r1])\n\t"
/* PULP_REQUANT_LO's r and R from the shift dn */
#define PULP_LO_SETUP "neg %[r], %[dn]\n\t" "addi %[R], %[dn], -1\n\t" \
    "sll %[R], %[one], %[R]\n\t" "addi %[R], %[R], -1\n\t"
/* PULP_OUT_MIX: the channel's form by its shift (LO below 32, else HI at 1:), both end at 2: */
#define PULP_MIX(LO, HI) "srli %[t], %[dn], 5\n\t" "bnez %[t], 1f\n\t" PULP_LO_SETUP LO \
    "j 2f\n" "1:\n\t" HI "2:\n\t"
#define PULP_OUT_HI_CH(ca, cb) PULP_OUT_LOADS PULP_OUT_CH(MIXQ_REQUANT_HI, ca, cb)
#define PULP_OUT_LO_CH(ca, cb) PULP_OUT_LOADS PULP_LO_SETUP PULP_OUT_CH(PULP_REQUANT_LO, ca, cb)
#define PULP_OUT_MIX_CH(ca, cb) PULP_OUT_LOADS PULP_MIX(PULP_OUT_CH(PULP_REQUANT_LO, ca, cb), \
    PULP_OUT_CH(MIXQ_REQUANT_HI, ca, cb))
#define PULP_OUT_OPERANDS [mp] "+r"(mp), [bp] "+r"(bp), [shp] "+r"(shp), [r0] "+r"(r0), \
    [r1] "+r"(r1), [m] "=&r"(m), [blo] "=&r"(blo), [bhi] "=&r"(bhi), [dn] "=&r"(dn), \
    [y] "=&r"(y), [t] "=&r"(t)
/* requantize ca, cb in place (sub-byte outputs: packed in C afterwards) */
#define PULP_REQ_CH(REQ, ca, cb) REQ(ca, ca, t) REQ(cb, cb, t)
#define PULP_SUB_HI_CH(ca, cb) PULP_OUT_LOADS PULP_REQ_CH(MIXQ_REQUANT_HI, ca, cb)
#define PULP_SUB_LO_CH(ca, cb) PULP_OUT_LOADS PULP_LO_SETUP PULP_REQ_CH(PULP_REQUANT_LO, ca, cb)
#define PULP_SUB_MIX_CH(ca, cb) PULP_OUT_LOADS PULP_MIX(PULP_REQ_CH(PULP_REQUANT_LO, ca, cb), \
    PULP_REQ_CH(MIXQ_REQUANT_HI, ca, cb))
#define PULP_SUB_OPERANDS(ca, cb) [mp] "+r"(mp), [bp] "+r"(bp), [shp] "+r"(shp), \
    [m] "=&r"(m), [blo] "=&r"(blo), [bhi] "=&r"(bhi), [dn] "=&r"(dn), [t] "=&r"(t), \
    [ca] "+r"(ca), [cb] "+r"(cb)
/* one channel's two accumulators (one asm per channel: fewer than 30 operands) */
#define PULP_SUB_HI(ca, cb) __asm__ volatile(PULP_SUB_HI_CH(ca, cb) : PULP_SUB_OPERANDS(ca, cb) \
    : [lo] "r"(q->act_min), [hi] "r"(q->act_max) : "memory")
#define PULP_SUB_LO(CH, ca, cb) __asm__ volatile(CH(ca, cb) \
    : PULP_SUB_OPERANDS(ca, cb), [r] "=&r"(r), [R] "=&r"(R), [c] "=&r"(c) \
    : [lo] "r"(q->act_min), [hi] "r"(q->act_max), [one] "r"(1) : "memory")
#define PULP_OUT_INPUTS [c0] "r"(c0), [c1] "r"(c1), [c2] "r"(c2), [c3] "r"(c3), [c4] "r"(c4), \
    [c5] "r"(c5), [c6] "r"(c6), [c7] "r"(c7), [lo] "r"(q->act_min), [hi] "r"(q->act_max)

/* Sub-byte outputs of a block: the 8 accumulators requantized in place (per channel 4 loads +
 * 2 x 9, PULP_OUT_LO 2 x 12 + 4), then each pixel's 4 codes masked, packed (LSB first, as
 * mixq_store_code) and stored as 2 bytes (4-bit) or 1 byte (2-bit). */
static inline __attribute__((always_inline)) void pulp_store4_sub(
    const pulp_store_t *q, int32_t c0, int32_t c1, int32_t c2, int32_t c3, int32_t c4,
    int32_t c5, int32_t c6, int32_t c7)
{
    const int32_t *mp = q->multiplier, *shp = q->shift;
    const int64_t *bp = q->bias;
    uint32_t m, blo, bhi, dn, t;
    if (q->mode == PULP_OUT_HI) {
        PULP_SUB_HI(c0, c4); PULP_SUB_HI(c1, c5); PULP_SUB_HI(c2, c6); PULP_SUB_HI(c3, c7);
    } else {
        uint32_t r, R, c;
        if (q->mode == PULP_OUT_LO) {
            PULP_SUB_LO(PULP_SUB_LO_CH, c0, c4); PULP_SUB_LO(PULP_SUB_LO_CH, c1, c5);
            PULP_SUB_LO(PULP_SUB_LO_CH, c2, c6); PULP_SUB_LO(PULP_SUB_LO_CH, c3, c7);
        } else {
            PULP_SUB_LO(PULP_SUB_MIX_CH, c0, c4); PULP_SUB_LO(PULP_SUB_MIX_CH, c1, c5);
            PULP_SUB_LO(PULP_SUB_MIX_CH, c2, c6); PULP_SUB_LO(PULP_SUB_MIX_CH, c3, c7);
        }
    }
    const int32_t b = q->bits;
    const uint32_t mask = (1u << b) - 1u;
    const uint32_t v0 = ((uint32_t)c0 & mask) | ((uint32_t)c1 & mask) << b |
                        ((uint32_t)c2 & mask) << 2 * b | ((uint32_t)c3 & mask) << 3 * b;
    const uint32_t v1 = ((uint32_t)c4 & mask) | ((uint32_t)c5 & mask) << b |
                        ((uint32_t)c6 & mask) << 2 * b | ((uint32_t)c7 & mask) << 3 * b;
    q->row0[0] = (uint8_t)v0;
    q->row1[0] = (uint8_t)v1;
    if (b == 4) {
        q->row0[1] = (uint8_t)(v0 >> 8);
        q->row1[1] = (uint8_t)(v1 >> 8);
    }
}

/* The 8 accumulators of a block (channel j: pixel 0 in cj, pixel 1 in c(j+4)) requantized and
 * stored from registers: per channel 4 loads + 2 x 9 + 2 stores = 24 instructions, 32 cycles
 * (PULP_OUT_HI; PULP_OUT_LO: 34 / 42). */
static inline __attribute__((always_inline)) void pulp_store4(
    const pulp_store_t *q, int32_t c0, int32_t c1, int32_t c2, int32_t c3, int32_t c4,
    int32_t c5, int32_t c6, int32_t c7)
{
    const int32_t *mp = q->multiplier, *shp = q->shift;
    const int64_t *bp = q->bias;
    uint8_t *r0 = q->row0, *r1 = q->row1;
    uint32_t m, blo, bhi, dn, y, t;
    if (__builtin_expect(q->bits != 8, 0)) {  /* 4 / 2-bit codes: the block is 2 / 1 whole bytes of each row */
        pulp_store4_sub(q, c0, c1, c2, c3, c4, c5, c6, c7);
        return;
    }
    if (q->mode == PULP_OUT_HI) {
        __asm__ volatile(PULP_OUT_HI_CH(c0, c4) PULP_OUT_HI_CH(c1, c5) PULP_OUT_HI_CH(c2, c6)
                         PULP_OUT_HI_CH(c3, c7)
                         : PULP_OUT_OPERANDS : PULP_OUT_INPUTS : "memory");
    } else if (q->mode == PULP_OUT_LO) {
        uint32_t r, R, c;
        __asm__ volatile(PULP_OUT_LO_CH(c0, c4) PULP_OUT_LO_CH(c1, c5) PULP_OUT_LO_CH(c2, c6)
                         PULP_OUT_LO_CH(c3, c7)
                         : PULP_OUT_OPERANDS, [r] "=&r"(r), [R] "=&r"(R), [c] "=&r"(c)
                         : PULP_OUT_INPUTS, [one] "r"(1) : "memory");
    } else {
        uint32_t r, R, c;
        __asm__ volatile(PULP_OUT_MIX_CH(c0, c4) PULP_OUT_MIX_CH(c1, c5) PULP_OUT_MIX_CH(c2, c6)
                         PULP_OUT_MIX_CH(c3, c7)
                         : PULP_OUT_OPERANDS, [r] "=&r"(r), [R] "=&r"(R), [c] "=&r"(c)
                         : PULP_OUT_INPUTS, [one] "r"(1) : "memory");
    }
}
#endif

#endif /* MIXQ_PULP_OUT_H */
