//! Prompts: versions per (workspace, name), numbered from 1, and environment labels pointing at
//! one version each. Creating a prompt adds the next version and points its environment's label
//! at it, in one transaction.
//!
//! The checks on names, environments and contents live here, so the HTTP routes and the CLI
//! (which writes the database directly) refuse the same input with the same messages.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Transaction, params};
use staso_wire::prompt::{
    DEFAULT_ENVIRONMENT, MAX_CONTENT_BYTES, MAX_ENVIRONMENT_CHARS, MAX_NAME_CHARS, Prompt,
    PromptCreate, PromptSummary,
};

use super::{Store, StoreError, StoreResult};
use crate::timefmt;

/// Which version of a prompt to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector<'a> {
    /// The version the environment's label points at.
    Environment(&'a str),
    /// That version.
    Version(u32),
}

fn invalid(field: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("{field}: {why}"))
}

/// Checks a prompt name: non-empty, at most [`MAX_NAME_CHARS`] characters, no control characters.
pub fn check_name(name: &str) -> StoreResult<()> {
    if name.trim().is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "must not contain control characters"));
    }
    Ok(())
}

/// Checks an environment label: 1 to [`MAX_ENVIRONMENT_CHARS`] ASCII letters, digits, `-`, `_`
/// or `.`.
pub fn check_environment(environment: &str) -> StoreResult<()> {
    let ok = !environment.is_empty()
        && environment.len() <= MAX_ENVIRONMENT_CHARS
        && environment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "environment",
            format!(
                "must be 1 to {MAX_ENVIRONMENT_CHARS} ASCII letters, digits, '-', '_' or '.', \
                 not {environment:?}"
            ),
        ))
    }
}

/// Checks a create request: its name, its environment, and a non-empty content of at most
/// [`MAX_CONTENT_BYTES`].
pub fn check(req: &PromptCreate) -> StoreResult<()> {
    check_name(&req.name)?;
    if req.content.trim().is_empty() {
        return Err(invalid("content", "must not be empty"));
    }
    if req.content.len() > MAX_CONTENT_BYTES {
        return Err(invalid(
            "content",
            format!("must be at most {MAX_CONTENT_BYTES} bytes"),
        ));
    }
    check_environment(&req.environment)
}

/// Adds the next version of `req.name` in `workspace`, points `req.environment` at it, and returns
/// it.
pub fn create(store: &Store, workspace: &str, req: &PromptCreate) -> StoreResult<Prompt> {
    check(req)?;
    let created_at = timefmt::now_rfc3339();
    store.write(|tx| {
        let latest: Option<i64> = tx.query_row(
            "SELECT MAX(version) FROM prompt_versions WHERE workspace_slug = ?1 AND name = ?2",
            params![workspace, req.name],
            |r| r.get(0),
        )?;
        let version = latest.unwrap_or(0) + 1;
        tx.execute(
            "INSERT INTO prompt_versions(workspace_slug, name, version, content, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![workspace, req.name, version, req.content, created_at],
        )?;
        tx.execute(
            "INSERT INTO prompt_labels(workspace_slug, name, environment, version, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT(workspace_slug, name, environment) \
             DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
            params![workspace, req.name, req.environment, version, created_at],
        )?;
        read_version(tx, workspace, &req.name, version, Some(&req.environment))?.ok_or_else(|| {
            StoreError::NotFound(format!("prompt {:?} vanished while written", req.name))
        })
    })
}

/// The version of `name` in `workspace` that `selector` names; [`StoreError::NotFound`] naming
/// the prompt and the environment (or version) when there is none.
pub fn get(
    store: &Store,
    workspace: &str,
    name: &str,
    selector: Selector<'_>,
) -> StoreResult<Prompt> {
    store.read(|tx| {
        let found = match selector {
            Selector::Environment(env) => {
                let version: Option<i64> = tx
                    .query_row(
                        "SELECT version FROM prompt_labels \
                         WHERE workspace_slug = ?1 AND name = ?2 AND environment = ?3",
                        params![workspace, name, env],
                        |r| r.get(0),
                    )
                    .optional()?;
                match version {
                    Some(v) => read_version(tx, workspace, name, v, Some(env))?,
                    None => None,
                }
            }
            Selector::Version(v) => read_version(tx, workspace, name, i64::from(v), None)?,
        };
        found.ok_or_else(|| {
            StoreError::NotFound(match selector {
                Selector::Environment(env) => {
                    format!("prompt {name:?} not found in environment {env:?}")
                }
                Selector::Version(v) => format!("prompt {name:?} has no version {v}"),
            })
        })
    })
}

/// Every prompt of `workspace`, by name: its newest version and its labels.
pub fn list(store: &Store, workspace: &str) -> StoreResult<Vec<PromptSummary>> {
    store.read(|tx| {
        let mut stmt = tx.prepare_cached(
            "SELECT name, MAX(version) FROM prompt_versions WHERE workspace_slug = ?1 \
             GROUP BY name ORDER BY name",
        )?;
        let mut list = stmt
            .query_map([workspace], |r| {
                Ok(PromptSummary {
                    name: r.get(0)?,
                    latest_version: version_of(r.get(1)?),
                    labels: BTreeMap::new(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut stmt = tx.prepare_cached(
            "SELECT name, environment, version FROM prompt_labels WHERE workspace_slug = ?1",
        )?;
        let labels = stmt
            .query_map([workspace], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (name, env, version) in labels {
            if let Ok(i) = list.binary_search_by(|p| p.name.as_str().cmp(&name)) {
                list[i].labels.insert(env, version_of(version));
            }
        }
        Ok(list)
    })
}

/// Versions are written from 1 by [`create`]; a stored value out of `u32` range (a hand-edited
/// file) reads as 0 rather than failing the whole listing.
fn version_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

fn read_version(
    tx: &Transaction<'_>,
    workspace: &str,
    name: &str,
    version: i64,
    environment: Option<&str>,
) -> StoreResult<Option<Prompt>> {
    let row: Option<(String, String)> = tx
        .query_row(
            "SELECT content, created_at FROM prompt_versions \
             WHERE workspace_slug = ?1 AND name = ?2 AND version = ?3",
            params![workspace, name, version],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((content, created_at)) = row else {
        return Ok(None);
    };
    let mut stmt = tx.prepare_cached(
        "SELECT environment FROM prompt_labels \
         WHERE workspace_slug = ?1 AND name = ?2 AND version = ?3 ORDER BY environment",
    )?;
    let labels = stmt
        .query_map(params![workspace, name, version], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let environment = match environment {
        Some(env) => env.to_owned(),
        None if labels.iter().any(|l| l == DEFAULT_ENVIRONMENT) => DEFAULT_ENVIRONMENT.to_owned(),
        None => labels.first().cloned().unwrap_or_default(),
    };
    Ok(Some(Prompt {
        name: name.to_owned(),
        version: version_of(version),
        environment,
        content,
        labels,
        created_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, content: &str, environment: &str) -> PromptCreate {
        PromptCreate {
            name: name.to_owned(),
            content: content.to_owned(),
            environment: environment.to_owned(),
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("p.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn versions_count_up_and_labels_move() {
        let (_dir, s) = store();
        let v1 = create(&s, "a", &req("greet", "Hi {{name}}", "production")).unwrap();
        assert_eq!(
            (v1.version, v1.labels.clone()),
            (1, vec!["production".to_owned()])
        );
        let v2 = create(&s, "a", &req("greet", "Hello {{name}}", "staging")).unwrap();
        assert_eq!(v2.version, 2);
        let prod = get(&s, "a", "greet", Selector::Environment("production")).unwrap();
        assert_eq!((prod.version, prod.content.as_str()), (1, "Hi {{name}}"));
        let staging = get(&s, "a", "greet", Selector::Environment("staging")).unwrap();
        assert_eq!(staging.version, 2);
        let v3 = create(&s, "a", &req("greet", "Hey", "production")).unwrap();
        assert_eq!(v3.version, 3);
        let by_version = get(&s, "a", "greet", Selector::Version(1)).unwrap();
        assert_eq!(
            (by_version.environment.as_str(), by_version.labels.len()),
            ("", 0)
        );
        let list = list(&s, "a").unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].latest_version, 3);
        assert_eq!(
            list[0].labels,
            BTreeMap::from([("production".to_owned(), 3), ("staging".to_owned(), 2)])
        );
    }

    #[test]
    fn workspaces_do_not_share_prompts() {
        let (_dir, s) = store();
        create(&s, "a", &req("greet", "A", "production")).unwrap();
        let b = create(&s, "b", &req("greet", "B", "production")).unwrap();
        assert_eq!(b.version, 1);
        let err = get(&s, "c", "greet", Selector::Environment("production")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "prompt \"greet\" not found in environment \"production\""
        );
        assert!(list(&s, "c").unwrap().is_empty());
    }

    #[test]
    fn bad_input_names_the_field() {
        let (_dir, s) = store();
        let long = "n".repeat(MAX_NAME_CHARS + 1);
        for (r, field) in [
            (req(" ", "x", "production"), "name:"),
            (req(&long, "x", "production"), "name:"),
            (req("a\nb", "x", "production"), "name:"),
            (req("a", "", "production"), "content:"),
            (req("a", "x", ""), "environment:"),
            (req("a", "x", "prod uction"), "environment:"),
        ] {
            let e = create(&s, "a", &r).unwrap_err();
            assert!(
                matches!(&e, StoreError::Invalid(m) if m.starts_with(field)),
                "{r:?}: {e}"
            );
        }
        assert!(list(&s, "a").unwrap().is_empty());
    }
}
