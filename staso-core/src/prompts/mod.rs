//! Prompts kept by the Staso service: versioned texts with `{{variable}}` placeholders, and
//! environment labels (`production`, `staging`, …) each pointing at one version.
//!
//! [`get`] fetches what the `production` label points at, [`get_for`] another environment's, and
//! [`create`] adds the next version and points an environment at it. All use the global client's
//! API key, base URL and workspace ([`init`](crate::init) must have run) and answer
//! [`Error`]. [`blocking`] has the same three for synchronous programs.
//!
//! # Cache
//!
//! Fetched prompts are kept in memory per (base URL, workspace, name, environment), at most
//! 1 000 of them and 32 MiB of text (the oldest fetches are evicted first). For
//! [`prompt_cache_ttl`](crate::ConfigBuilder::prompt_cache_ttl) after a fetch (default 60 s) a
//! `get` answers from memory, with no I/O. Later ones ask the service again; when it cannot be
//! reached or answers 5xx, the last value is served, a warning logged, and the next attempt put
//! off by 5 s (or the TTL, when shorter). Any other error, a 404 in particular, is returned (a
//! 404 also drops the cached value). [`create`] stores the version it made.
//!
//! ```no_run
//! # async fn demo() -> Result<(), staso_core::Error> {
//! use staso_core::prompts;
//! prompts::create("greeting", "Hello {{ name }}!", "production").await?;
//! let prompt = prompts::get("greeting").await?;
//! assert_eq!(prompt.compile([("name", "Ada")])?, "Hello Ada!");
//! # Ok(()) }
//! ```

pub mod blocking;
mod cache;
mod prompt;
mod template;

pub use prompt::Prompt;

use std::time::{Duration, Instant};

use staso_wire::prompt::{DEFAULT_ENVIRONMENT, PromptCreate};

use crate::error::Error;
use crate::service::{Target, send_json};

/// Each prompt request's timeout.
const TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed refresh, how long the stale value is served before the next attempt (at most
/// the TTL): during an outage, one caller per key waits for a request every 5 s, not every caller.
const OUTAGE_RETRY: Duration = Duration::from_secs(5);

/// The version the `production` environment points at; see [`get_for`].
///
/// # Errors
/// As [`get_for`].
pub async fn get(name: &str) -> Result<Prompt, Error> {
    get_for(name, DEFAULT_ENVIRONMENT).await
}

/// The version of prompt `name` that `environment` points at: from the cache while fresh, else
/// `GET {base}/v1/prompts/{name}?environment=…` (see the [module docs](self) for the cache).
///
/// # Errors
/// [`Error::Configuration`] without [`init`](crate::init) or an API key; [`Error::Auth`] when the
/// key is refused; [`Error::Api`] with status 404 when the prompt has no such environment, with
/// no status when the service cannot be reached (and nothing is cached), or with the status the
/// service answered.
///
/// ```no_run
/// # async fn demo() -> Result<(), staso_core::Error> {
/// let p = staso_core::prompts::get_for("greeting", "staging").await?;
/// println!("v{}: {p}", p.version);
/// # Ok(()) }
/// ```
pub async fn get_for(name: &str, environment: &str) -> Result<Prompt, Error> {
    match lookup(name, environment)? {
        Lookup::Hit(p) => Ok(p),
        Lookup::Fetch(r) => r.run().await,
    }
}

/// What a `get` does: answer from the cache, or ask the service.
pub(crate) enum Lookup {
    /// A fresh cached value.
    Hit(Prompt),
    /// Ask the service.
    Fetch(Refresh),
}

/// A fetch to make, with the stale value (and its age) to fall back on.
pub(crate) struct Refresh {
    target: Target,
    key: cache::Key,
    stale: Option<(Prompt, Duration)>,
}

/// Looks `name`/`environment` up in the cache, without I/O (so a blocking `get` needs no runtime
/// for a hit).
pub(crate) fn lookup(name: &str, environment: &str) -> Result<Lookup, Error> {
    let target = Target::from_global("staso::prompts")?;
    let key = cache::Key {
        base_url: target.base_url.clone(),
        workspace: target.workspace.clone(),
        name: name.to_owned(),
        environment: environment.to_owned(),
    };
    let stale = match cache::global().lookup(&key, target.prompt_cache_ttl, Instant::now()) {
        cache::Lookup::Fresh(p) => return Ok(Lookup::Hit(p)),
        cache::Lookup::Stale(p, age) => Some((p, age)),
        cache::Lookup::Missing => None,
    };
    Ok(Lookup::Fetch(Refresh { target, key, stale }))
}

impl Refresh {
    /// Fetches, caches and returns the prompt; on an outage serves the stale value, if any.
    pub(crate) async fn run(self) -> Result<Prompt, Error> {
        let Refresh { target, key, stale } = self;
        let cache = cache::global();
        match fetch(&target, &key.name, &key.environment).await {
            Ok(p) => {
                cache.insert(key, p.clone(), Instant::now());
                Ok(p)
            }
            Err(e) => match stale {
                Some((p, age)) if is_outage(&e) => {
                    let retry_in = target.prompt_cache_ttl.min(OUTAGE_RETRY);
                    log::warn!(
                        "staso: serving the cached prompt {:?} ({}, version {}, fetched {}s ago) \
                         because it could not be refreshed; next attempt in {}ms: {e}",
                        key.name,
                        key.environment,
                        p.version,
                        age.as_secs(),
                        retry_in.as_millis()
                    );
                    cache.retry_later(&key, Instant::now() + retry_in);
                    Ok(p)
                }
                _ => {
                    if e.status_code() == Some(404) {
                        cache.remove(&key);
                    }
                    Err(e)
                }
            },
        }
    }
}

/// Adds the next version of prompt `name` with `content` and points `environment` at it
/// (`POST {base}/v1/prompts`); the cache then holds it for (`name`, `environment`). One attempt:
/// a create is not repeated on failure, as a lost answer would make two versions.
///
/// # Errors
/// [`Error::Configuration`] without [`init`](crate::init) or an API key; [`Error::Auth`] when the
/// key is refused; [`Error::Api`] with status 400 naming the field for an empty name or content,
/// a name too long or a bad environment, with no status when there was no answer.
///
/// ```no_run
/// # async fn demo() -> Result<(), staso_core::Error> {
/// let p = staso_core::prompts::create("greeting", "Hi {{name}}", "staging").await?;
/// println!("created version {}", p.version);
/// # Ok(()) }
/// ```
pub async fn create(name: &str, content: &str, environment: &str) -> Result<Prompt, Error> {
    let target = Target::from_global("staso::prompts")?;
    let (client, url) = target.connect(TIMEOUT, &["v1", "prompts"], &[])?;
    let body = PromptCreate {
        name: name.to_owned(),
        content: content.to_owned(),
        environment: environment.to_owned(),
    };
    let operation = "POST /v1/prompts";
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| Error::api(None, operation, format!("could not encode the body: {e}")))?;
    let request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(bytes);
    let wire: staso_wire::prompt::Prompt = send_json(request, operation).await?;
    let prompt = Prompt::from(wire);
    let key = cache::Key {
        base_url: target.base_url.clone(),
        workspace: target.workspace.clone(),
        name: prompt.name.clone(),
        environment: prompt.environment.clone(),
    };
    cache::global().insert(key, prompt.clone(), Instant::now());
    Ok(prompt)
}

async fn fetch(target: &Target, name: &str, environment: &str) -> Result<Prompt, Error> {
    let (client, url) = target.connect(
        TIMEOUT,
        &["v1", "prompts", name],
        &[("environment", environment)],
    )?;
    let operation = format!("GET /v1/prompts/{name}");
    let wire: staso_wire::prompt::Prompt = send_json(client.get(url), &operation).await?;
    Ok(wire.into())
}

/// Whether `e` means the service could not answer (no answer, or 5xx): then a stale prompt is
/// better than none.
fn is_outage(e: &Error) -> bool {
    matches!(e, Error::Api(a) if a.status().is_none_or(|s| s >= 500))
}
