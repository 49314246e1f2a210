//! Head sampling (a rate per client, and per agent) and the tail rules that keep some of the
//! traces head sampling dropped.
//!
//! The head decision is made once per trace, at its root, from the trace id alone: the low 56 bits
//! of the id (random) compared with `rate × 2^56`, as OpenTelemetry's consistent probability
//! sampling does. Every process that sees the same trace id and rate decides the same way.

use std::time::Duration;

use super::ConfigError;
use crate::ids::TraceId;

/// Bits of the trace id the decision reads.
const RANDOM_BITS: u32 = 56;
/// The default bound on spans held for the tail rules.
pub const DEFAULT_MAX_HELD_SPANS: usize = 100_000;

/// Whether a trace with this id is kept at `rate` (0.0 keeps none, 1.0 keeps all). Deterministic:
/// every process agrees for the same id and rate.
///
/// ```
/// use staso_core::{TraceId, config::trace_sampled};
/// let id = TraceId(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
/// assert!(trace_sampled(id, 1.0));
/// assert!(!trace_sampled(id, 0.0));
/// assert_eq!(trace_sampled(id, 0.5), trace_sampled(id, 0.5));
/// ```
pub fn trace_sampled(trace_id: TraceId, rate: f64) -> bool {
    sampled_below(trace_id, threshold(rate))
}

/// The bound `trace_sampled` compares a trace id's low 56 bits with at `rate`: everything is
/// below `u64::MAX` (rate 1), nothing below 0 (rate 0 or NaN). Computed once per client for the
/// rate of roots outside any agent, so deciding such a root is a compare.
pub(crate) fn threshold(rate: f64) -> u64 {
    if rate >= 1.0 {
        return u64::MAX;
    }
    if rate <= 0.0 || rate.is_nan() {
        return 0;
    }
    // `rate < 1`, so the threshold fits in 56 bits.
    (rate * (1u64 << RANDOM_BITS) as f64) as u64
}

/// Whether a trace with this id is kept under `threshold` (see [`threshold`]).
#[inline]
pub(crate) fn sampled_below(trace_id: TraceId, threshold: u64) -> bool {
    ((trace_id.0 as u64) & ((1u64 << RANDOM_BITS) - 1)) < threshold
}

/// Which traces dropped by head sampling are still sent, decided when their root ends. The
/// delivery side holds such a trace's spans until then (at most
/// [`max_held_spans`](TailRules::max_held_spans); past it the oldest trace is dropped and counted).
///
/// ```
/// use std::time::Duration;
/// use staso_core::config::{Config, TailRules};
/// let config = Config::builder()
///     .api_key("ak_live_123")
///     .agent_name("bot")
///     .sample_rate(0.05)
///     .tail_sampling(TailRules::new().keep_errors().keep_guard_blocks().min_cost_usd(0.50).min_duration(Duration::from_secs(30)))
///     .build_with_env(|_| None)
///     .unwrap();
/// assert!(config.sampling().tail().is_some());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct TailRules {
    pub(crate) errors: bool,
    pub(crate) guard_blocks: bool,
    pub(crate) min_cost_usd: Option<f64>,
    pub(crate) min_duration: Option<Duration>,
    pub(crate) max_held_spans: usize,
}

impl Default for TailRules {
    fn default() -> Self {
        TailRules::new()
    }
}

impl TailRules {
    /// No rule yet (keeps nothing until one is added), holding at most 100 000 spans.
    pub fn new() -> Self {
        TailRules {
            errors: false,
            guard_blocks: false,
            min_cost_usd: None,
            min_duration: None,
            max_held_spans: DEFAULT_MAX_HELD_SPANS,
        }
    }

    /// Keep a trace in which any span has status `error` or `timeout`.
    pub fn keep_errors(mut self) -> Self {
        self.errors = true;
        self
    }

    /// Keep a trace in which the guard blocked a tool or escalated a call.
    pub fn keep_guard_blocks(mut self) -> Self {
        self.guard_blocks = true;
        self
    }

    /// Keep a trace whose LLM spans' `cost_usd` sums to at least `usd`.
    pub fn min_cost_usd(mut self, usd: f64) -> Self {
        self.min_cost_usd = Some(usd);
        self
    }

    /// Keep a trace whose root lasted at least `d`.
    pub fn min_duration(mut self, d: Duration) -> Self {
        self.min_duration = Some(d);
        self
    }

    /// Spans held at most while their roots run (default 100 000); past it the trace held
    /// longest is dropped and counted as sampled out.
    pub fn max_held_spans(mut self, n: usize) -> Self {
        self.max_held_spans = n;
        self
    }

    /// The `keep_errors` rule.
    pub fn keeps_errors(&self) -> bool {
        self.errors
    }

    /// The `keep_guard_blocks` rule.
    pub fn keeps_guard_blocks(&self) -> bool {
        self.guard_blocks
    }

    /// The `min_cost_usd` threshold.
    pub fn cost_threshold(&self) -> Option<f64> {
        self.min_cost_usd
    }

    /// The `min_duration` threshold.
    pub fn duration_threshold(&self) -> Option<Duration> {
        self.min_duration
    }

    /// The bound on held spans.
    pub fn held_span_bound(&self) -> usize {
        self.max_held_spans
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(c) = self.min_cost_usd
            && !(c.is_finite() && c >= 0.0)
        {
            return Err(invalid("TailRules::min_cost_usd", "a finite number ≥ 0", c));
        }
        if self.max_held_spans == 0 {
            return Err(ConfigError::InvalidSampling {
                setting: "TailRules::max_held_spans".into(),
                expected: "at least 1",
                value: "0".into(),
            });
        }
        Ok(())
    }
}

/// The resolved sampling settings of a [`Config`](super::Config).
#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
    rate: f64,
    per_agent: Vec<(String, f64)>,
    tail: Option<TailRules>,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            rate: 1.0,
            per_agent: Vec::new(),
            tail: None,
        }
    }
}

impl Sampling {
    /// The client-wide rate (default 1.0: every trace).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The rate for traces whose root belongs to `agent`: its own rate if one was set, else the
    /// client-wide rate.
    pub fn rate_for(&self, agent: Option<&str>) -> f64 {
        agent
            .and_then(|a| self.per_agent.iter().find(|(n, _)| n == a))
            .map_or(self.rate, |(_, r)| *r)
    }

    /// The tail rules, if any.
    pub fn tail(&self) -> Option<&TailRules> {
        self.tail.as_ref()
    }

    /// Whether some trace may be dropped (a rate below 1 somewhere).
    pub fn is_active(&self) -> bool {
        self.rate < 1.0 || self.per_agent.iter().any(|(_, r)| *r < 1.0)
    }

    /// Whether some agent has its own rate (`agent_sample_rate`).
    pub(crate) fn has_agent_rates(&self) -> bool {
        !self.per_agent.is_empty()
    }

    /// Whether a new trace with this id, rooted in `agent`, is kept.
    pub fn keeps(&self, trace_id: TraceId, agent: Option<&str>) -> bool {
        trace_sampled(trace_id, self.rate_for(agent))
    }
}

/// What the builder collected.
#[derive(Clone, Debug, Default)]
pub(crate) struct SamplingOverrides {
    pub(crate) rate: Option<f64>,
    pub(crate) per_agent: Vec<(String, f64)>,
    pub(crate) tail: Option<TailRules>,
}

fn invalid(setting: &str, expected: &'static str, value: f64) -> ConfigError {
    ConfigError::InvalidSampling {
        setting: setting.to_owned(),
        expected,
        value: value.to_string(),
    }
}

fn check_rate(setting: &str, rate: f64) -> Result<f64, ConfigError> {
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(invalid(setting, "a number between 0 and 1", rate))
    }
}

impl SamplingOverrides {
    /// The explicit rate, else `STASO_SAMPLE_RATE`, else 1; every rate checked.
    pub(crate) fn resolve(
        self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Sampling, ConfigError> {
        let rate = match self.rate {
            Some(r) => check_rate("sample_rate", r)?,
            None => match env("STASO_SAMPLE_RATE") {
                None => 1.0,
                Some(raw) => {
                    let parsed = raw
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|r| (0.0..=1.0).contains(r));
                    parsed.ok_or_else(|| ConfigError::InvalidSampling {
                        setting: "STASO_SAMPLE_RATE".into(),
                        expected: "a number between 0 and 1",
                        value: format!("{raw:?}"),
                    })?
                }
            },
        };
        let mut per_agent: Vec<(String, f64)> = Vec::with_capacity(self.per_agent.len());
        for (agent, r) in self.per_agent {
            let r = check_rate(&format!("agent_sample_rate({agent:?})"), r)?;
            match per_agent.iter_mut().find(|(a, _)| *a == agent) {
                Some(slot) => slot.1 = r,
                None => per_agent.push((agent, r)),
            }
        }
        if let Some(t) = &self.tail {
            t.validate()?;
        }
        Ok(Sampling {
            rate,
            per_agent,
            tail: self.tail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn rates_resolve_from_setter_then_env_then_default() {
        let none = SamplingOverrides::default().resolve(&env_of(&[])).unwrap();
        assert_eq!(none.rate(), 1.0);
        assert!(!none.is_active());
        let env = SamplingOverrides::default()
            .resolve(&env_of(&[("STASO_SAMPLE_RATE", " 0.25 ")]))
            .unwrap();
        assert_eq!(env.rate(), 0.25);
        let set = SamplingOverrides {
            rate: Some(0.5),
            ..Default::default()
        }
        .resolve(&env_of(&[("STASO_SAMPLE_RATE", "0.25")]))
        .unwrap();
        assert_eq!(set.rate(), 0.5);
    }

    #[test]
    fn out_of_range_rates_name_the_setting_and_value() {
        let e = SamplingOverrides {
            rate: Some(1.5),
            ..Default::default()
        }
        .resolve(&env_of(&[]))
        .unwrap_err();
        assert_eq!(e.field(), "sample_rate");
        assert_eq!(
            e.to_string(),
            "sample_rate must be a number between 0 and 1 (got 1.5)"
        );
        let e = SamplingOverrides {
            per_agent: vec![("planner".into(), f64::NAN)],
            ..Default::default()
        }
        .resolve(&env_of(&[]))
        .unwrap_err();
        assert_eq!(e.field(), "agent_sample_rate(\"planner\")");
        let e = SamplingOverrides::default()
            .resolve(&env_of(&[("STASO_SAMPLE_RATE", "half")]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "STASO_SAMPLE_RATE must be a number between 0 and 1 (got \"half\")"
        );
        let e = SamplingOverrides {
            tail: Some(TailRules::new().min_cost_usd(-1.0)),
            ..Default::default()
        }
        .resolve(&env_of(&[]))
        .unwrap_err();
        assert_eq!(e.field(), "TailRules::min_cost_usd");
    }

    #[test]
    fn per_agent_rates_win_for_their_agent() {
        let s = SamplingOverrides {
            rate: Some(0.1),
            per_agent: vec![("vip".into(), 1.0), ("noisy".into(), 0.0)],
            ..Default::default()
        }
        .resolve(&env_of(&[]))
        .unwrap();
        assert_eq!(s.rate_for(Some("vip")), 1.0);
        assert_eq!(s.rate_for(Some("noisy")), 0.0);
        assert_eq!(s.rate_for(Some("other")), 0.1);
        assert_eq!(s.rate_for(None), 0.1);
        let id = TraceId(u128::MAX);
        assert!(s.keeps(id, Some("vip")));
        assert!(!s.keeps(id, Some("noisy")));
    }

    #[test]
    fn the_per_client_threshold_decides_as_the_rate_does() {
        assert_eq!(threshold(1.0), u64::MAX);
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(f64::NAN), 0);
        for rate in [0.0, 1e-9, 0.3, 0.5, 0.999_999, 1.0] {
            for id in [
                0,
                1,
                (1u128 << 55) - 1,
                1u128 << 55,
                (1u128 << 56) - 1,
                u128::MAX,
            ] {
                let id = TraceId(id);
                assert_eq!(
                    sampled_below(id, threshold(rate)),
                    trace_sampled(id, rate),
                    "{rate} {id:?}"
                );
            }
        }
    }

    #[test]
    fn the_decision_reads_the_low_56_bits_against_the_rate() {
        assert!(trace_sampled(TraceId(0), 0.0001));
        assert!(!trace_sampled(TraceId((1u128 << 56) - 1), 0.9999));
        assert!(trace_sampled(TraceId((1u128 << 55) - 1), 0.5));
        assert!(!trace_sampled(TraceId(1u128 << 55), 0.5));
        // the high bits do not matter
        assert!(trace_sampled(
            TraceId(0xffff_ffff_ffff_ffff_ff00_0000_0000_0000),
            0.5
        ));
    }
}
