#!/usr/bin/env bash
# Build the Debian package, install it on this machine and run the installed service the
# way systemd would: its unit must verify, its default config must check, and `xvs run`
# from the package must notify readiness (Type=notify), reload on SIGHUP and leave
# nothing behind on SIGTERM. Run by scripts/test.sh (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/package.sh
deb=$(ls -1 target/debian/xvs_*.deb | tail -n 1)
dpkg -i "$deb"
unit=/usr/lib/systemd/system/xvs.service
test -f "$unit"
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify "$unit"
fi
/usr/bin/xvs --version
/usr/bin/xvs check -c /etc/xvs/xvs.toml >/dev/null
test -f /usr/share/bash-completion/completions/xvs

# The service's start, reload and stop, in a namespace with one veth (no systemd needed:
# NOTIFY_SOCKET is the protocol systemd uses).
ns=xvs-pkgcheck-$$
work=$(mktemp -d)
cleanup() {
  [ -n "${pid:-}" ] && kill -TERM "$pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip netns del "$ns-peer" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip netns add "$ns-peer"
ip link add v0 netns "$ns" type veth peer name v1 netns "$ns-peer"
ip -n "$ns" link set v0 up
ip -n "$ns" link set lo up
ip -n "$ns-peer" link set v1 up
ip -n "$ns" addr add 10.9.0.1/24 dev v0
cat > "$work/xvs.toml" <<CONF
[director]
interfaces = ["v0"]
poll = "adaptive"
control_socket = "$work/xvs.sock"
max_connections = 1000
[[service]]
vip = "10.9.1.100:80"
scheduler = "rr"
forward = "nat"
  [[service.real]]
  addr = "10.9.0.11:8080"
CONF
python3 - "$work" "$ns" <<'PY'
import os, socket, subprocess, sys, time, signal
work, ns = sys.argv[1], sys.argv[2]
path = os.path.join(work, "notify.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(30)
env = dict(os.environ, NOTIFY_SOCKET=path)
p = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/xvs", "run", "-c", os.path.join(work, "xvs.toml")],
                     env=env, stderr=subprocess.PIPE, text=True)
msg = s.recv(4096).decode()
assert "READY=1" in msg, msg
ctl = subprocess.run(["/usr/bin/xvs", "ctl", "-c", os.path.join(work, "xvs.sock"), "-Ln"], capture_output=True, text=True)
assert "10.9.1.100:80" in ctl.stdout, ctl
p.send_signal(signal.SIGHUP)
time.sleep(1)
p.send_signal(signal.SIGTERM)
_, err = p.communicate(timeout=30)
assert p.returncode == 0, (p.returncode, err)
assert "reloaded" in err and "stopped:" in err, err
links = subprocess.run(["ip", "-n", ns, "link", "show", "v0"], capture_output=True, text=True).stdout
assert "xdp" not in links, links
addrs = subprocess.run(["ip", "-n", ns, "addr", "show", "lo"], capture_output=True, text=True).stdout
assert "10.9.1.100" not in addrs, addrs
print("package check: READY, ctl, reload and a clean stop from the installed service")
PY
