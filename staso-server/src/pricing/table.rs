//! The price table: its file format, loading and checks, and the lookup of a model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::names::normalize_model;

/// The built-in price table (JSON).
pub const BUILTIN_PRICES: &str = include_str!("../../assets/prices.json");

/// Why a price file was refused; the message names the file and the bad field.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The file could not be read.
    #[error("prices file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not a price table; `field` is the path of the first bad value.
    #[error("prices{}: {field}: {why}", path_suffix(.path))]
    Invalid {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The bad field, e.g. `models.gpt-4o.input`.
        field: String,
        /// Why.
        why: String,
    },
}

fn path_suffix(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!(" file {}", p.display()))
        .unwrap_or_default()
}

/// Prices of one model, US dollars per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// `openai`, `anthropic`, `google`, … (informational).
    #[serde(default)]
    pub provider: Option<String>,
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens (reasoning tokens included).
    pub output: f64,
    /// Input tokens read from the prompt cache; the input price when absent.
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Input tokens written to the prompt cache; the input price when absent.
    #[serde(default)]
    pub cache_write: Option<f64>,
}

/// The file; other top-level keys (`currency`, `unit`, `note`) are for people.
#[derive(Debug, Deserialize)]
struct PriceFile {
    as_of: String,
    #[serde(default)]
    sources: Vec<String>,
    models: BTreeMap<String, ModelPrice>,
}

/// Per-model prices, keyed by normalised model name ([`normalize_model`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    as_of: String,
    sources: Vec<String>,
    models: BTreeMap<String, ModelPrice>,
}

impl PriceTable {
    /// The embedded default table ([`BUILTIN_PRICES`]); a unit test keeps it valid, so the empty
    /// fallback is never taken.
    pub fn builtin() -> Self {
        Self::from_json(BUILTIN_PRICES).unwrap_or_default()
    }

    /// Parses a table: `{"as_of", "sources": [...], "models": {"name": {"input", "output",
    /// "cached_input"?, "cache_write"?, "provider"?}}}`; prices must be finite and not negative.
    pub fn from_json(text: &str) -> Result<Self, PriceError> {
        Self::parse(text, None)
    }

    /// Reads a table from a file (the format of [`PriceTable::from_json`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PriceError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PriceError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, Some(path.to_owned()))
    }

    fn parse(text: &str, path: Option<PathBuf>) -> Result<Self, PriceError> {
        let invalid = |field: String, why: String| PriceError::Invalid {
            path: path.clone(),
            field,
            why,
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let file: PriceFile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            invalid(field, e.into_inner().to_string())
        })?;
        let mut models = BTreeMap::new();
        for (name, price) in file.models {
            let key = normalize_model(&name);
            if key.is_empty() {
                return Err(invalid(format!("models.{name}"), "empty model name".into()));
            }
            let prices = [
                ("input", Some(price.input)),
                ("output", Some(price.output)),
                ("cached_input", price.cached_input),
                ("cache_write", price.cache_write),
            ];
            for (field, v) in prices {
                if let Some(v) = v
                    && !(v.is_finite() && v >= 0.0)
                {
                    return Err(invalid(
                        format!("models.{name}.{field}"),
                        format!("must be a finite price ≥ 0, got {v}"),
                    ));
                }
            }
            models.insert(key, price);
        }
        Ok(PriceTable {
            as_of: file.as_of,
            sources: file.sources,
            models,
        })
    }

    /// The date the prices were taken.
    pub fn as_of(&self) -> &str {
        &self.as_of
    }

    /// Where the prices come from.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// How many models the table prices.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether the table prices no model.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The table's entry for `model`: its normalised name, else the longest table name it starts
    /// with followed by `-` (`gemini-2.5-flash-preview-05-20` → `gemini-2.5-flash`).
    pub fn lookup(&self, model: &str) -> Option<(&str, &ModelPrice)> {
        let name = normalize_model(model);
        if let Some((k, p)) = self.models.get_key_value(&name) {
            return Some((k.as_str(), p));
        }
        self.models
            .iter()
            .filter(|(k, _)| {
                name.strip_prefix(k.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
            })
            .max_by_key(|(k, _)| k.len())
            .map(|(k, p)| (k.as_str(), p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_parses_is_dated_and_names_sources() {
        let t = PriceTable::from_json(BUILTIN_PRICES).expect("built-in prices parse");
        assert!(t.len() >= 30, "{}", t.len());
        assert_eq!(t.as_of().len(), 10);
        assert!(t.sources().iter().any(|s| s.contains("openai.com")));
        assert!(t.sources().iter().any(|s| s.contains("anthropic.com")));
        assert!(t.sources().iter().any(|s| s.contains("ai.google.dev")));
        for m in ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro"] {
            assert!(t.lookup(m).is_some(), "{m}");
        }
    }

    #[test]
    fn lookup_prefers_exact_then_longest_prefix() {
        let t = PriceTable::builtin();
        assert_eq!(
            t.lookup("gpt-4o-mini-2024-07-18").map(|x| x.0),
            Some("gpt-4o-mini")
        );
        assert_eq!(t.lookup("gpt-4o-2024-08-06").map(|x| x.0), Some("gpt-4o"));
        assert_eq!(
            t.lookup("gemini-2.5-flash-preview-05-20").map(|x| x.0),
            Some("gemini-2.5-flash")
        );
        assert_eq!(
            t.lookup("gpt-4o-audio-preview").map(|x| x.0),
            Some("gpt-4o")
        );
        assert_eq!(t.lookup("gpt-4ox"), None, "a prefix must end at a dash");
        assert_eq!(t.lookup("my-local-llama"), None);
        assert_eq!(t.lookup(""), None);
    }

    #[test]
    fn bad_files_name_the_field() {
        let e = PriceTable::from_json(r#"{"as_of": "x", "models": {"m": {"input": 1}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("models.m") && e.contains("output"), "{e}");
        let e =
            PriceTable::from_json(r#"{"as_of": "x", "models": {"m": {"input": -1, "output": 1}}}"#)
                .unwrap_err()
                .to_string();
        assert!(e.contains("models.m.input"), "{e}");
        let e = PriceTable::load("/nonexistent/prices.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/prices.json"), "{e}");
        let e = PriceTable::from_json(r#"{"models": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("as_of"), "{e}");
    }
}
