// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
// What xvs's XDP programs share: the 16-byte address key (IPv4 as ::ffff:a.b.c.d), the
// bounds check the verifier needs before every header read, and per-CPU counters.
#ifndef XVS_XDP_COMMON_H
#define XVS_XDP_COMMON_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct addr_key {
    __u8 addr[16];
};

// True when `n` bytes from `p` would run past `end`.
#define CHECK(p, end, n) ((void *)(p) + (n) > (void *)(end))

// Add one to slot `i` of a per-CPU u64 array map.
static __always_inline void count_in(void *map, __u32 i) {
    __u64 *c = bpf_map_lookup_elem(map, &i);
    if (c)
        *c += 1;
}

#endif
