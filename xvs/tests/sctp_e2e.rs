//! SCTP end to end: an association from a client namespace through `xvs run` (DR) to
//! SCTP servers on the reals, and back. It needs a kernel with SCTP sockets (the `sctp`
//! module); where there is none (this project's CI kernels have none) it says so plainly
//! on stderr and checks nothing more: the replay tests (`engine/tests/sctp.rs`) carry whole
//! associations through NAT, DR and TUN there, checked by tshark.

mod common;

use std::time::Duration;

use common::*;

const PORT: u16 = 3868;

/// Whether this kernel opens SCTP sockets.
fn kernel_has_sctp() -> bool {
    let probe = "import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)";
    std::process::Command::new("python3").args(["-c", probe]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn an_sctp_association_through_the_director() {
    if !kernel_has_sctp() {
        eprintln!(
            "sctp_e2e: NOT RUN: this kernel has no SCTP sockets (no sctp module); SCTP is covered by the \
             replay tests in engine/tests/sctp.rs"
        );
        return;
    }
    let mut run = Running::start("e2e_sctp", LabMode::Dr, 3, 1, |lab| {
        let full = lab.config("rr", None, "");
        let header = &full[..full.find("[[service]]").expect("a service")];
        let mut s = format!(
            "{header}[[service]]\nvip = \"{VIP4}:{PORT}\"\nprotocol = \"sctp\"\nscheduler = \"rr\"\nforward = \"dr\"\n"
        );
        for i in 0..3 {
            s.push_str(&format!("  [[service.real]]\n  addr = \"{}:{PORT}\"\n", real_addrs(i).0));
        }
        s
    });
    for i in 0..3 {
        // An SCTP echo server on the VIP, answering "real N: " + what it got.
        let server = format!(
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_STREAM,socket.IPPROTO_SCTP)\n\
             s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('{VIP4}',{PORT}))\ns.listen(16)\n\
             print('listening',flush=True)\nwhile True:\n  c,_=s.accept()\n  d=c.recv(100)\n  c.send(b'real {i}: '+d)\n  c.close()\n"
        );
        let mut p = run.lab.lab.spawn(&format!("r{i}"), &["python3", "-u", "-c", &server]);
        p.wait_for_stdout("listening", Duration::from_secs(10));
        // The lab stops its processes when it goes.
        run.lab.procs.push(p);
    }
    let client = format!(
        "import socket\nfor k in range(6):\n  s=socket.socket(socket.AF_INET,socket.SOCK_STREAM,socket.IPPROTO_SCTP)\n  \
         s.settimeout(5)\n  s.connect(('{VIP4}',{PORT}))\n  s.send(b'hello %d' % k)\n  print(s.recv(100).decode())\n  s.close()\n"
    );
    let out = must(&run.lab, "cl", &["python3", "-c", &client], Duration::from_secs(60));
    let answers: Vec<&str> = out.lines().collect();
    assert_eq!(answers.len(), 6, "{out}\n{}", run.dump());
    let reals: std::collections::BTreeSet<&str> = answers.iter().filter_map(|a| a.split(':').next()).collect();
    assert!(reals.len() >= 2, "rr spread six associations over {reals:?}");
}
