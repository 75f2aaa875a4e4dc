//! The control protocol as the daemon reads it: each line is a request in JSON (or, when
//! it is not JSON, ipvsadm arguments), handled against a live model as `xvs run` handles
//! it (an edit is applied only if the engine accepts it). Every answer has an exit code
//! of ipvsadm's (0, 1, 2) and serialises; the model stays valid after every request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xvs::ctl::daemon::{CtlState, Director};
use xvs::ctl::Request;
use xvs_config::Config;
use xvs_datapath::snapshot::Snapshot;
use xvs_engine::ConnInfo;

struct Fake;

impl Director for Fake {
    fn apply(&mut self, model: &Config) -> Result<(), String> {
        // What the daemon does before applying: the engine must accept the model.
        xvs::engine_config::Checked::new(model.clone(), None, None).map(|_| ())
    }
    fn snapshot(&self) -> Snapshot {
        Snapshot::default()
    }
    fn connections(&self) -> Vec<ConnInfo> {
        Vec::new()
    }
}

const MODEL: &str = "[[service]]\nvip = \"10.0.1.100:80\"\nforward = \"nat\"\nscheduler = \"rr\"\n\
                     [[service.real]]\naddr = \"10.0.2.11:8080\"\n\
                     [[service]]\nvip = \"[2001:db8:1::100]:53\"\nprotocol = \"udp\"\n\
                     [[service.real]]\naddr = \"[2001:db8:2::11]:53\"\n";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut st = CtlState::new(xvs_config::parse_str(MODEL, "model.toml").unwrap());
    for line in text.lines().take(16) {
        let req = serde_json::from_str::<Request>(line)
            .unwrap_or_else(|_| Request { args: xvs::ctl::args::split_line(line), input: None, fleet: None });
        let r = st.handle(&req, &mut Fake);
        assert!(r.exit <= 2, "exit {} for {line:?}", r.exit);
        let _ = serde_json::to_string(&r).unwrap();
        xvs::engine_config::Checked::new(st.model.clone(), None, None)
            .unwrap_or_else(|e| panic!("the model is invalid after {line:?}: {e}"));
    }
});
