// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
// xvs real-server decapsulation: strip the outer header of IP-in-IP packets addressed to
// this host, of either family carrying either (IPv4 protocol 4 or 41, IPv6 next header 4
// or 41), and hand the inner packet to the kernel, as the ipip/sit/ip6_tunnel modules
// would (many kernels, ours included, have none). The inner destination is the VIP,
// configured on `lo`.
//
// Invariant: only tunnel packets whose outer destination is one of `local_addrs` (or any
// tunnel packet when that map is empty) are changed; everything else passes untouched.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "common.h"


struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, struct addr_key);
    __type(value, __u8);
} local_addrs SEC(".maps");

// 0: decapsulated, 1: passed untouched
PERCPU_COUNTERS(counters, 2);

static __always_inline int for_us(const __u8 *addr16) {
    struct addr_key k;
    __builtin_memcpy(k.addr, addr16, 16);
    if (bpf_map_lookup_elem(&local_addrs, &k))
        return 1;
    // An empty map means "any": userspace fills it with this host's addresses.
    struct addr_key zero = {};
    return bpf_map_lookup_elem(&local_addrs, &zero) != 0;
}


SEC("xdp")
int xvs_decap(struct xdp_md *ctx) {
    struct frame f = frame_of(ctx);
    if (!f.eth)
        goto pass;
    int strip = 0;
    __u16 inner_proto = 0;
    if (f.eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *iph = (void *)(f.eth + 1);
        if (CHECK(iph, f.end, sizeof(*iph)) || iph->ihl < 5)
            goto pass;
        if (iph->protocol == IPPROTO_IPIP)
            inner_proto = bpf_htons(ETH_P_IP);
        else if (iph->protocol == IPPROTO_IPV6)
            inner_proto = bpf_htons(ETH_P_IPV6);
        else
            goto pass;
        if (bpf_ntohs(iph->frag_off) & 0x3fff) // outer fragments: leave to the kernel
            goto pass;
        __u8 d[16] = {};
        d[10] = 0xff;
        d[11] = 0xff;
        __builtin_memcpy(d + 12, &iph->daddr, 4);
        if (!for_us(d))
            goto pass;
        strip = iph->ihl * 4;
    } else if (f.eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = (void *)(f.eth + 1);
        if (CHECK(ip6, f.end, sizeof(*ip6)))
            goto pass;
        if (ip6->nexthdr == IPPROTO_IPV6)
            inner_proto = bpf_htons(ETH_P_IPV6);
        else if (ip6->nexthdr == IPPROTO_IPIP)
            inner_proto = bpf_htons(ETH_P_IP);
        else
            goto pass;
        if (!for_us(ip6->daddr.in6_u.u6_addr8))
            goto pass;
        strip = sizeof(*ip6);
    } else {
        goto pass;
    }
    if (strip < 20 || strip > 60)
        goto pass;
    // Move the Ethernet header forward over the outer IP header, then drop the gap.
    struct ethhdr copy;
    __builtin_memcpy(&copy, f.eth, sizeof(copy));
    copy.h_proto = inner_proto;
    if (bpf_xdp_adjust_head(ctx, strip))
        goto pass;
    f = frame_of(ctx);
    if (!f.eth)
        return XDP_DROP;
    __builtin_memcpy(f.eth, &copy, sizeof(copy));
    return counted(&counters, 0, XDP_PASS);
pass:
    return counted(&counters, 1, XDP_PASS);
}

char _license[] SEC("license") = "Dual BSD/GPL";
