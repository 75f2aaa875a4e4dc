// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
// xvs steering program: send up to the AF_XDP socket of the receiving queue only the
// frames the director must handle; pass everything else to the kernel.
//
// Redirected: (1) TCP/UDP/SCTP to a service (VIP:port/proto exactly, VIP with port 0, or a
// VIP prefix); (2) NAT replies: TCP/UDP from a real's address:port that are not addressed
// to one of the director's own addresses (health-check replies are); (3) ICMP/ICMPv6
// errors whose quoted header belongs to a service or a real; (4) IPv4 fragments and
// IPv6 fragments to a VIP address. Everything else (ARP, ND, ping to the director, SSH,
// VRRP) is XDP_PASS.
//
// Steered frames (1-4) that find no AF_XDP socket for their queue are dropped and
// counted, never passed: the program stays attached (pinned) after `xvs run` dies until
// the next run or a clean stop removes it, and the kernel must not answer a VIP's flows
// with resets or forward NAT replies untranslated meanwhile.
//
// Invariant: the program never modifies a frame; it only chooses XDP_REDIRECT, PASS or
// (steered, no socket) DROP. Maps are filled by userspace whenever the configuration
// changes.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "common.h"

// ICMP headers, declared here: linux/icmp.h drags in libc's socket headers.
struct icmphdr {
    __u8 type;
    __u8 code;
    __u16 checksum;
    __u32 rest;
};
struct icmp6hdr {
    __u8 icmp6_type;
    __u8 icmp6_code;
    __u16 icmp6_cksum;
    __u32 rest;
};
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

#define MAX_QUEUES 64
#define MAX_IFACES 16

// An endpoint: IPv4 addresses are stored as ::ffff:a.b.c.d so one key type serves both.
struct endpoint {
    __u8 addr[16];
    __u16 port; // network order; 0 in `vips` = every port
    __u8 proto;
    __u8 pad;
};

// LPM key for prefix VIPs: proto and port first, then the (mapped) address.
struct prefix_key {
    __u32 prefixlen; // 24 + address prefix length (IPv4: +96 for the ::ffff: part)
    __u8 proto;
    __u16 port;
    __u8 addr[16];
} __attribute__((packed));


struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, MAX_QUEUES * MAX_IFACES);
    __type(key, __u32);
    __type(value, __u32);
} xsks SEC(".maps");

// ifindex -> slot; the socket of (slot, queue) is at slot * MAX_QUEUES + queue.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_IFACES);
    __type(key, __u32);
    __type(value, __u32);
} ifslots SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct endpoint);
    __type(value, __u8);
} vips SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 4096);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct prefix_key);
    __type(value, __u8);
} vip_prefixes SEC(".maps");

// Addresses of VIPs (for fragments, which carry no port after the first).
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct addr_key);
    __type(value, __u8);
} vip_addrs SEC(".maps");

// NAT reals' addresses (for reply fragments, which carry no port after the first).
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct addr_key);
    __type(value, __u8);
} real_addrs SEC(".maps");

// NAT reals' endpoints: replies come from these.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct endpoint);
    __type(value, __u8);
} reals SEC(".maps");

// The director's own addresses: traffic to them is the kernel's.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, struct addr_key);
    __type(value, __u8);
} local_addrs SEC(".maps");

// Counters: 0 redirected, 1 passed, 2 steered but no socket for the queue (dropped).
PERCPU_COUNTERS(counters, 4);

static __always_inline void map4(__u8 *dst, __be32 a) {
    __builtin_memset(dst, 0, 10);
    dst[10] = 0xff;
    dst[11] = 0xff;
    __builtin_memcpy(dst + 12, &a, 4);
}

static __always_inline int is_local(const __u8 *addr) {
    struct addr_key k;
    __builtin_memcpy(k.addr, addr, 16);
    return bpf_map_lookup_elem(&local_addrs, &k) != 0;
}

static __always_inline int is_vip_addr(const __u8 *addr) {
    struct addr_key k;
    __builtin_memcpy(k.addr, addr, 16);
    return bpf_map_lookup_elem(&vip_addrs, &k) != 0;
}

static __always_inline int is_real_addr(const __u8 *addr) {
    struct addr_key k;
    __builtin_memcpy(k.addr, addr, 16);
    return bpf_map_lookup_elem(&real_addrs, &k) != 0;
}

// A fragment without ports: ours when it goes to a VIP, or comes from a NAT real toward
// someone other than the director.
static __always_inline int wanted_fragment(const __u8 *src, const __u8 *dst) {
    return is_vip_addr(dst) || (is_real_addr(src) && !is_local(dst));
}

static __always_inline int is_service(const __u8 *addr, __u16 port, __u8 proto, int v4) {
    struct endpoint e = {};
    __builtin_memcpy(e.addr, addr, 16);
    e.port = port;
    e.proto = proto;
    if (bpf_map_lookup_elem(&vips, &e))
        return 1;
    e.port = 0;
    if (bpf_map_lookup_elem(&vips, &e))
        return 1;
    struct prefix_key pk = {};
    pk.prefixlen = 24 + 128;
    pk.proto = proto;
    pk.port = port;
    __builtin_memcpy(pk.addr, addr, 16);
    if (bpf_map_lookup_elem(&vip_prefixes, &pk))
        return 1;
    pk.port = 0;
    return bpf_map_lookup_elem(&vip_prefixes, &pk) != 0;
}

// A NAT real's endpoint; port 0 in `reals`: every port (a real that keeps the client's
// destination port, as a fwmark service's do).
static __always_inline int is_real(const __u8 *addr, __u16 port, __u8 proto) {
    struct endpoint e = {};
    __builtin_memcpy(e.addr, addr, 16);
    e.port = port;
    e.proto = proto;
    if (bpf_map_lookup_elem(&reals, &e))
        return 1;
    e.port = 0;
    return bpf_map_lookup_elem(&reals, &e) != 0;
}

// Decide for a TCP/UDP packet src:sport -> dst:dport.
static __always_inline int wanted(const __u8 *src, __u16 sport, const __u8 *dst, __u16 dport, __u8 proto, int v4) {
    if (is_service(dst, dport, proto, v4))
        return 1;
    if (is_real(src, sport, proto) && !is_local(dst))
        return 1;
    return 0;
}

// An ICMP error quoting src:sport -> dst:dport: ours when the quoted packet was a reply
// from a service (client-side error) or a request to a real (real-side error).
static __always_inline int wanted_quote(const __u8 *qsrc, __u16 qsport, const __u8 *qdst, __u16 qdport, __u8 proto,
                                        const __u8 *outer_dst, int v4) {
    if (is_service(qsrc, qsport, proto, v4))
        return 1;
    if (is_real(qdst, qdport, proto) && !is_local(outer_dst))
        return 1;
    return 0;
}


// The transports xvs balances, whose source and destination ports are the first four
// bytes of their header: TCP, UDP and SCTP.
static __always_inline int has_ports(__u8 proto) {
    return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == 132;
}

static __always_inline int parse_quote4(void *q, void *end, const __u8 *outer_dst) {
    struct iphdr *iph = q;
    if (CHECK(iph, end, sizeof(*iph)))
        return 0;
    if (iph->ihl < 5 || !has_ports(iph->protocol))
        return 0;
    __u16 *ports = (void *)iph + iph->ihl * 4;
    if (CHECK(ports, end, 4))
        return 0;
    __u8 s[16], d[16];
    map4(s, iph->saddr);
    map4(d, iph->daddr);
    return wanted_quote(s, ports[0], d, ports[1], iph->protocol, outer_dst, 1);
}

static __always_inline int parse_quote6(void *q, void *end, const __u8 *outer_dst) {
    struct ipv6hdr *ip6 = q;
    if (CHECK(ip6, end, sizeof(*ip6)))
        return 0;
    if (!has_ports(ip6->nexthdr))
        return 0;
    __u16 *ports = (void *)(ip6 + 1);
    if (CHECK(ports, end, 4))
        return 0;
    return wanted_quote(ip6->saddr.in6_u.u6_addr8, ports[0], ip6->daddr.in6_u.u6_addr8, ports[1], ip6->nexthdr,
                        outer_dst, 0);
}

static __always_inline int decide4(struct iphdr *iph, void *end) {
    if (CHECK(iph, end, sizeof(*iph)) || iph->ihl < 5)
        return 0;
    __u8 src[16], dst[16];
    map4(src, iph->saddr);
    map4(dst, iph->daddr);
    // Fragments: the first carries ports and is judged like any packet; later ones by
    // address (the engine's fragment table knows their connection).
    __u16 frag = bpf_ntohs(iph->frag_off);
    if (frag & 0x1fff)
        return wanted_fragment(src, dst);
    void *l4 = (void *)iph + iph->ihl * 4;
    if (has_ports(iph->protocol)) {
        __u16 *ports = l4;
        if (CHECK(ports, end, 4))
            return 0;
        return wanted(src, ports[0], dst, ports[1], iph->protocol, 1);
    }
    if (iph->protocol == IPPROTO_ICMP) {
        struct icmphdr *ic = l4;
        if (CHECK(ic, end, sizeof(*ic)))
            return 0;
        if (ic->type == ICMP_DEST_UNREACH || ic->type == ICMP_TIME_EXCEEDED || ic->type == ICMP_PARAMETERPROB ||
            ic->type == ICMP_SOURCE_QUENCH)
            return parse_quote4(ic + 1, end, dst);
    }
    return 0;
}

static __always_inline int decide6(struct ipv6hdr *ip6, void *end) {
    if (CHECK(ip6, end, sizeof(*ip6)))
        return 0;
    __u8 *src = ip6->saddr.in6_u.u6_addr8;
    __u8 *dst = ip6->daddr.in6_u.u6_addr8;
    void *l4 = ip6 + 1;
    __u8 nh = ip6->nexthdr;
    if (nh == 44) // a Fragment header
        return wanted_fragment(src, dst);
    if (has_ports(nh)) {
        __u16 *ports = l4;
        if (CHECK(ports, end, 4))
            return 0;
        return wanted(src, ports[0], dst, ports[1], nh, 0);
    }
    if (nh == IPPROTO_ICMPV6) {
        struct icmp6hdr *ic = l4;
        if (CHECK(ic, end, sizeof(*ic)))
            return 0;
        if (ic->icmp6_type >= 1 && ic->icmp6_type <= 4)
            return parse_quote6(ic + 1, end, dst);
        return 0; // ND, echo: the kernel's
    }
    // Other extension headers before TCP/UDP: rare; go up when addressed to a VIP.
    if (nh == 0 || nh == 43 || nh == 60)
        return is_vip_addr(dst);
    return 0;
}

SEC("xdp")
int xvs_steer(struct xdp_md *ctx) {
    struct frame f = frame_of(ctx);
    if (!f.eth)
        goto pass;
    __u16 proto = f.eth->h_proto;
    void *l3 = f.eth + 1;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
            if (CHECK(l3, f.end, 4))
                goto pass;
            proto = *(__u16 *)(l3 + 2);
            l3 += 4;
        }
    }
    int up = 0;
    if (proto == bpf_htons(ETH_P_IP))
        up = decide4(l3, f.end);
    else if (proto == bpf_htons(ETH_P_IPV6))
        up = decide6(l3, f.end);
    if (!up)
        goto pass;

    __u32 ifindex = ctx->ingress_ifindex;
    __u32 *slot = bpf_map_lookup_elem(&ifslots, &ifindex);
    if (!slot)
        return counted(&counters, 2, XDP_DROP);
    __u32 key = *slot * MAX_QUEUES + ctx->rx_queue_index;
    // With no socket bound for this queue (none yet, or xvs run died) the frame is
    // dropped and counted: it is the director's, never the kernel's.
    int r = bpf_redirect_map(&xsks, key, XDP_DROP);
    return counted(&counters, r == XDP_REDIRECT ? 0 : 2, r);
pass:
    return counted(&counters, 1, XDP_PASS);
}

char _license[] SEC("license") = "Dual BSD/GPL";
