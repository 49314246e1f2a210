//! `SpanKind` and `SpanStatus`: the closed sets of wire strings of PROTOCOL.md §2.1.

use std::fmt;
use std::str::FromStr;

/// What a span represents. Serialized as its lowercase wire string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// A call to a language model.
    Llm,
    /// A tool call made by an agent.
    Tool,
    /// A generic step (the default).
    #[default]
    Chain,
    /// A retrieval step (search, RAG lookup).
    Retriever,
    /// An agent run.
    Agent,
    /// Anything else.
    Custom,
}

/// The outcome of a span. Serialized as its lowercase wire string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpanStatus {
    /// Completed normally.
    #[default]
    Ok,
    /// Failed with an error or a panic.
    Error,
    /// Timed out.
    Timeout,
}

/// An unknown span kind or status string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}: expected one of {expected}")]
pub struct ParseEnumError {
    what: &'static str,
    value: String,
    expected: &'static str,
}

impl ParseEnumError {
    /// The string that failed to parse.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl SpanKind {
    /// Every kind, in wire order.
    pub const ALL: [SpanKind; 6] = [
        SpanKind::Llm,
        SpanKind::Tool,
        SpanKind::Chain,
        SpanKind::Retriever,
        SpanKind::Agent,
        SpanKind::Custom,
    ];

    /// The wire string (`"llm"`, `"tool"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanKind::Llm => "llm",
            SpanKind::Tool => "tool",
            SpanKind::Chain => "chain",
            SpanKind::Retriever => "retriever",
            SpanKind::Agent => "agent",
            SpanKind::Custom => "custom",
        }
    }
}

impl SpanStatus {
    /// The wire string (`"ok"`, `"error"`, `"timeout"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanStatus::Ok => "ok",
            SpanStatus::Error => "error",
            SpanStatus::Timeout => "timeout",
        }
    }
}

impl fmt::Display for SpanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for SpanStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SpanKind {
    type Err = ParseEnumError;
    /// Case-insensitive; surrounding whitespace is not accepted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpanKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseEnumError {
                what: "span kind",
                value: s.to_owned(),
                expected: "llm, tool, chain, retriever, agent, custom",
            })
    }
}

impl FromStr for SpanStatus {
    type Err = ParseEnumError;
    /// Case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [SpanStatus::Ok, SpanStatus::Error, SpanStatus::Timeout]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseEnumError {
                what: "span status",
                value: s.to_owned(),
                expected: "ok, error, timeout",
            })
    }
}

impl serde::Serialize for SpanKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SpanKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for SpanStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SpanStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_case_insensitively() {
        for k in SpanKind::ALL {
            assert_eq!(k.to_string().parse::<SpanKind>(), Ok(k));
            assert_eq!(k.as_str().to_uppercase().parse::<SpanKind>(), Ok(k));
        }
        assert_eq!("ReTriever".parse::<SpanKind>(), Ok(SpanKind::Retriever));
    }

    #[test]
    fn unknown_kind_names_the_value() {
        let err = "planner".parse::<SpanKind>().unwrap_err();
        assert_eq!(err.value(), "planner");
        assert!(err.to_string().contains("\"planner\""), "{err}");
        assert!(err.to_string().contains("span kind"), "{err}");
    }

    #[test]
    fn statuses_round_trip() {
        for s in [SpanStatus::Ok, SpanStatus::Error, SpanStatus::Timeout] {
            assert_eq!(s.to_string().parse::<SpanStatus>(), Ok(s));
        }
        assert_eq!("ERROR".parse::<SpanStatus>(), Ok(SpanStatus::Error));
        let err = "failed".parse::<SpanStatus>().unwrap_err();
        assert!(err.to_string().contains("\"failed\""));
    }
}
