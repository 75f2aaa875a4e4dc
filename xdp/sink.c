// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
// xvs benchmark sink, attached to a real server's interface by `xvs-bench veth`: count
// and drop every UDP/IPv4 or UDP/IPv6 frame, so a real costs almost nothing and the
// benchmark measures the director. Everything else (ARP, ND, ping) passes to the kernel.
//
// Counters (per CPU): 0 = UDP frames whose source MAC is `director[0]` (what the director
// forwarded), 1 = other UDP frames (flooded by the switch, or not from the director).
//
// Invariant: the program never modifies a frame.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "common.h"

struct mac {
    __u8 addr[8]; // 6 bytes used
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct mac);
} director SEC(".maps");

PERCPU_COUNTERS(counters, 2);

SEC("xdp")
int xvs_sink(struct xdp_md *ctx) {
    struct frame f = frame_of(ctx);
    struct ethhdr *eth = f.eth;
    if (!eth)
        return XDP_PASS;
    __u8 proto;
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)(eth + 1);
        if (CHECK(ip, f.end, sizeof(*ip)))
            return XDP_PASS;
        proto = ip->protocol;
    } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = (void *)(eth + 1);
        if (CHECK(ip6, f.end, sizeof(*ip6)))
            return XDP_PASS;
        proto = ip6->nexthdr;
    } else {
        return XDP_PASS;
    }
    if (proto != IPPROTO_UDP)
        return XDP_PASS;
    __u32 key = 0;
    struct mac *want = bpf_map_lookup_elem(&director, &key);
    __u32 i = 1;
    if (want && want->addr[0] == eth->h_source[0] && want->addr[1] == eth->h_source[1] &&
        want->addr[2] == eth->h_source[2] && want->addr[3] == eth->h_source[3] &&
        want->addr[4] == eth->h_source[4] && want->addr[5] == eth->h_source[5])
        i = 0;
    return counted(&counters, i, XDP_DROP);
}

char _license[] SEC("license") = "Dual BSD/GPL";
