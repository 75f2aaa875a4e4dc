// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
// xvs real-server decapsulation: strip the outer headers of tunnelled packets addressed
// to this host, of either family carrying either, as IPVS's tunnel types send them: IPIP
// (IPv4 protocol 4 or 41, IPv6 next header 4 or 41), GRE (protocol 47: RFC 2784, with
// or without its checksum, which is not verified; keys and sequence numbers are not
// IPVS's and pass untouched) and GUE (UDP to a port in `gue_ports`, variant 0 without
// extension fields). The inner packet goes to the kernel, as the ipip/sit/ip6_tunnel/
// gre/fou modules would (many kernels, ours included, have none). The inner destination
// is the VIP, configured on `lo`.
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

// UDP ports (network order) on which GUE is decapsulated.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16);
    __type(key, __u16);
    __type(value, __u8);
} gue_ports SEC(".maps");

// 0: decapsulated, 1: passed untouched
PERCPU_COUNTERS(counters, 2);

#define IPPROTO_GRE_ 47
#define IPPROTO_UDP_ 17

// What follows the outer IP header at `l4` for protocol `proto`: the inner packet's
// ethertype (0: not a tunnel xvs decapsulates) and, in `*extra`, the bytes of tunnel
// headers before it.
static __always_inline __u16 inner_of(void *l4, void *end, __u8 proto, int *extra) {
    *extra = 0;
    if (proto == IPPROTO_IPIP)
        return bpf_htons(ETH_P_IP);
    if (proto == IPPROTO_IPV6)
        return bpf_htons(ETH_P_IPV6);
    if (proto == IPPROTO_GRE_) {
        __u8 *g = l4;
        if (CHECK(g, end, 4))
            return 0;
        // C (checksum present) only, version 0.
        if ((g[0] & 0x7f) || g[1])
            return 0;
        *extra = (g[0] & 0x80) ? 8 : 4;
        __u16 type = ((__u16)g[2] << 8) | g[3];
        if (type == ETH_P_IP || type == ETH_P_IPV6)
            return bpf_htons(type);
        return 0;
    }
    if (proto == IPPROTO_UDP_) {
        __u8 *u = l4;
        if (CHECK(u, end, 12))
            return 0;
        __u16 dport;
        __builtin_memcpy(&dport, u + 2, 2);
        if (!bpf_map_lookup_elem(&gue_ports, &dport))
            return 0;
        // GUE variant 0, C 0, no extension fields, no flags.
        if (u[8] || u[10] || u[11])
            return 0;
        *extra = 12;
        if (u[9] == IPPROTO_IPIP)
            return bpf_htons(ETH_P_IP);
        if (u[9] == IPPROTO_IPV6)
            return bpf_htons(ETH_P_IPV6);
        return 0;
    }
    return 0;
}

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
        int extra;
        inner_proto = inner_of((void *)iph + iph->ihl * 4, f.end, iph->protocol, &extra);
        if (!inner_proto)
            goto pass;
        if (bpf_ntohs(iph->frag_off) & 0x3fff) // outer fragments: leave to the kernel
            goto pass;
        __u8 d[16] = {};
        d[10] = 0xff;
        d[11] = 0xff;
        __builtin_memcpy(d + 12, &iph->daddr, 4);
        if (!for_us(d))
            goto pass;
        strip = iph->ihl * 4 + extra;
    } else if (f.eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = (void *)(f.eth + 1);
        if (CHECK(ip6, f.end, sizeof(*ip6)))
            goto pass;
        int extra;
        inner_proto = inner_of(ip6 + 1, f.end, ip6->nexthdr, &extra);
        if (!inner_proto)
            goto pass;
        if (!for_us(ip6->daddr.in6_u.u6_addr8))
            goto pass;
        strip = sizeof(*ip6) + extra;
    } else {
        goto pass;
    }
    if (strip < 20 || strip > 72)
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
