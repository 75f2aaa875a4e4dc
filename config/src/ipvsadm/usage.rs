//! ipvsadm's `-h` text, as `xvs ctl -h` prints it.
//!
//! Invariant: it names every scheduler of `xvs_sched::SCHEDULER_NAMES` (a test checks).

/// ipvsadm's `-h` text, for xvs.
pub const USAGE: &str = "\
Usage:
  xvs ctl [-c CONTROL_SOCKET | --config FILE] ARGS...   (ARGS as for ipvsadm)
  xvs ctl -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--ops] [-b sched-flags]
  xvs ctl -D virtual-service
  xvs ctl -C
  xvs ctl -R
  xvs ctl -S [-n]
  xvs ctl -a|e virtual-service -r server-address [-g|i|m] [-w weight] [-x upper] [-y lower]
  xvs ctl -d virtual-service -r server-address
  xvs ctl -L|l [virtual-service] [options]
  xvs ctl --vrrp [--json]
  xvs ctl --drain [--idle SECONDS] [--timeout SECONDS] [--json]
  xvs ctl --undrain | --drain-status
  xvs ctl -Z [virtual-service]
  xvs ctl --set tcp tcpfin udp
  xvs ctl --start-daemon {master|backup} --mcast-interface interface [--syncid sid]
          [--sync-maxlen length] [--mcast-group address] [--mcast-port port] [--mcast-ttl ttl]
  xvs ctl --stop-daemon {master|backup}
  xvs ctl -h

Commands:
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin (all of them, or none on an error)
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port] (or [IPv6]:port, or PREFIX/LEN:port)
  --udp-service|-u  service-address

Options:
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|fo|ovf|lblc|lblcr|dh|sh|mh|sed|nq|twos,
                                      the default scheduler is wlc.
  --sched-flags  -b flags             scheduler flags (comma-separated): sh-fallback sh-port mh-fallback mh-port
  --persistent   -p [timeout]         persistent service (default 300 s)
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type     ipip                 the one tunnel type xvs has
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --mcast-interface interface         multicast interface for connection sync
  --syncid sid                        syncid for connection sync (default=0)
  --sync-maxlen length                max sync message length (default=1472)
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --numeric      -n                   numeric output of addresses and ports (xvs never resolves names)
  --ops          -o                   one-packet scheduling
  --json                              (xvs) the listing as JSON
  --health                            (xvs) add the health-check state of each real
  --vrrp                              (xvs) the VRRP instances: state, priority, master, last change

Fleet (xvs; handled by xvs ctl itself, not ipvsadm options):
  --drain           withdraw this director's routes (xvs announce), keep forwarding what
                    still arrives until none has come for --idle seconds (5) or --timeout
                    passes (120), then report; the drain stays until --undrain or a restart
  --undrain         announce the ready VIPs again
  --drain-status    whether the director drains, and what arrived since
";
