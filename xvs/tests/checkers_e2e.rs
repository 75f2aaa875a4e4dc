//! keepalived's other checkers end to end, from a keepalived.conf, against servers in the
//! reals' namespaces: SSL_GET against a TLS server with a self-signed certificate, SMTP_CHECK
//! against an SMTP responder, PING_CHECK against a host that stops answering ICMP echo, and
//! FILE_CHECK on a file the test flips. Each real leaves `xvs ctl -Ln` when its checker
//! fails (within delay_loop + retry x (delay_before_retry + connect_timeout) = 3 s, waited
//! for up to 6 s) and comes back when it passes again. A protocol failure that a plain TCP
//! connect would miss (a plain HTTP server where TLS is expected, an SMTP server greeting
//! with 554) counts as down.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::keepalived_lab;
use xvs_lab::director::{real_addrs, VIP4};
use xvs_lab::Proc;

/// md5 of the TLS server's body, `secure\n`.
const SECURE_MD5: &str = "6bc48dd36a595dc33de11c26e0e3cc03";

/// A one-connection-at-a-time server on `port` (IPv4 and IPv6) that prints `listening`,
/// then per connection: wraps it in TLS with `cert`/`key` when `tls`, reads a request and
/// answers `secure\n` (HTTP/1.0 200).
fn web_server(port: u16, tls: Option<(&Path, &Path)>) -> String {
    let accept = accept_loop(port);
    let wrap = match tls {
        Some((cert, key)) => format!(
            "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\nctx.load_cert_chain({:?}, {:?})\nwrap = lambda c: ctx.wrap_socket(c, server_side=True)",
            cert.display().to_string(),
            key.display().to_string()
        ),
        None => "wrap = lambda c: c".to_string(),
    };
    format!(
        r#"
import socket, ssl
{wrap}
{accept}    try:
        t = wrap(c)
        req = b""
        while b"\r\n\r\n" not in req:
            d = t.recv(4096)
            if not d:
                break
            req += d
        t.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\nsecure\n")
        t.close()
    except Exception as e:
        print("connection:", e, flush=True)
        c.close()
"#
    )
}

/// Python: listen on `port` (IPv4 and IPv6), print `listening`, and take connections one
/// at a time as `c` (2 s timeout); the loop's body follows.
fn accept_loop(port: u16) -> String {
    format!(
        r#"s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", {port}))
s.listen(16)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(2)
"#
    )
}

/// An SMTP responder on `port` greeting with `greeting` (e.g. `220 r1 ESMTP`) and answering
/// HELO with 250 and QUIT with 221.
fn smtp_server(port: u16, greeting: &str) -> String {
    let accept = accept_loop(port);
    format!(
        r#"
import socket
{accept}    try:
        c.sendall(b"{greeting}\r\n")
        for line in c.makefile("rb"):
            word = line.split(b" ")[0].strip().upper()
            if word == b"HELO":
                c.sendall(b"250 r1 hello\r\n")
            elif word == b"QUIT":
                c.sendall(b"221 bye\r\n")
                break
            else:
                c.sendall(b"500 what\r\n")
    except Exception as e:
        print("connection:", e, flush=True)
    c.close()
"#
    )
}

/// The keepalived.conf: real 0 by SSL_GET on 8443, real 1 by SMTP_CHECK on 2525, real 2 by
/// PING_CHECK and FILE_CHECK (both must pass) on the track_file `flip`.
fn keepalived_conf(flip: &Path) -> String {
    let timing = "connect_timeout 1\n            retry 1\n            delay_before_retry 1";
    let (r0, r1, r2) = (real_addrs(0).0, real_addrs(1).0, real_addrs(2).0);
    format!(
        "track_file flip {{\n    file \"{}\"\n    weight 0\n}}\n\n\
         virtual_server {VIP4} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n\n    \
         real_server {r0} 8080 {{\n        weight 1\n        SSL_GET {{\n            url {{\n                path /\n                \
         digest {SECURE_MD5}\n            }}\n            connect_port 8443\n            {timing}\n        }}\n    }}\n    \
         real_server {r1} 8080 {{\n        weight 1\n        SMTP_CHECK {{\n            connect_port 2525\n            \
         helo_name director.test\n            {timing}\n        }}\n    }}\n    \
         real_server {r2} 8080 {{\n        weight 1\n        PING_CHECK {{\n            {timing}\n        }}\n        \
         FILE_CHECK {{\n            track_file flip\n        }}\n    }}\n}}\n",
        flip.display()
    )
}

fn listing(sock: &Path) -> String {
    let out = Command::new(common::xvs()).args(["ctl", "-c"]).arg(sock).arg("-Ln").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits up to 6 s for `real`'s presence in the listing to be `present`.
fn expect(sock: &Path, real: usize, present: bool, why: &str) {
    let needle = format!("{}:8080", real_addrs(real).0);
    let t0 = Instant::now();
    while listing(sock).contains(&needle) != present {
        assert!(
            t0.elapsed() < Duration::from_secs(6),
            "{why}: real {real} still {} after 6 s:\n{}",
            if present { "absent" } else { "listed" },
            listing(sock)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn started(mut p: Proc) -> Proc {
    p.wait_for_stdout("listening", Duration::from_secs(10));
    p
}

#[test]
fn ssl_smtp_ping_and_file_checks_follow_their_servers() {
    let dir = xvs_lab::private_dir("xvs-checkers");
    let ck = rcgen::generate_simple_self_signed(vec!["real0.test".to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let flip = dir.join("flip");
    std::fs::write(&flip, "0\n").unwrap();

    let (lab, sock, d) = keepalived_lab("checkers", &keepalived_conf(&flip));
    let mut tls = started(lab.lab.spawn("r0", &["python3", "-u", "-c", &web_server(8443, Some((&cert, &key)))]));
    let mut smtp = started(lab.lab.spawn("r1", &["python3", "-u", "-c", &smtp_server(2525, "220 r1 ESMTP")]));
    for r in 0..3 {
        expect(&sock, r, true, "every check passing");
    }

    // SSL_GET: a plain HTTP server on the port is down (no TLS), the TLS one is up again.
    tls.terminate(Duration::from_secs(5));
    let mut plain = started(lab.lab.spawn("r0", &["python3", "-u", "-c", &web_server(8443, None)]));
    expect(&sock, 0, false, "SSL_GET against plain HTTP");
    plain.terminate(Duration::from_secs(5));
    let mut tls = started(lab.lab.spawn("r0", &["python3", "-u", "-c", &web_server(8443, Some((&cert, &key)))]));
    expect(&sock, 0, true, "SSL_GET against TLS again");

    // SMTP_CHECK: a server that refuses with 554 is down though it accepts the connection.
    smtp.terminate(Duration::from_secs(5));
    let mut refusing = started(lab.lab.spawn("r1", &["python3", "-u", "-c", &smtp_server(2525, "554 go away")]));
    expect(&sock, 1, false, "SMTP greeting 554");
    refusing.terminate(Duration::from_secs(5));
    let mut smtp = started(lab.lab.spawn("r1", &["python3", "-u", "-c", &smtp_server(2525, "220 r1 ESMTP")]));
    expect(&sock, 1, true, "SMTP greeting 220");

    // PING_CHECK: the host stops answering echo requests (its TCP still works).
    let icmp = |on: &str| {
        let out = lab.lab.exec(
            "r2",
            &["sysctl", "-w", &format!("net.ipv4.icmp_echo_ignore_all={on}")],
            Duration::from_secs(5),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    icmp("1");
    expect(&sock, 2, false, "an ICMP-silent host");
    icmp("0");
    expect(&sock, 2, true, "the host answering ICMP again");

    // FILE_CHECK: weight 0, so a non-zero value is a fault.
    std::fs::write(&flip, "1\n").unwrap();
    expect(&sock, 2, false, "the tracked file set to 1");
    std::fs::write(&flip, "0\n").unwrap();
    expect(&sock, 2, true, "the tracked file back to 0");

    // The other reals never moved meanwhile, and the director logged each change.
    assert!(listing(&sock).contains(&format!("{}:8080", real_addrs(0).0)));
    let log = lab.procs[d].stderr();
    assert!(log.contains("SSL_GET") && log.contains("SMTP") && log.contains("DOWN"), "{log}");
    tls.terminate(Duration::from_secs(5));
    smtp.terminate(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
}
