//! API keys and the workspaces each one may see.
//!
//! A key given as `KEY` sees every workspace; `KEY:a,b` sees only workspaces `a` and `b`. Keys are
//! compared in constant time and never printed by `Debug`.

use std::fmt;

/// One accepted API key and its workspace scope.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    key: String,
    workspaces: Option<Vec<String>>,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("key", &"<redacted>")
            .field("workspaces", &self.workspaces)
            .finish()
    }
}

/// Why a `KEY[:workspace,…]` spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySpecError {
    /// The key part is empty.
    #[error("api key must not be empty")]
    EmptyKey,
    /// The workspace list after `:` is empty or holds an empty name.
    #[error("workspace list after ':' must name at least one non-empty workspace")]
    EmptyWorkspace,
}

impl ApiKey {
    /// A key that sees every workspace.
    pub fn all_workspaces(key: impl Into<String>) -> Self {
        ApiKey {
            key: key.into(),
            workspaces: None,
        }
    }

    /// A key that sees only `workspaces`.
    pub fn scoped<I, S>(key: impl Into<String>, workspaces: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ApiKey {
            key: key.into(),
            workspaces: Some(workspaces.into_iter().map(Into::into).collect()),
        }
    }

    /// Parses the CLI form `KEY` or `KEY:workspace,…`.
    ///
    /// ```
    /// let k = staso_server::ApiKey::parse("ak_1:team-a,team-b").unwrap();
    /// assert_eq!(k.workspaces(), Some(&["team-a".to_owned(), "team-b".to_owned()][..]));
    /// ```
    pub fn parse(spec: &str) -> Result<Self, KeySpecError> {
        let (key, ws) = match spec.split_once(':') {
            Some((k, ws)) => (k, Some(ws)),
            None => (spec, None),
        };
        if key.trim().is_empty() {
            return Err(KeySpecError::EmptyKey);
        }
        match ws {
            None => Ok(ApiKey::all_workspaces(key)),
            Some(list) => {
                let names: Vec<String> = list.split(',').map(|w| w.trim().to_owned()).collect();
                if names.iter().any(String::is_empty) {
                    return Err(KeySpecError::EmptyWorkspace);
                }
                Ok(ApiKey::scoped(key, names))
            }
        }
    }

    /// The secret itself (for printing a generated dev key once, at start).
    pub fn secret(&self) -> &str {
        &self.key
    }

    /// The workspaces this key sees; `None` means all.
    pub fn workspaces(&self) -> Option<&[String]> {
        self.workspaces.as_deref()
    }

    fn scope(&self) -> Scope {
        Scope {
            workspaces: self.workspaces.clone(),
        }
    }
}

/// What an authenticated request may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    workspaces: Option<Vec<String>>,
}

impl Scope {
    /// A scope that sees everything (used by the CLI, which reads the database directly).
    pub fn everything() -> Self {
        Scope { workspaces: None }
    }

    /// Whether data of `workspace` is visible.
    pub fn allows(&self, workspace: &str) -> bool {
        match &self.workspaces {
            None => true,
            Some(list) => list.iter().any(|w| w == workspace),
        }
    }

    /// The listed workspaces, or `None` for all.
    pub fn workspaces(&self) -> Option<&[String]> {
        self.workspaces.as_deref()
    }

    /// Where writes that carry no workspace (annotations of unknown traces, datasets) go.
    pub fn home(&self) -> &str {
        match &self.workspaces {
            Some(list) => list.first().map(String::as_str).unwrap_or("default"),
            None => "default",
        }
    }

    /// A stable label used to partition idempotency receipts between scopes: `*` for every
    /// workspace, else the JSON array of the workspace names. A JSON array never equals `*`, and
    /// distinct lists give distinct arrays, so no workspace name (`*`, `a,b`, …) can share another
    /// scope's receipts.
    ///
    /// ```
    /// use staso_server::{ApiKey, KeyRing};
    /// let ring = KeyRing::new(vec![ApiKey::all_workspaces("k1"), ApiKey::scoped("k2", ["*"])]);
    /// assert_eq!(ring.authenticate("k1").unwrap().label(), "*");
    /// assert_eq!(ring.authenticate("k2").unwrap().label(), r#"["*"]"#);
    /// ```
    pub fn label(&self) -> String {
        match &self.workspaces {
            None => "*".to_owned(),
            // Serializing a list of strings cannot fail.
            Some(list) => serde_json::to_string(list).unwrap_or_default(),
        }
    }
}

/// The set of accepted keys.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Vec<ApiKey>,
}

impl KeyRing {
    /// A ring holding `keys`.
    pub fn new(keys: Vec<ApiKey>) -> Self {
        KeyRing { keys }
    }

    /// The scope of `presented`, or `None` when no key matches.
    pub fn authenticate(&self, presented: &str) -> Option<Scope> {
        // Check every key without early exit so timing says nothing about which one matched.
        let mut found = None;
        for k in &self.keys {
            if constant_time_eq(k.key.as_bytes(), presented.as_bytes()) && found.is_none() {
                found = Some(k.scope());
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_authenticate() {
        let ring = KeyRing::new(vec![
            ApiKey::parse("ak_all").unwrap(),
            ApiKey::parse("ak_a:a").unwrap(),
        ]);
        assert!(ring.authenticate("ak_all").unwrap().allows("zzz"));
        let a = ring.authenticate("ak_a").unwrap();
        assert!(a.allows("a") && !a.allows("b"));
        assert!(ring.authenticate("ak_b").is_none());
        assert_eq!(ApiKey::parse(":a"), Err(KeySpecError::EmptyKey));
        assert_eq!(ApiKey::parse("k:"), Err(KeySpecError::EmptyWorkspace));
        assert!(!format!("{:?}", ApiKey::parse("secret").unwrap()).contains("secret"));
    }
}
