//! Compiles the BPF C programs in `../xdp/` into `$OUT_DIR/*.o` with clang, so the binary
//! can embed them (`xvs::bpf`). Needs Debian's clang, libbpf-dev (bpf/bpf_helpers.h) and
//! linux-libc-dev (linux/bpf.h, asm/types.h); `scripts/setup.sh` installs them.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const PROGRAMS: &[&str] = &["decap", "steer", "sink"];
const HINT: &str = "install the Debian packages clang, libbpf-dev and linux-libc-dev (scripts/setup.sh does)";

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let xdp = manifest.join("..").join("xdp");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let clang = env::var("XVS_CLANG").unwrap_or_else(|_| "clang".to_string());
    println!("cargo:rerun-if-env-changed=XVS_CLANG");

    // The kernel UAPI headers include <asm/types.h>, which Debian keeps under the multiarch
    // directory; a BPF target does not search it by itself.
    let multiarch = Path::new("/usr/include/x86_64-linux-gnu");
    for (header, package) in
        [("linux/bpf.h", "linux-libc-dev"), ("bpf/bpf_helpers.h", "libbpf-dev"), ("asm/types.h", "linux-libc-dev")]
    {
        let found = Path::new("/usr/include").join(header).exists() || multiarch.join(header).exists();
        if !found {
            panic!("xvs build: header <{header}> not found (Debian package {package}); {HINT}");
        }
    }

    for name in PROGRAMS {
        let src = xdp.join(format!("{name}.c"));
        println!("cargo:rerun-if-changed={}", src.display());
        println!("cargo:rerun-if-changed={}", xdp.join("common.h").display());
        let obj = out.join(format!("{name}.o"));
        let result = Command::new(&clang)
            .args(["-O2", "-g", "-Wall", "-target", "bpf", "-c"])
            .arg(format!("-I{}", multiarch.display()))
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .output();
        match result {
            Err(e) => panic!("xvs build: cannot run `{clang}` to compile {} ({e}); {HINT}", src.display()),
            Ok(o) if !o.status.success() => panic!(
                "xvs build: `{clang}` failed on {}:\n{}\n{HINT}",
                src.display(),
                String::from_utf8_lossy(&o.stderr)
            ),
            Ok(_) => {}
        }
    }
}
