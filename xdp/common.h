// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
// What xvs's XDP programs share: the 16-byte address key (IPv4 as ::ffff:a.b.c.d), the
// bounds check the verifier needs before every header read, the frame's Ethernet header,
// and per-CPU counters of outcomes.
#ifndef XVS_XDP_COMMON_H
#define XVS_XDP_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct addr_key {
    __u8 addr[16];
};

// True when `n` bytes from `p` would run past `end`.
#define CHECK(p, end, n) ((void *)(p) + (n) > (void *)(end))

// A per-CPU array map `name` of `n` u64 counters (for count_in / counted).
#define PERCPU_COUNTERS(name, n)                                                                   \
    struct {                                                                                       \
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                                   \
        __uint(max_entries, n);                                                                    \
        __type(key, __u32);                                                                        \
        __type(value, __u64);                                                                      \
    } name SEC(".maps")

// Add one to slot `i` of a per-CPU u64 array map.
static __always_inline void count_in(void *map, __u32 i) {
    __u64 *c = bpf_map_lookup_elem(map, &i);
    if (c)
        *c += 1;
}

// Count an outcome in slot `i` of `map` and return the XDP action `action`.
static __always_inline int counted(void *map, __u32 i, int action) {
    count_in(map, i);
    return action;
}

// A frame: its Ethernet header (NULL when the frame is shorter than one) and its end.
struct frame {
    struct ethhdr *eth;
    void *end;
};

static __always_inline struct frame frame_of(struct xdp_md *ctx) {
    struct frame f = {(void *)(long)ctx->data, (void *)(long)ctx->data_end};
    if (CHECK(f.eth, f.end, sizeof(*f.eth)))
        f.eth = 0;
    return f;
}

#endif
