/*
 * mixq runtime: parameter structs and inline helpers shared by every C kernel (C99, no malloc).
 *
 * Tensor format ("packed NHWC"): a tensor is a sequence of pixels (H*W of them, or one for a
 * vector), each pixel holds its C channel codes packed along the channel axis: `bits` bits per
 * code (8, 4 or 2), lowest channel in the lowest bits of a byte, and every pixel padded to a whole
 * number of bytes, so a pixel takes mixq_row_bytes(C, bits) = ceil(C * bits / 8) bytes.
 * Signed codes are two's complement inside their field; unsigned codes are plain binary.
 * Padding bits are ignored by readers and may hold anything.
 *
 * Ternary weights {-1, 0, +1} use the 2-bit two's complement field (0b11, 0b00, 0b01).
 */
#ifndef MIXQ_TYPES_H
#define MIXQ_TYPES_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define MIXQ_ALIGN4 __attribute__((aligned(4)))
#else
#define MIXQ_ALIGN4
#endif

/* Conv2d (regular, depthwise, 1x1) and fully connected layers.
 * Fully connected: the input is in_h x in_w pixels of in_c channels (1 x 1 for a vector), the
 * output one pixel of out_c channels, k_h = in_h, k_w = in_w, strides 1, no padding. */
typedef struct {
    int32_t in_h, in_w, in_c;      /* input dims (>= 1) */
    int32_t out_h, out_w, out_c;   /* output dims (>= 1) */
    int32_t k_h, k_w;              /* kernel size (>= 1) */
    int32_t stride_h, stride_w;    /* >= 1 */
    int32_t pad_top, pad_left;     /* zero padding before row 0 / column 0 (>= 0); the bottom and
                                      right padding follow from the output dims */
    int32_t in_bits, in_signed;    /* input codes: 8, 4 or 2 bits; 1 = two's complement */
    int32_t w_bits, w_ternary;     /* weight codes: 8, 4 or 2 bits, always signed; 1 = ternary */
    int32_t out_bits, out_signed;  /* output codes: 8, 4 or 2 bits; 1 = two's complement */
    int32_t act_min, act_max;      /* output clamp, inside the output code range */
    const uint8_t *weight;         /* packed weights, layout chosen by the kernel's packer */
    const int64_t *bias;           /* [out_c] int64 in product units (acc * multiplier), the
                                      rounding half 2^(shift-1) included */
    const int32_t *multiplier;     /* [out_c] int32 Q31 multiplier (any sign) */
    const int32_t *shift;          /* [out_c] total right shift in [1, 62] */
    int32_t out_pixel_stride;      /* bytes from one output pixel to the next; 0: dense,
                                      mixq_row_bytes(out_c, out_bits). Non-zero only for the
                                      kernels that honour it (mixq_out_pixel_bytes): they write
                                      into a wider tensor, a zero-copy concat */
} mixq_conv_params_t;

/* Declares a convolution-family kernel (conv, pointwise, depthwise, fully connected, every
 * kernel set): one signature, so the generated code calls any of them the same way.
 *   void name(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
 *             uint8_t *scratch); */
#define MIXQ_CONV_KERNEL(name)                                                                  \
    void name(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,               \
              uint8_t *scratch)

/* Global average pooling (in_h, in_w, c) -> (1, 1, c). */
typedef struct {
    int32_t in_h, in_w, c;
    int32_t in_bits, in_signed;
    int32_t out_bits, out_signed;
} mixq_pool_params_t;

/* Windowed max / average pooling (in_h, in_w, c) -> (out_h, out_w, c), codes unchanged in
 * format (in_bits/in_signed == out_bits/out_signed). */
typedef struct {
    int32_t in_h, in_w, c;
    int32_t out_h, out_w;
    int32_t k_h, k_w;               /* window size (>= 1) */
    int32_t stride_h, stride_w;     /* >= 1 */
    int32_t pad_top, pad_left;      /* padding before row 0 / column 0, below the window size */
    int32_t count_include_pad;      /* average: 1 divides by k_h * k_w, 0 by the taps inside */
    int32_t in_bits, in_signed;
    int32_t out_bits, out_signed;
    int32_t out_pixel_stride;       /* as in mixq_conv_params_t (0: dense) */
} mixq_pool2d_params_t;

/* One input of a channel concat: its format and the rescale to the output's scale
 * y = clamp(floor((x * multiplier + r) / 2^shift), act_min, act_max), r = 2^(shift-1) when
 * shift > 0, else 0 (multiplier 1, shift 0: the identity). */
typedef struct {
    int32_t c;                  /* channels of this input */
    int32_t bits, is_signed;    /* its codes */
    int32_t multiplier, shift;  /* int32 (any sign); shift in [0, 62] */
} mixq_concat_input_t;

/* Concatenation along channels of n_inputs tensors of `pixels` pixels each. */
typedef struct {
    int32_t pixels, n_inputs;
    int32_t out_c, out_bits, out_signed;
    int32_t act_min, act_max;
    const mixq_concat_input_t *inputs;  /* [n_inputs], in channel order */
} mixq_concat_params_t;

/* Residual add of two tensors of `pixels` pixels with c channels each. */
typedef struct {
    int32_t pixels, c;
    int32_t a_bits, a_signed;
    int32_t b_bits, b_signed;
    int32_t out_bits, out_signed;
    int32_t multiplier_a, multiplier_b;  /* int32 (any sign) */
    int32_t shift;                       /* [1, 62] */
    int32_t act_min, act_max;
} mixq_add_params_t;

/* Packing of the network input / unpacking of the network output (one code per byte). */
typedef struct {
    int32_t pixels, c;
    int32_t bits, is_signed;  /* format of the packed side */
} mixq_pack_params_t;

/* Bytes of `count` codes of `bits` bits packed into whole bytes: ceil(count * bits / 8). */
static inline int32_t mixq_row_bytes(int32_t count, int32_t bits)
{
    return (count * bits + 7) / 8;
}

/* Bytes from one output pixel to the next: `stride` when set (a producer writing its channels
 * into a zero-copy concat), else the dense mixq_row_bytes(c, bits). */
static inline int32_t mixq_out_pixel_bytes(int32_t stride, int32_t c, int32_t bits)
{
    return stride > 0 ? stride : mixq_row_bytes(c, bits);
}

/* log2 of the codes per byte: 0 for 8 bits, 1 for 4 bits, 2 for 2 bits. */
static inline int32_t mixq_codes_per_byte_log2(int32_t bits)
{
    return bits == 8 ? 0 : (bits == 4 ? 1 : 2);
}

/* Code `index` of a packed row (bits 8, 4 or 2), sign-extended when is_signed. */
static inline int32_t mixq_load_code(const uint8_t *row, int32_t index, int32_t bits,
                                     int32_t is_signed)
{
    const int32_t per_log2 = mixq_codes_per_byte_log2(bits);
    const int32_t bit = (index & ((1 << per_log2) - 1)) * bits;
    const uint32_t field = ((uint32_t)row[index >> per_log2] >> bit) & ((1u << bits) - 1u);
    int32_t code = (int32_t)field;
    if (is_signed && (field >> (bits - 1)) != 0u) {
        code -= (int32_t)1 << bits;
    }
    return code;
}

/* Store the low `bits` bits of `code` as code `index` of a packed row; other bits unchanged. */
static inline void mixq_store_code(uint8_t *row, int32_t index, int32_t bits, int32_t code)
{
    const int32_t per_log2 = mixq_codes_per_byte_log2(bits);
    const int32_t bit = (index & ((1 << per_log2) - 1)) * bits;
    const uint32_t mask = ((1u << bits) - 1u) << bit;
    uint8_t *byte = row + (index >> per_log2);
    *byte = (uint8_t)(((uint32_t)*byte & ~mask) | (((uint32_t)code << bit) & mask));
}

/* floor(value / 2^shift), shift in [0, 63], without the implementation-defined >> of negatives. */
static inline int64_t mixq_asr64(int64_t value, int32_t shift)
{
    return value >= 0 ? value >> shift : -((-(value + 1)) >> shift) - 1;
}

/* floor(num / den) for den > 0 (C's / truncates towards zero). */
static inline int64_t mixq_floor_div(int64_t num, int64_t den)
{
    int64_t q = num / den;
    if (num % den != 0 && num < 0) {
        q -= 1;
    }
    return q;
}

/* floor(num / den) for den > 0, in 32 bits. */
static inline int32_t mixq_floor_div32(int32_t num, int32_t den)
{
    int32_t q = num / den;
    if (num % den != 0 && num < 0) {
        q -= 1;
    }
    return q;
}

static inline int32_t mixq_clamp(int64_t value, int32_t lo, int32_t hi)
{
    return value < lo ? lo : (value > hi ? hi : (int32_t)value);
}

/* The body of mixq_requantize_s32 (mixq_kernels.h), inlinable into a kernel's output loop:
 * clamp(floor((acc * multiplier + bias) / 2^shift), act_min, act_max) in int64. */
static inline int32_t mixq_requantize_inline(int32_t acc, int64_t bias, int32_t multiplier,
                                             int32_t shift, int32_t act_min, int32_t act_max)
{
    return mixq_clamp(mixq_asr64((int64_t)acc * multiplier + bias, shift), act_min, act_max);
}

#endif /* MIXQ_TYPES_H */
