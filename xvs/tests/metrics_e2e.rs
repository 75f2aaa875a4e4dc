//! The metrics endpoint end to end: `xvs run` in the NAT namespace lab with
//! `[director] metrics` on the director's own address (not a service, so the XDP program
//! passes it to the kernel); HTTP traffic from the client through the VIP while the client
//! scrapes `GET /metrics` and parses it with a real Prometheus text-format parser
//! (openmetrics-parser). Needs root, namespaces and AF_XDP: fails, never skips.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use openmetrics_parser::{prometheus::parse_prometheus, PrometheusValue};
use xvs_lab::http::http_get;

const METRICS: &str = "10.0.0.1:9477";

/// (family, sorted labels) → value; histograms as their count.
type Samples = BTreeMap<(String, Vec<(String, String)>), f64>;

fn scrape() -> (String, Samples) {
    let addr: SocketAddr = METRICS.parse().unwrap();
    let resp = http_get(addr, "/metrics").expect("scrape the metrics endpoint");
    let (head, body) = resp.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let exp = parse_prometheus(body).unwrap_or_else(|e| panic!("the exposition does not parse: {e:?}\n{body}"));
    let mut out = Samples::new();
    for (name, f) in &exp.families {
        for s in f.iter_samples() {
            let mut labels: Vec<(String, String)> =
                s.get_labelset().map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
            labels.sort();
            let v = match &s.value {
                PrometheusValue::Counter(c) => c.value.as_f64(),
                PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => n.as_f64(),
                PrometheusValue::Histogram(h) => h.count.unwrap_or(0) as f64,
                PrometheusValue::Summary(_) => panic!("no summaries expected"),
            };
            out.insert((name.clone(), labels), v);
        }
    }
    (body.to_string(), out)
}

fn get(m: &Samples, name: &str, kv: &[(&str, &str)]) -> Option<f64> {
    let mut labels: Vec<(String, String)> = kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    labels.sort();
    m.get(&(name.to_string(), labels)).copied()
}

fn family<'a>(m: &'a Samples, name: &'a str) -> impl Iterator<Item = (&'a Vec<(String, String)>, f64)> + 'a {
    m.iter().filter(move |((n, _), _)| n == name).map(|((_, l), v)| (l, *v))
}

fn real_in(m: &Samples, real: &str, what: &str) -> f64 {
    get(m, what, &[("direction", "in"), ("service", "tcp/10.0.1.100:80"), ("real", real)])
        .unwrap_or_else(|| panic!("no {what} for {real}"))
}

#[test]
fn metrics_during_nat_traffic() {
    let run = Running::start("metrics_nat", LabMode::Nat, 3, 1, |lab| {
        lab.config("rr", None, "").replace("[director]\n", &format!("[director]\nmetrics = \"{METRICS}\"\n"))
    });
    assert!(run.dump().contains(&format!("metrics: http://{METRICS}/metrics")), "{}", run.dump());
    let reals: Vec<String> = (0..3).map(|i| format!("{}:8080", real_addrs(i).0)).collect();

    let requests = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (first, second, last) = run.client(|| {
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let r = common::get(vip_http(false), "/", None);
                    assert_eq!(r.head.status, 200);
                    requests.fetch_add(1, Ordering::Relaxed);
                }
            });
            let t0 = Instant::now();
            std::thread::sleep(Duration::from_millis(1500));
            let first = scrape();
            std::thread::sleep(Duration::from_millis(1500));
            let second = scrape();
            // At least two 2 s estimator ticks with traffic before the last scrape.
            std::thread::sleep(Duration::from_secs(7).saturating_sub(t0.elapsed()));
            let last = scrape();
            stop.store(true, Ordering::Relaxed);
            (first, second, last)
        })
    });
    let n = requests.load(Ordering::Relaxed);
    assert!(n > 30, "only {n} requests went through\n{}", run.dump());
    let (a, b, c) = (&first.1, &second.1, &last.1);

    // Per-real packet counters grow during traffic, on every real (rr).
    for r in &reals {
        let (x, y, z) = (
            real_in(a, r, "xvs_packets_total"),
            real_in(b, r, "xvs_packets_total"),
            real_in(c, r, "xvs_packets_total"),
        );
        assert!(x > 0.0 && x < y && y < z, "{r}: packets in {x}, {y}, {z}\n{}", last.0);
        let out = get(c, "xvs_packets_total", &[("direction", "out"), ("service", "tcp/10.0.1.100:80"), ("real", r)]);
        assert!(out.unwrap() > 0.0, "{r}: no packets out (NAT replies)");
        assert!(real_in(c, r, "xvs_bytes_total") > real_in(a, r, "xvs_bytes_total"));
        let conns = get(c, "xvs_connections_total", &[("service", "tcp/10.0.1.100:80"), ("real", r)]).unwrap();
        assert!(conns >= 10.0, "{r}: {conns} connections");
        // The estimator saw traffic on this real.
        assert!(real_in(c, r, "xvs_rate_pps") > 0.0, "{r}: no rate\n{}", last.0);
    }
    // Four services (TCP and UDP, IPv4 and IPv6) with three reals each; the idle ones at 0.
    assert_eq!(family(c, "xvs_connections_total").count(), 12);
    let real6 = format!("[{}]:8080", real_addrs(0).1);
    let v6 =
        get(c, "xvs_packets_total", &[("direction", "in"), ("service", "tcp/[2001:db8:1::100]:80"), ("real", &real6)]);
    assert_eq!(v6, Some(0.0), "{real6}");
    let svc_pps = get(c, "xvs_service_rate_pps", &[("direction", "in"), ("service", "tcp/10.0.1.100:80")]).unwrap();
    let svc_cps = get(c, "xvs_service_rate_cps", &[("service", "tcp/10.0.1.100:80")]).unwrap();
    assert!(svc_pps > 0.0 && svc_cps > 0.0, "service rates {svc_pps} pps {svc_cps} cps");

    // Drops: every reason exported, zeros included; the engine's books balance.
    let drops: Vec<(String, f64)> = family(c, "xvs_drops_total").map(|(l, v)| (l[0].1.clone(), v)).collect();
    assert_eq!(drops.len(), xvs_engine::DropReason::COUNT, "{drops:?}");
    for r in xvs_engine::DropReason::ALL {
        assert!(drops.iter().any(|(n, _)| n == r.name()), "no drop counter for {}", r.name());
    }
    let total_drops: f64 = drops.iter().map(|d| d.1).sum();
    let (rx, tx, passed) = (
        get(c, "xvs_rx_packets_total", &[]).unwrap(),
        get(c, "xvs_tx_packets_total", &[]).unwrap(),
        get(c, "xvs_passed_packets_total", &[]).unwrap(),
    );
    assert!(rx > 0.0);
    assert_eq!(rx, tx + passed + total_drops, "rx = tx + passed + drops (one poll loop)");

    // The rest of the families a dashboard relies on.
    let mode = family(c, "xvs_xdp_mode").next().expect("an XDP mode");
    assert!(mode.0.contains(&("interface".into(), "d0".into())), "{mode:?}");
    assert_eq!(mode.1, 1.0);
    assert_eq!(get(c, "xvs_connection_table_capacity", &[]), Some(200_000.0));
    assert!(get(c, "xvs_connection_table_entries", &[]).is_some());
    let sock = get(c, "xvs_afxdp_socket_packets_total", &[("interface", "d0"), ("queue", "0"), ("direction", "in")]);
    assert!(sock.unwrap() > 0.0);
    let batches = get(c, "xvs_batch_duration_seconds", &[]).unwrap();
    assert!(batches > 0.0, "no batch timed");
    let active = family(c, "xvs_connections_active").count();
    assert_eq!(active, 12);
}
