/* mixq_fc_dsp_s8 / _s4 / _s2: fully connected layers on ARMv7E-M DSP, u8/u4/u2 activations
 * (lane conventions: mixq_dsp.h).
 *
 * One output pixel whose receptive field is the whole input, read as one stream of codes (the
 * window layout of mixq_conv2d_dsp_win_*: each pixel's packed bytes, codes past in_c meet zero
 * weights). Output channels go four at a time (then a pair, then one), every widened column word
 * pair feeding the SMLADs of all of them; the weights are interleaved at code-generation time
 * (mixq.codegen.kernels_armv7em_fc.reorder_fc_weights) so that one pointer walks them in the
 * loop's order: per group of four channels and per weight word index, the four channels' words.
 * 8-bit activations are widened in the loop straight from the input (UXTB16; no scratch: a head
 * with two outputs would spend as much widening a column as multiplying it); 4- and 2-bit ones
 * are widened once into a dense int16 column in scratch. The MAC loops are inline assembly on
 * ARM (gcc 12 spills otherwise) with one plain C twin for other compilers and the last channel. */
#include "mixq_dsp.h"

/* Codes of the input stream: every pixel's packed bytes, 8 / in_bits codes per byte. */
MIXQ_INLINE int32_t mixq_fc_codes(const mixq_conv_params_t *p, int32_t in_bits) {
  return p->in_h * p->in_w * mixq_row_bytes(p->in_c, in_bits) * (8 / in_bits);
}

/* int16 lanes of the column: the stream rounded up to whole activation words, then to whole
 * weight words of 32 / bits lanes. */
MIXQ_INLINE int32_t mixq_fc_k_lanes(const mixq_conv_params_t *p, int32_t bits) {
  const int32_t per_in = 32 / p->in_bits, per_w = 32 / bits;
  const int32_t stream = (mixq_fc_codes(p, p->in_bits) + per_in - 1) / per_in * per_in;
  return (stream + per_w - 1) / per_w * per_w;
}

/* Sub-byte activations: the widened column (lanes rounded up to 16, any weight width); 8-bit
 * activations are read in place. */
int32_t mixq_fc_dsp_scratch_bytes(const mixq_conv_params_t *p) {
  return p->in_bits == 8 ? 0 : mixq_fc_k_lanes(p, 2) * 2;
}

/* The four lanes of column quad q of a unit: from 8-bit codes (one word, UXTB16) or from the
 * int16 column (two words). */
MIXQ_INLINE void mixq_fc_quad(const uint8_t *a, int32_t q, int32_t src8, uint32_t *c0,
                              uint32_t *c1) {
  if (src8) {
    const uint32_t x = mixq_dsp_load32(a + 4 * q);
    *c0 = mixq_uxtb16(x);
    *c1 = mixq_uxtb16_ror8(x);
  } else {
    *c0 = mixq_dsp_load32(a + 8 * q);
    *c1 = mixq_dsp_load32(a + 8 * q + 4);
  }
}

/* acc[j] += dot(weight row j, column), j < g, over the units from a to a_end (a unit: one
 * weight word per channel, 32 / bits lanes; the g words of a unit adjacent). Returns the weights
 * after the last unit. The C form of the assembly loops below. */
static const mixq_u32a *mixq_fc_mac_c(const uint8_t *a, const uint8_t *a_end,
                                      const mixq_u32a *w, int32_t *acc, int32_t g, int32_t bits,
                                      int32_t src8) {
  const int32_t quads = 8 / bits, unit_bytes = (src8 ? 4 : 8) * quads;
  for (; a != a_end; a += unit_bytes, w += g) {
    for (int32_t q = 0; q < quads; q++) {
      uint32_t c0, c1;
      mixq_fc_quad(a, q, src8, &c0, &c1);
      for (int32_t j = 0; j < g; j++) {
        uint32_t x0, x1;
        mixq_dsp_widen(w[j], bits == 8 ? 0 : q, bits, &x0, &x1);
        acc[j] = mixq_smlad(x1, c1, mixq_smlad(x0, c0, acc[j]));
      }
    }
  }
  return w;
}

#if defined(__ARM_FEATURE_DSP)
/* Column quad: 8-bit codes (LDR, two UXTB16) or two int16 words (LDRD). */
#define MIXQ_FC_COL8 \
  "ldr %[c1], [%[a]], #4\n\tuxtb16 %[c0], %[c1]\n\tuxtb16 %[c1], %[c1], ror #8\n\t"
#define MIXQ_FC_COL16 "ldrd %[c0], %[c1], [%[a]], #8\n\t"
#define MIXQ_FC_SMLAD2(s) \
  "smlad %[" s "], %[x0], %[c0], %[" s "]\n\tsmlad %[" s "], %[x1], %[c1], %[" s "]\n\t"
#define MIXQ_FC_W8(r, s) \
  "sxtb16 %[x0], %[" r "]\n\tsxtb16 %[x1], %[" r "], ror #8\n\t" MIXQ_FC_SMLAD2(s)
#define MIXQ_FC_SUB(r, m, sh0, sh1, s) \
  "and %[x0], %[" m "], %[" r "], lsr #" sh0 "\n\tand %[x1], %[" m "], %[" r "], lsr #" sh1 \
  "\n\t" MIXQ_FC_SMLAD2(s)
#define MIXQ_FC_LDRD_W "ldrd %[wa], %[wb], [%[w]], #8\n\t"

/* Units of four channels. s8: both word pairs by LDRD. Sub-byte (mask in wb): per column quad
 * each channel's word again (no register left to keep four), the pointer moved once a unit. */
#define MIXQ_FC_G4_W8(col) \
  col MIXQ_FC_LDRD_W MIXQ_FC_W8("wa", "s0") MIXQ_FC_W8("wb", "s1") \
  MIXQ_FC_LDRD_W MIXQ_FC_W8("wa", "s2") MIXQ_FC_W8("wb", "s3")
#define MIXQ_FC_G4_QUAD(col, sh0, sh1) \
  col "ldr %[wa], [%[w]]\n\t" MIXQ_FC_SUB("wa", "wb", sh0, sh1, "s0") \
  "ldr %[wa], [%[w], #4]\n\t" MIXQ_FC_SUB("wa", "wb", sh0, sh1, "s1") \
  "ldr %[wa], [%[w], #8]\n\t" MIXQ_FC_SUB("wa", "wb", sh0, sh1, "s2") \
  "ldr %[wa], [%[w], #12]\n\t" MIXQ_FC_SUB("wa", "wb", sh0, sh1, "s3")
#define MIXQ_FC_G4_W4(col) \
  MIXQ_FC_G4_QUAD(col, "0", "4") MIXQ_FC_G4_QUAD(col, "8", "12") "add %[w], %[w], #16\n\t"
#define MIXQ_FC_G4_W2(col) \
  MIXQ_FC_G4_QUAD(col, "0", "2") MIXQ_FC_G4_QUAD(col, "4", "6") \
  MIXQ_FC_G4_QUAD(col, "8", "10") MIXQ_FC_G4_QUAD(col, "12", "14") "add %[w], %[w], #16\n\t"
/* Units of a pair of channels (s2 and s3 unused; sub-byte: the mask in s2). */
#define MIXQ_FC_G2_W8(col) col MIXQ_FC_LDRD_W MIXQ_FC_W8("wa", "s0") MIXQ_FC_W8("wb", "s1")
#define MIXQ_FC_G2_QUAD(col, sh0, sh1) \
  col MIXQ_FC_SUB("wa", "s2", sh0, sh1, "s0") MIXQ_FC_SUB("wb", "s2", sh0, sh1, "s1")
#define MIXQ_FC_G2_W4(col) \
  MIXQ_FC_LDRD_W MIXQ_FC_G2_QUAD(col, "0", "4") MIXQ_FC_G2_QUAD(col, "8", "12")
#define MIXQ_FC_G2_W2(col) \
  MIXQ_FC_LDRD_W MIXQ_FC_G2_QUAD(col, "0", "2") MIXQ_FC_G2_QUAD(col, "4", "6") \
  MIXQ_FC_G2_QUAD(col, "8", "10") MIXQ_FC_G2_QUAD(col, "12", "14")

/* Loops over the units up to end: once per unit, or two units per iteration entered at the
 * second when the count is odd (x0 != 0 on entry). */
#define MIXQ_FC_LOOP1(unit) "1:\n\t" unit "cmp %[a], %[end]\n\tbne 1b\n\t"
#define MIXQ_FC_LOOP2(unit) \
  "cmp %[x0], #0\n\tbne 2f\n" "1:\n\t" unit "2:\n\t" unit "cmp %[a], %[end]\n\tbne 1b\n\t"

/* One function per loop: registers fixed (r7 stays free: Thumb frame pointer at -O0); acc[0..3]
 * in and out; odd: the unit count is odd (LOOP2); wb0: the mask in wb (G4 sub-byte). */
#define MIXQ_FC_ASM_FN(name, loop)                                                         \
  __attribute__((noinline)) static const mixq_u32a *name(                                \
      const uint8_t *a_in, const uint8_t *a_end, const mixq_u32a *w_in, int32_t *acc,     \
      uint32_t odd, uint32_t wb0) {                                                      \
    register const uint8_t *a __asm__("r0") = a_in;                                      \
    register const mixq_u32a *w __asm__("r1") = w_in;                                    \
    register const uint8_t *end __asm__("r2") = a_end;                                   \
    register int32_t s0 __asm__("r3") = acc[0], s1 __asm__("r4") = acc[1];               \
    register int32_t s2 __asm__("r5") = acc[2], s3 __asm__("r6") = acc[3];               \
    register uint32_t x0 __asm__("r8") = odd, wb __asm__("lr") = wb0;                    \
    register uint32_t x1 __asm__("r9"), c0 __asm__("r10"), c1 __asm__("r11");            \
    register uint32_t wa __asm__("r12");                                                 \
    __asm__ volatile(loop                                                                \
                     : [a] "+r"(a), [w] "+r"(w), [s0] "+r"(s0), [s1] "+r"(s1),           \
                       [s2] "+r"(s2), [s3] "+r"(s3), [x0] "+r"(x0), [x1] "=&r"(x1),      \
                       [c0] "=&r"(c0), [c1] "=&r"(c1), [wa] "=&r"(wa), [wb] "+r"(wb)     \
                     : [end] "r"(end)                                                    \
                     : "cc", "memory");                                                  \
    acc[0] = s0; acc[1] = s1; acc[2] = s2; acc[3] = s3;                                  \
    (void)x0; (void)x1; (void)c0; (void)c1; (void)wa; (void)wb;                          \
    return w;                                                                            \
  }
MIXQ_FC_ASM_FN(mixq_fc_g4_s8_a8, MIXQ_FC_LOOP2(MIXQ_FC_G4_W8(MIXQ_FC_COL8)))
MIXQ_FC_ASM_FN(mixq_fc_g4_s8_a16, MIXQ_FC_LOOP2(MIXQ_FC_G4_W8(MIXQ_FC_COL16)))
MIXQ_FC_ASM_FN(mixq_fc_g4_s4_a8, MIXQ_FC_LOOP1(MIXQ_FC_G4_W4(MIXQ_FC_COL8)))
MIXQ_FC_ASM_FN(mixq_fc_g4_s4_a16, MIXQ_FC_LOOP1(MIXQ_FC_G4_W4(MIXQ_FC_COL16)))
MIXQ_FC_ASM_FN(mixq_fc_g4_s2_a8, MIXQ_FC_LOOP1(MIXQ_FC_G4_W2(MIXQ_FC_COL8)))
MIXQ_FC_ASM_FN(mixq_fc_g4_s2_a16, MIXQ_FC_LOOP1(MIXQ_FC_G4_W2(MIXQ_FC_COL16)))
MIXQ_FC_ASM_FN(mixq_fc_g2_s8_a8, MIXQ_FC_LOOP2(MIXQ_FC_G2_W8(MIXQ_FC_COL8)))
MIXQ_FC_ASM_FN(mixq_fc_g2_s8_a16, MIXQ_FC_LOOP2(MIXQ_FC_G2_W8(MIXQ_FC_COL16)))
MIXQ_FC_ASM_FN(mixq_fc_g2_s4_a8, MIXQ_FC_LOOP1(MIXQ_FC_G2_W4(MIXQ_FC_COL8)))
MIXQ_FC_ASM_FN(mixq_fc_g2_s4_a16, MIXQ_FC_LOOP1(MIXQ_FC_G2_W4(MIXQ_FC_COL16)))
MIXQ_FC_ASM_FN(mixq_fc_g2_s2_a8, MIXQ_FC_LOOP1(MIXQ_FC_G2_W2(MIXQ_FC_COL8)))
MIXQ_FC_ASM_FN(mixq_fc_g2_s2_a16, MIXQ_FC_LOOP1(MIXQ_FC_G2_W2(MIXQ_FC_COL16)))

/* acc[j] += dot(row j, column) for g = 4 or 2 channels, one loop per (g, bits, src8). */
MIXQ_INLINE const mixq_u32a *mixq_fc_mac(const uint8_t *a, const uint8_t *a_end,
                                         const mixq_u32a *w, int32_t *acc, int32_t g,
                                         int32_t bits, int32_t src8) {
  const uint32_t mask = bits == 4 ? 0x000F000Fu : 0x00030003u;
  const uint32_t odd = (uint32_t)((a_end - a) / (src8 ? 4 : 8)) & 1u; /* s8 units */
  if (g == 2 && bits != 8) acc[2] = (int32_t)mask;
  if (bits == 8) {
    return g == 4 ? (src8 ? mixq_fc_g4_s8_a8 : mixq_fc_g4_s8_a16)(a, a_end, w, acc, odd, 0)
                  : (src8 ? mixq_fc_g2_s8_a8 : mixq_fc_g2_s8_a16)(a, a_end, w, acc, odd, 0);
  }
  if (bits == 4) {
    return g == 4 ? (src8 ? mixq_fc_g4_s4_a8 : mixq_fc_g4_s4_a16)(a, a_end, w, acc, 0, mask)
                  : (src8 ? mixq_fc_g2_s4_a8 : mixq_fc_g2_s4_a16)(a, a_end, w, acc, 0, mask);
  }
  return g == 4 ? (src8 ? mixq_fc_g4_s2_a8 : mixq_fc_g4_s2_a16)(a, a_end, w, acc, 0, mask)
                : (src8 ? mixq_fc_g2_s2_a8 : mixq_fc_g2_s2_a16)(a, a_end, w, acc, 0, mask);
}
#else
#define mixq_fc_mac mixq_fc_mac_c
#endif

/* acc[0..g-1] += dot over the whole column: the units inside the input (or the scratch column),
 * then, for 8-bit codes, the last partial unit from a zero-padded copy. */
MIXQ_INLINE const mixq_u32a *mixq_fc_rows(const uint8_t *col, const uint8_t *col_end,
                                          const uint8_t *tail, int32_t tail_bytes,
                                          const mixq_u32a *w, int32_t *acc, int32_t g,
                                          int32_t bits, int32_t src8) {
  if (col != col_end) {
    w = g == 1 ? mixq_fc_mac_c(col, col_end, w, acc, 1, bits, src8)
               : mixq_fc_mac(col, col_end, w, acc, g, bits, src8);
  }
  if (tail_bytes) w = mixq_fc_mac_c(tail, tail + tail_bytes, w, acc, g, bits, src8);
  return w;
}

/* Requantize and store channels oc .. oc + g - 1 from acc for output mode `mode` (a constant
 * after inlining; the code width is the mode's, or out_bits for MIXQ_OUT_ANY): the modes other
 * than MIXQ_OUT_U8, which the channel loop stores inline. */
MIXQ_INLINE void mixq_fc_out_mode(const mixq_conv_params_t *p, const int32_t *acc, int32_t oc,
                                  int32_t g, uint8_t *output, int32_t mode) {
  const int64_t *bias = p->bias + oc;
  const int32_t *mult = p->multiplier + oc, *shift = p->shift + oc;
  const int32_t bits = mixq_dsp_mode_bits(mode, p->out_bits);
  for (int32_t j = 0; j < g; j++) {
    const int32_t sh = shift[j];
    const int32_t y = mixq_dsp_code(acc[j], bias[j], mult[j], sh, sh - 32, mode, p->act_min,
                                    p->act_max);
    mixq_dsp_store(output, oc + j, y, bits);
  }
}

/* mixq_fc_out_mode out of line, one call per channel group. */
__attribute__((noinline)) static void mixq_fc_out(const mixq_conv_params_t *p,
                                                  const int32_t *acc, int32_t oc, int32_t g,
                                                  uint8_t *output) {
  switch (mixq_dsp_out_mode(p)) {
    case MIXQ_OUT_U4: mixq_fc_out_mode(p, acc, oc, g, output, MIXQ_OUT_U4); break;
    case MIXQ_OUT_U2: mixq_fc_out_mode(p, acc, oc, g, output, MIXQ_OUT_U2); break;
    default: mixq_fc_out_mode(p, acc, oc, g, output, MIXQ_OUT_ANY); break;
  }
}

/* The kernel for one weight width, input source (src8: 8-bit codes read in place) and output
 * (mode8: MIXQ_OUT_U8 or MIXQ_OUT_S8, full-range 8-bit codes stored inline; 0: the others,
 * stored by mixq_fc_out), all constants after inlining. */
MIXQ_INLINE void mixq_fc_dsp(const mixq_conv_params_t *p, const uint8_t *input,
                             uint8_t *output, uint8_t *scratch, const int32_t bits,
                             const int32_t src8, const int32_t mode8) {
  const int32_t in_bits = src8 ? 8 : p->in_bits;
  const int32_t codes = mixq_fc_codes(p, in_bits), per_w = 32 / bits;
  const int32_t offset = bits == 8 ? 0 : (bits == 4 ? 8 : 2); /* offset-binary weights */
  uint32_t tail[4] = {0, 0, 0, 0}; /* one unit of 8-bit codes (16 at most) */
  const uint8_t *col = input, *col_end;
  int32_t tail_bytes = 0, sum = 0;
  if (src8) {
    const int32_t full = codes / per_w * per_w;
    col_end = input + full;
    if (codes > full) {
      memcpy(tail, input + full, (size_t)(codes - full));
      tail_bytes = per_w;
    }
    if (offset) {
      uint32_t s = 0;
      int32_t i = 0;
      for (; i + 4 <= codes; i += 4) s = mixq_usada8(mixq_dsp_load32(input + i), s);
      for (; i < codes; i++) s += input[i];
      sum = (int32_t)s;
    }
  } else {
    const int32_t k_lanes = mixq_fc_k_lanes(p, bits);
    mixq_u32a *d = (mixq_u32a *)(void *)scratch;
    mixq_u32a *const end = d + k_lanes / 2;
    int32_t *const sp = offset ? &sum : NULL;
    if (in_bits == 4) d = mixq_dsp_expand(d, input, codes, 4, 2, sp);
    else d = mixq_dsp_expand(d, input, codes, 2, 2, sp);
    while (d < end) MIXQ_EMIT2(d, 2, 0u, 0u);
    col = scratch;
    col_end = scratch + k_lanes * 2;
  }
  const mixq_u32a *w = (const mixq_u32a *)(const void *)p->weight;
  const int64_t *bias = p->bias;
  const int32_t *mult = p->multiplier, *shift = p->shift;
  const int32_t init = -offset * sum;
  for (int32_t oc = 0, left = p->out_c; left > 0;) {
    const int32_t g = left >= 4 ? 4 : (left >= 2 ? 2 : 1);
    int32_t acc[4] = {init, init, init, init};
    w = mixq_fc_rows(col, col_end, (const uint8_t *)tail, tail_bytes, w, acc, g, bits, src8);
    if (mode8) {
      for (int32_t j = 0; j < g; j++) {
        const int32_t sh = shift[j];
        output[oc + j] = (uint8_t)mixq_dsp_code(acc[j], bias[j], mult[j], sh, sh - 32, mode8,
                                                mode8 == MIXQ_OUT_U8 ? 0 : -128,
                                                mode8 == MIXQ_OUT_U8 ? 255 : 127);
      }
    } else {
      mixq_fc_out(p, acc, oc, g, output);
    }
    bias += g; mult += g; shift += g; oc += g; left -= g;
  }
}

/* The entry points, one per weight width (s8 also runs sub-byte weights widened offline). */
#define MIXQ_FC_DSP_ENTRY(name, bits)                                                      \
  void name(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,            \
            uint8_t *scratch) {                                                            \
    const int32_t mode = mixq_dsp_out_mode(p), src8 = p->in_bits == 8;                     \
    if (mode == MIXQ_OUT_U8) {                                                             \
      if (src8) mixq_fc_dsp(p, input, output, scratch, bits, 1, MIXQ_OUT_U8);              \
      else mixq_fc_dsp(p, input, output, scratch, bits, 0, MIXQ_OUT_U8);                   \
    } else if (mode == MIXQ_OUT_S8) { /* logits */                                         \
      if (src8) mixq_fc_dsp(p, input, output, scratch, bits, 1, MIXQ_OUT_S8);              \
      else mixq_fc_dsp(p, input, output, scratch, bits, 0, MIXQ_OUT_S8);                   \
    } else {                                                                               \
      if (src8) mixq_fc_dsp(p, input, output, scratch, bits, 1, 0);                        \
      else mixq_fc_dsp(p, input, output, scratch, bits, 0, 0);                             \
    }                                                                                      \
  }
MIXQ_FC_DSP_ENTRY(mixq_fc_dsp_s8, 8)
MIXQ_FC_DSP_ENTRY(mixq_fc_dsp_s4, 4)
MIXQ_FC_DSP_ENTRY(mixq_fc_dsp_s2, 2)
