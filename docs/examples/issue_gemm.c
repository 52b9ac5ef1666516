/*
 * Issue one dense GEMM (with the FFN-Reuse keep-mask) to the EXION core, using only the
 * generated C header: register offsets, the argument-field macros, flags and limits.
 *
 * Build against a generated header (make verilog writes build/exion_core_<R>x<C>.h):
 *   gcc -std=c11 -Wall -Wextra -Werror -pedantic \
 *       -DEXION_HEADER='"build/exion_core_16x16.h"' docs/examples/issue_gemm.c
 *
 * The register window here is an array standing in for the AXI4-Lite mapping, so the example
 * runs anywhere; it prints the words it wrote (tests/test_c_header.py checks them against
 * exion.regmap.encode).
 */
#include <stdint.h>
#include <stdio.h>

#ifndef EXION_HEADER
#define EXION_HEADER "exion_core.h"
#endif
#include EXION_HEADER

/* Stand-in for the mapped registers ID .. CMD. */
static uint32_t regs[EXION_REG_CMD / 4u + 1u];

static uint32_t read_reg(uint32_t offset) { return regs[offset / 4u]; }
static void write_reg(uint32_t offset, uint32_t value) { regs[offset / 4u] = value; }

/* Write the arguments, then the command word (which issues the command). Returns -1 when the
 * queue is full, so the caller can retry later. */
static int issue(uint32_t cmd, const uint32_t args[6])
{
    unsigned i;
    if (read_reg(EXION_REG_STATUS) & EXION_STATUS_QUEUE_FULL)
        return -1;
    for (i = 0; i < 6u; i++)
        write_reg(EXION_REG_ARG0 + 4u * i, args[i]);
    write_reg(EXION_REG_CMD, cmd);
    return 0;
}

int main(void)
{
    /* One row group of tokens times EXION_COLS output channels, K = 2 lane chunks. */
    const uint32_t kc = 2, shift = 9, n_ch = EXION_COLS, n_rows = EXION_ROWS;
    const int32_t th_hi = 5, th_lo = -6;
    uint32_t args[6] = {0, 0, 0, 0, 0, 0};
    uint32_t cmd;
    unsigned i;

    if (kc > EXION_IMEM_WORDS || n_ch > EXION_OMEM_WORDS || n_rows > EXION_ROWS)
        return 2; /* the core would refuse it (CAUSE TILE / ADDR_RANGE) */

    args[EXION_ARG_KC_REG] |= EXION_ARG(KC, kc);
    args[EXION_ARG_SHIFT_REG] |= EXION_ARG(SHIFT, shift);
    args[EXION_ARG_CH_BASE_REG] |= EXION_ARG(CH_BASE, 0);
    args[EXION_ARG_N_CH_REG] |= EXION_ARG(N_CH, n_ch);
    args[EXION_ARG_IBUF_REG] |= EXION_ARG(IBUF, 0);
    args[EXION_ARG_WBUF_REG] |= EXION_ARG(WBUF, 1);
    args[EXION_ARG_OBUF_REG] |= EXION_ARG(OBUF, 1);
    args[EXION_ARG_N_ROWS_REG] |= EXION_ARG(N_ROWS, n_rows);
    args[EXION_ARG_WBASE_REG] |= EXION_ARG(WBASE, 0);
    args[EXION_ARG_TH_HI_REG] |= EXION_ARG(TH_HI, th_hi);
    args[EXION_ARG_TH_LO_REG] |= EXION_ARG(TH_LO, th_lo);
    cmd = (EXION_OP_GEMM << EXION_CMD_OPCODE_SHIFT) | EXION_FLAG_FFN_MASK;

    if (issue(cmd, args) != 0)
        return 1;
    for (i = 0; i < 6u; i++)
        printf("ARG%u 0x%08lx\n", i, (unsigned long)read_reg(EXION_REG_ARG0 + 4u * i));
    printf("CMD 0x%08lx\n", (unsigned long)read_reg(EXION_REG_CMD));
    printf("queue depth %u, max keys %u, mask channels %u\n",
           (unsigned)EXION_QUEUE_DEPTH, (unsigned)EXION_MAX_KEYS, (unsigned)EXION_MASK_CHANNELS);
    return 0;
}
