/*
 * Compile-time budgets of the device-agent core.
 *
 * Every struct of the core has a size fixed by these constants, so the RAM an agent needs
 * is known when it is linked. Override them with -D for a board (the footprint benchmark
 * builds the 64-feature, 10-class profile with -DTFA_HEAD_IN_MAX=32 -DTFA_HEAD_OUT_MAX=10).
 * A model whose shapes exceed a budget is refused at init with TFA_ERR_BUDGET, never
 * truncated. Contradictions are compile errors.
 */
#ifndef TINYFLEET_AGENT_CONFIG_H
#define TINYFLEET_AGENT_CONFIG_H

/* Input features (channels) whose running mean/variance TinyOL keeps. */
#ifndef TFA_FEATURES_MAX
#define TFA_FEATURES_MAX 64
#endif

/* Inputs and outputs of the update layer (the trainable dense head). */
#ifndef TFA_HEAD_IN_MAX
#define TFA_HEAD_IN_MAX 64
#endif
#ifndef TFA_HEAD_OUT_MAX
#define TFA_HEAD_OUT_MAX 16
#endif

/* 1: keep a velocity per head parameter so SGD can use momentum (doubles the head's RAM).
 * 0: momentum is not available (a config asking for it is refused). */
#ifndef TFA_WITH_MOMENTUM
#define TFA_WITH_MOMENTUM 0
#endif

#if TFA_FEATURES_MAX < 1 || TFA_FEATURES_MAX > 65535
#error "TFA_FEATURES_MAX must be in 1..65535"
#endif
#if TFA_HEAD_IN_MAX < 1 || TFA_HEAD_OUT_MAX < 2 || TFA_HEAD_IN_MAX > 65535 || \
    TFA_HEAD_OUT_MAX > 65535
#error "TFA_HEAD_IN_MAX must be >= 1 and TFA_HEAD_OUT_MAX >= 2 (a classifier has 2 classes)"
#endif
#if TFA_WITH_MOMENTUM != 0 && TFA_WITH_MOMENTUM != 1
#error "TFA_WITH_MOMENTUM is 0 or 1"
#endif

#endif
