//! `xvs-bench ratios`: the time figures of the performance targets, each a ratio of two
//! measurements, all taken in one run and repeated, so that the figure quoted is a median
//! of pairs measured back to back on the same machine (absolute times move up to 2×
//! between runs and hosts on shared machines; a ratio within one run moves much less).
//!
//! The four ratios, each from `xvs-bench engine` runs ([`crate::engine_bench::run`]):
//! - `miss`: ns per packet at `--big-flows` established flows ÷ one dependent random
//!   memory access (`miss_ns`), both measured in the same run (one run per round);
//! - `new`: ns per packet with every packet a new connection (`--new-ratio 1`) ÷ ns per
//!   established packet, `--flows` flows each;
//! - for both, beside the figure (wall time per packet, the bench's frame generator
//!   included), the same ratio of the time inside the engine alone: the generator is the
//!   harness, not the director, and it moves the two ratios in opposite directions (it
//!   adds the same few ns to each side);
//! - `expiry`: batch p99.9 while `--mass-expiry` connections expire at once ÷ batch
//!   p99.9 of the same command without them, `--flows` flows each; beside it, the mean
//!   batch while they expire ÷ the mean of the same run's other batches (the tail of a
//!   VM's batches is mostly its interruptions, and the command without them has smaller
//!   tables: the mean within one run is the expiry's own work); its denominator is the
//!   mean of two runs of the command without them, one right before and one right after
//!   (drift cancels), and the larger of the two ÷ the smaller is the ratio's control: how
//!   far the same command's p99.9 moves from one run to the next on this machine, below
//!   which the ratio cannot tell anything apart;
//! - `cores`: packets per second with 2 engines on 2 cores ÷ with 1, `--big-flows` flows.
//!
//! Invariants: the two sides of a pair run one right after the other, in alternating
//! order from round to round (so a drift of the machine does not always favour the same
//! side), or with the denominator run on both sides of the numerator (`expiry`); a
//! ratio's figure is the median over the rounds of its pair ratios (not the
//! ratio of the sides' medians), shown with every pair and both sides of each; nothing
//! here decides pass or fail (the goals are printed beside the figures, which vary with
//! the machine: a benchmark, not a test).

use serde_json::{json, Value};

use crate::engine_bench::{self, Mode};
use crate::report::{median, Report};

#[derive(Clone, Debug, clap::Args)]
pub struct RatiosArgs {
    /// Rounds; every figure is the median over them
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Length of each measured run (the `expiry` runs drain a million connections in
    /// their second half: about 1.5 s of it at the engine's default expiry budget)
    #[arg(long, default_value_t = 4.0)]
    pub seconds: f64,
    /// Forwarding method of the reals
    #[arg(long, value_enum, default_value_t = Mode::Nat)]
    pub mode: Mode,
    /// Established flows of the `new` and `expiry` ratios
    #[arg(long, default_value_t = 100_000)]
    pub flows: u32,
    /// Established flows of the `miss` and `cores` ratios
    #[arg(long, default_value_t = 1_000_000)]
    pub big_flows: u32,
    /// Connections that expire at one instant in the `expiry` ratio
    #[arg(long, default_value_t = 1_000_000)]
    pub mass_expiry: u32,
    /// Expiry steps per batch of every run (`xvs-bench engine --expiry-budget`)
    /// [default: the engine's, EngineConfig::expiry_budget]
    #[arg(long)]
    pub expiry_budget: Option<u32>,
    /// The ratios to measure, comma-separated [default: all]
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Measure>,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

/// One ratio of the performance targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Measure {
    Miss,
    New,
    Expiry,
    Cores,
}

const ALL: [Measure; 4] = [Measure::Miss, Measure::New, Measure::Expiry, Measure::Cores];

/// A numerator and its denominator.
type Pair = (f64, f64);

/// Whether a ratio should stay below or reach its goal.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

impl Goal {
    fn met(self, x: f64) -> bool {
        match self {
            Goal::AtMost(g) => x <= g,
            Goal::AtLeast(g) => x >= g,
        }
    }

    fn text(self) -> String {
        match self {
            Goal::AtMost(g) => format!("<= {g}"),
            Goal::AtLeast(g) => format!(">= {g}"),
        }
    }
}

impl Measure {
    fn key(self) -> &'static str {
        match self {
            Measure::Miss => "miss",
            Measure::New => "new",
            Measure::Expiry => "expiry",
            Measure::Cores => "cores",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Measure::Miss => "ns per packet / one dependent random access (miss_ns)",
            Measure::New => "ns per new-connection packet / per established packet",
            Measure::Expiry => "batch p99.9 during a mass expiry / without it",
            Measure::Cores => "packets per second, 2 cores / 1 core",
        }
    }

    fn goal(self) -> Goal {
        match self {
            Measure::Miss => Goal::AtMost(0.4),
            Measure::New => Goal::AtMost(3.0),
            Measure::Expiry => Goal::AtMost(1.3),
            Measure::Cores => Goal::AtLeast(1.8),
        }
    }

    /// The `xvs-bench engine` arguments of the ratio's numerator and denominator (`miss`
    /// has one run: its denominator is measured inside it).
    fn sides(self, a: &RatiosArgs) -> (Vec<String>, Option<Vec<String>>) {
        let with = |flows: u32, extra: &[&str]| {
            let mut v = vec![
                "--mode".to_string(),
                a.mode.name().into(),
                "--seconds".into(),
                a.seconds.to_string(),
                "--flows".into(),
                flows.to_string(),
            ];
            if let Some(b) = a.expiry_budget {
                v.extend(["--expiry-budget".to_string(), b.to_string()]);
            }
            v.extend(extra.iter().map(|s| s.to_string()));
            v
        };
        let mass = a.mass_expiry.to_string();
        match self {
            Measure::Miss => (with(a.big_flows, &["--new-ratio", "0"]), None),
            Measure::New => (with(a.flows, &["--new-ratio", "1"]), Some(with(a.flows, &["--new-ratio", "0"]))),
            Measure::Expiry => (with(a.flows, &["--mass-expiry", &mass]), Some(with(a.flows, &[]))),
            Measure::Cores => (with(a.big_flows, &["--cores", "2"]), Some(with(a.big_flows, &["--cores", "1"]))),
        }
    }

    /// The figure of the numerator's report and of the denominator's (for `miss`, both of
    /// the one report), and, where the ratio has one ([`context`](Self::context)), a
    /// second pair of figures that puts the first in context (`miss`, `new`: the engine alone;
    /// `expiry`: the mean batch).
    fn figures(self, top: &Report, bottom: &Report) -> Result<(Pair, Option<Pair>), String> {
        Ok(match self {
            Measure::Miss => {
                let miss = top.miss_ns.ok_or("the run measured no miss_ns")?;
                ((top.ns_per_packet(), miss), Some((top.engine_ns_per_packet(), miss)))
            }
            Measure::New => (
                (top.ns_per_packet(), bottom.ns_per_packet()),
                Some((top.engine_ns_per_packet(), bottom.engine_ns_per_packet())),
            ),
            Measure::Expiry => {
                if !top.mass_drained() {
                    return Err(format!(
                        "the {} connections did not all expire within the run: raise --seconds",
                        top.args.mass_expiry
                    ));
                }
                (
                    (top.mass_expiry_p999_us(), bottom.batch_p999_us()),
                    Some((top.mass_expiry_mean_us(), top.batch_mean_us())),
                )
            }
            Measure::Cores => ((top.mpps(), bottom.mpps()), None),
        })
    }

    /// What the second pair of [`figures`](Self::figures) is, for the ratios that have one.
    fn context(self) -> Option<&'static str> {
        match self {
            Measure::Miss | Measure::New => Some("the same, the engine's time alone (no generator)"),
            Measure::Expiry => Some("mean batch during the mass expiry / the same run's others"),
            Measure::Cores => None,
        }
    }

    /// What the ratio's control is, for the ratios whose denominator runs on both sides
    /// of the numerator (see [`sandwich`]).
    fn control(self) -> Option<&'static str> {
        (self == Measure::Expiry).then_some("control: without it, against itself (larger / smaller)")
    }
}

/// The denominator of a ratio whose denominator ran right before (`before`) and right
/// after (`after`) its numerator: their mean; and its control, the larger ÷ the smaller
/// (what the same command moved by between two runs a numerator's length apart).
fn sandwich(before: f64, after: f64) -> (f64, f64) {
    ((before + after) / 2.0, before.max(after) / before.min(after))
}

/// One ratio's rounds: the numerator's and the denominator's figure of each, and the
/// same for its context figure (empty without one).
#[derive(Clone, Debug, PartialEq)]
pub struct Pairs {
    measure: Measure,
    top: Vec<f64>,
    bottom: Vec<f64>,
    context_top: Vec<f64>,
    context_bottom: Vec<f64>,
    /// The control of each round (empty without one): see [`sandwich`].
    control: Vec<f64>,
}

fn ratios(top: &[f64], bottom: &[f64]) -> Vec<f64> {
    top.iter().zip(bottom).map(|(t, b)| t / b).collect()
}

impl Pairs {
    fn new(measure: Measure) -> Self {
        Pairs { measure, top: vec![], bottom: vec![], context_top: vec![], context_bottom: vec![], control: vec![] }
    }

    fn ratios(&self) -> Vec<f64> {
        ratios(&self.top, &self.bottom)
    }

    /// The median of the pair ratios: the figure.
    pub fn median(&self) -> f64 {
        median(self.ratios())
    }

    fn context_ratios(&self) -> Vec<f64> {
        ratios(&self.context_top, &self.context_bottom)
    }
}

/// What `ratios` measured.
#[derive(Debug)]
pub struct RatiosReport {
    pub mode: Mode,
    pub seconds: f64,
    pub repeat: usize,
    pub pairs: Vec<Pairs>,
}

fn validate(a: &RatiosArgs) -> Result<(), String> {
    if a.repeat == 0 {
        return Err("--repeat must be at least 1".into());
    }
    if a.mass_expiry == 0 {
        return Err("--mass-expiry must be at least 1".into());
    }
    Ok(())
}

/// Run the rounds.
pub fn run(a: &RatiosArgs) -> Result<RatiosReport, String> {
    validate(a)?;
    let measures: Vec<Measure> =
        if a.only.is_empty() { ALL.to_vec() } else { ALL.into_iter().filter(|m| a.only.contains(m)).collect() };
    let mut pairs: Vec<Pairs> = measures.into_iter().map(Pairs::new).collect();
    for round in 0..a.repeat {
        for p in &mut pairs {
            let (top_args, bottom_args) = p.measure.sides(a);
            // The denominator's second run, after the numerator, for a ratio with a control.
            let mut after = None;
            let (top, bottom) = match bottom_args {
                None => (engine(&top_args, true)?, None),
                Some(b) if p.measure.control().is_some() => {
                    let before = engine(&b, false)?;
                    let t = engine(&top_args, false)?;
                    after = Some(engine(&b, false)?);
                    (t, Some(before))
                }
                // Alternate which side goes first.
                Some(b) if round % 2 == 0 => {
                    let t = engine(&top_args, false)?;
                    (t, Some(engine(&b, false)?))
                }
                Some(b) => {
                    let b = engine(&b, false)?;
                    (engine(&top_args, false)?, Some(b))
                }
            };
            let figures = |bottom: Option<&Report>| {
                p.measure.figures(&top, bottom.unwrap_or(&top)).map_err(|e| format!("{}: {e}", p.measure.key()))
            };
            let ((t, b), context) = figures(bottom.as_ref())?;
            let after = after.map(|a| figures(Some(&a))).transpose()?.map(|((_, b), _)| b);
            for (t, b) in std::iter::once((t, b)).chain(context).chain(after.map(|a| (a, a))) {
                if !(t.is_finite() && b.is_finite() && b > 0.0) {
                    return Err(format!("{}: a figure is not a positive number ({t} / {b})", p.measure.key()));
                }
            }
            p.top.push(t);
            match after {
                Some(a) => {
                    let (b, control) = sandwich(b, a);
                    p.bottom.push(b);
                    p.control.push(control);
                }
                None => p.bottom.push(b),
            }
            if let Some((ct, cb)) = context {
                p.context_top.push(ct);
                p.context_bottom.push(cb);
            }
        }
    }
    Ok(RatiosReport { mode: a.mode, seconds: a.seconds, repeat: a.repeat, pairs })
}

/// One `xvs-bench engine` run with these arguments (with its `miss_ns` when `miss`).
fn engine(args: &[String], miss: bool) -> Result<Report, String> {
    let a = engine_bench::args_from(args)?;
    let r = if miss { engine_bench::run(&a) } else { engine_bench::run_engine(&a) };
    r.map_err(|e| format!("xvs-bench engine {}: {e}", args.join(" ")))
}

/// A figure for the text report: whole numbers from 100, one decimal from 10, three
/// below.
fn fig(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl RatiosReport {
    pub fn to_json(&self) -> Value {
        let list = |v: &[f64]| v.iter().copied().map(round3).collect::<Vec<_>>();
        let ratios: serde_json::Map<String, Value> = self
            .pairs
            .iter()
            .map(|p| {
                let m = p.median();
                let goal = p.measure.goal();
                let mut o = json!({
                    "what": p.measure.what(),
                    "median": round3(m),
                    "pairs": list(&p.ratios()),
                    "numerator": list(&p.top),
                    "denominator": list(&p.bottom),
                    "goal": goal.text(),
                    "goal_met": goal.met(m),
                });
                if let Some(what) = p.measure.context() {
                    o["context"] = json!({
                        "what": what,
                        "median": round3(median(p.context_ratios())),
                        "pairs": list(&p.context_ratios()),
                        "numerator": list(&p.context_top),
                        "denominator": list(&p.context_bottom),
                    });
                }
                if let Some(what) = p.measure.control() {
                    o["control"] = json!({
                        "what": what,
                        "median": round3(median(p.control.clone())),
                        "pairs": list(&p.control),
                    });
                }
                (p.measure.key().to_string(), o)
            })
            .collect();
        json!({ "mode": self.mode.name(), "seconds": self.seconds, "repeat": self.repeat, "ratios": ratios })
    }

    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = format!(
            "ratios of xvs-bench engine runs, {} mode, {} s each, {} (pairs back to back)\n",
            self.mode.name(),
            self.seconds,
            if self.repeat == 1 { "one round".to_string() } else { format!("median of {} rounds", self.repeat) }
        );
        for p in &self.pairs {
            let m = p.median();
            let goal = p.measure.goal();
            let _ = writeln!(
                s,
                "{:<7} {:<56} {:>7}  goal {:<7} {}\n        pairs {}; numerators {}; denominators {}",
                p.measure.key(),
                p.measure.what(),
                fig(m),
                goal.text(),
                if goal.met(m) { "met" } else { "missed" },
                p.ratios().into_iter().map(fig).collect::<Vec<_>>().join(", "),
                p.top.iter().copied().map(fig).collect::<Vec<_>>().join(", "),
                p.bottom.iter().copied().map(fig).collect::<Vec<_>>().join(", "),
            );
            if let Some(what) = p.measure.context() {
                let _ = writeln!(
                    s,
                    "        {:<56} {:>7}\n        pairs {}",
                    what,
                    fig(median(p.context_ratios())),
                    p.context_ratios().into_iter().map(fig).collect::<Vec<_>>().join(", "),
                );
            }
            if let Some(what) = p.measure.control() {
                let _ = writeln!(
                    s,
                    "        {:<56} {:>7}\n        rounds {}",
                    what,
                    fig(median(p.control.clone())),
                    p.control.iter().copied().map(fig).collect::<Vec<_>>().join(", "),
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: RatiosArgs,
    }

    fn args(extra: &[&str]) -> RatiosArgs {
        let mut v = vec!["t"];
        v.extend_from_slice(extra);
        T::parse_from(v).a
    }

    #[test]
    fn the_figure_is_the_median_of_the_pair_ratios() {
        let p = Pairs { top: vec![10.0, 30.0, 8.0], bottom: vec![2.0, 3.0, 4.0], ..Pairs::new(Measure::New) };
        // Pairs 5, 10, 2: the median pair, not the ratio of the sides' medians (10 / 3).
        assert_eq!(p.ratios(), vec![5.0, 10.0, 2.0]);
        assert_eq!(p.median(), 5.0);
    }

    #[test]
    fn a_sandwiched_denominator_is_the_mean_and_its_spread_the_control() {
        assert_eq!(sandwich(40.0, 60.0), (50.0, 1.5));
        assert_eq!(sandwich(60.0, 40.0), (50.0, 1.5));
        assert_eq!(sandwich(45.0, 45.0), (45.0, 1.0));
        assert!(Measure::Expiry.control().is_some());
        assert!(Measure::New.control().is_none() && Measure::Cores.control().is_none());
    }

    #[test]
    fn goals_face_the_right_way() {
        assert!(Measure::New.goal().met(3.0) && !Measure::New.goal().met(3.1));
        assert!(Measure::Cores.goal().met(1.8) && !Measure::Cores.goal().met(1.7));
    }

    #[test]
    fn each_side_runs_what_its_ratio_compares() {
        let a = args(&[
            "--flows",
            "500",
            "--big-flows",
            "900",
            "--mass-expiry",
            "70",
            "--mode",
            "dr",
            "--expiry-budget",
            "3",
        ]);
        let parse = |v: &[String]| engine_bench::args_from(v).unwrap();
        let (t, b) = Measure::New.sides(&a);
        let (t, b) = (parse(&t), parse(&b.unwrap()));
        assert_eq!((t.new_ratio, b.new_ratio, t.flows, b.flows), (1.0, 0.0, 500, 500));
        assert_eq!((t.mode, b.mode), (Mode::Dr, Mode::Dr));
        let (t, b) = Measure::Expiry.sides(&a);
        let (t, b) = (parse(&t), parse(&b.unwrap()));
        assert_eq!((t.mass_expiry, b.mass_expiry, t.new_ratio, b.new_ratio), (70, 0, 0.0, 0.0));
        assert_eq!((t.expiry_budget, b.expiry_budget), (3, 3));
        let (t, b) = Measure::Cores.sides(&a);
        let (t, b) = (parse(&t), parse(&b.unwrap()));
        assert_eq!((t.cores, b.cores, t.flows, b.flows), (2, 1, 900, 900));
        let (t, b) = Measure::Miss.sides(&a);
        assert!(b.is_none());
        assert_eq!(parse(&t).flows, 900);
    }

    #[test]
    fn a_short_run_reports_every_ratio_of_every_round() {
        let a = args(&[
            "--repeat",
            "2",
            "--seconds",
            "0.3",
            "--flows",
            "2000",
            "--big-flows",
            "4000",
            "--mass-expiry",
            "3000",
        ]);
        let r = run(&a).unwrap();
        assert_eq!(r.pairs.iter().map(|p| p.measure).collect::<Vec<_>>(), ALL.to_vec());
        for p in &r.pairs {
            assert_eq!((p.top.len(), p.bottom.len()), (2, 2), "{:?}", p.measure);
            assert!(p.median() > 0.0 && p.median().is_finite(), "{:?}", p);
        }
        let j = r.to_json();
        assert_eq!(j["ratios"]["cores"]["pairs"].as_array().map(Vec::len), Some(2));
        assert!(r.to_text().contains("2 cores / 1 core"));
        let e = &j["ratios"]["expiry"]["context"];
        assert_eq!(e["pairs"].as_array().map(Vec::len), Some(2), "{j}");
        assert!(e["median"].as_f64().is_some_and(|m| m > 0.0), "{j}");
        assert!(j["ratios"]["cores"].get("context").is_none());
        for m in ["miss", "new"] {
            let c = &j["ratios"][m]["context"];
            assert_eq!(c["pairs"].as_array().map(Vec::len), Some(2), "{j}");
            assert!(c["median"].as_f64().is_some_and(|m| m > 0.0), "{j}");
        }
        let c = &j["ratios"]["expiry"]["control"];
        assert_eq!(c["pairs"].as_array().map(Vec::len), Some(2), "{j}");
        assert!(c["median"].as_f64().is_some_and(|m| m >= 1.0), "{j}");
        assert!(j["ratios"]["new"].get("control").is_none());
        assert!(r.to_text().contains("control: without it, against itself"));
        let only = run(&args(&["--repeat", "1", "--seconds", "0.2", "--flows", "1000", "--only", "new"])).unwrap();
        assert_eq!(only.pairs.len(), 1);
    }
}
