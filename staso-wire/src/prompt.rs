//! Prompt management bodies: versioned prompt texts per workspace, with environment labels
//! (`production`, `staging`, …) pointing at one version each.
//!
//! Routes, relative to the base URL; each takes an optional `workspace_slug` query naming the
//! workspace (default: the key's home workspace):
//! - `POST /v1/prompts`, body [`PromptCreate`] → `201` [`Prompt`]: adds the next version of the
//!   name and points the environment's label at it.
//! - `GET /v1/prompts/{name}?environment=E` (default [`DEFAULT_ENVIRONMENT`]) or `?version=N` →
//!   [`Prompt`], `404` when there is no such label or version.
//! - `GET /v1/prompts` → [`PromptList`].
//!
//! Invalid input is a `400` whose detail starts with the field's name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The prompt routes' prefix.
pub const PROMPTS_PATH: &str = "/v1/prompts";
/// The environment a prompt is fetched from and created in when none is given.
pub const DEFAULT_ENVIRONMENT: &str = "production";
/// Longest prompt name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest environment label, in characters (ASCII letters, digits, `-`, `_`, `.`).
pub const MAX_ENVIRONMENT_CHARS: usize = 64;
/// Largest prompt content, in bytes.
pub const MAX_CONTENT_BYTES: usize = 1 << 20;

fn default_environment() -> String {
    DEFAULT_ENVIRONMENT.to_owned()
}

/// `POST /v1/prompts` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptCreate {
    /// The prompt's name: non-empty, at most [`MAX_NAME_CHARS`] characters, no control characters.
    pub name: String,
    /// The new version's text; non-empty, at most [`MAX_CONTENT_BYTES`].
    pub content: String,
    /// The label to point at the new version (default [`DEFAULT_ENVIRONMENT`]).
    #[serde(default = "default_environment")]
    pub environment: String,
}

/// One prompt version, as the server answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// The prompt's name.
    pub name: String,
    /// The version, from 1.
    pub version: u32,
    /// The environment it was fetched from (or created in); for a fetch by version, the label
    /// pointing at it (`production` first), or `""` when none does.
    pub environment: String,
    /// The text.
    pub content: String,
    /// Every environment label pointing at this version.
    #[serde(default)]
    pub labels: Vec<String>,
    /// When this version was created (RFC 3339).
    #[serde(default)]
    pub created_at: String,
}

/// One prompt in a [`PromptList`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptSummary {
    /// The prompt's name.
    pub name: String,
    /// Its newest version.
    pub latest_version: u32,
    /// Environment label → the version it points at.
    pub labels: BTreeMap<String, u32>,
}

/// `GET /v1/prompts` answer, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptList {
    /// The workspace's prompts.
    pub prompts: Vec<PromptSummary>,
}
