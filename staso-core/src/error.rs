//! `staso::Error`: the error of the service-facing API (`llm_trace`, `verify`, prompts), shaped
//! after the StackLens SDK reference's `ConfigurationError` / `AuthError` / `ApiError`.
//!
//! Messages name the problem (the route, the status, the server's own message), never the API key.

use std::fmt;

/// The error of the service-facing API: [`crate::llm_trace`], `verify`, prompts.
///
/// ```
/// use staso_core::Error;
/// let e = Error::api(Some(404), "GET /v1/prompts/greeting", "prompt \"greeting\" not found");
/// assert_eq!(e.status_code(), Some(404));
/// assert!(e.to_string().contains("404"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SDK is not set up for this call: `init` was not called, no API key, a bad base URL.
    #[error(transparent)]
    Configuration(#[from] ConfigurationError),
    /// The service refused the API key (HTTP 401 or 403).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The service answered with an error, was unreachable, or answered something unreadable.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A prompt template could not be compiled (see `Prompt::compile`).
    #[error(transparent)]
    Template(#[from] TemplateError),
}

impl Error {
    /// The HTTP status the service answered with, when there was one.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Error::Auth(e) => Some(e.status),
            Error::Api(e) => e.status,
            Error::Configuration(_) | Error::Template(_) => None,
        }
    }

    /// A [`ConfigurationError`] with this message.
    pub fn configuration(message: impl Into<String>) -> Self {
        Error::Configuration(ConfigurationError {
            message: message.into(),
        })
    }

    /// An [`ApiError`]: `status` is `None` when no HTTP answer arrived (connection refused,
    /// timeout); `operation` names the call (`"GET /v1/prompts/greeting"`).
    pub fn api(
        status: Option<u16>,
        operation: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Api(ApiError {
            status,
            operation: operation.into(),
            message: message.into(),
        })
    }

    /// An [`AuthError`] for a 401/403 answer to `operation`.
    pub fn auth(status: u16, operation: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Auth(AuthError {
            status,
            operation: operation.into(),
            message: message.into(),
        })
    }
}

/// The SDK is not set up for the call (no `init`, no API key, an unusable base URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigurationError {
    message: String,
}

impl ConfigurationError {
    /// What is missing or wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "staso is not configured: {}", self.message)
    }
}

impl std::error::Error for ConfigurationError {}

/// The service refused the API key (401: unknown or revoked key; 403: not allowed here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthError {
    status: u16,
    operation: String,
    message: String,
}

impl AuthError {
    /// 401 or 403.
    pub fn status(&self) -> u16 {
        self.status
    }
    /// The call that was refused, e.g. `GET /v1/setup/validate`.
    pub fn operation(&self) -> &str {
        &self.operation
    }
    /// The service's explanation (never the key).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the API key was refused (HTTP {}): {}",
            self.operation, self.status, self.message
        )
    }
}

impl std::error::Error for AuthError {}

/// The service answered with an error status, could not be reached, or answered something that
/// could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    status: Option<u16>,
    operation: String,
    message: String,
}

impl ApiError {
    /// The HTTP status, `None` when no answer arrived.
    pub fn status(&self) -> Option<u16> {
        self.status
    }
    /// The call that failed, e.g. `GET /v1/prompts/greeting`.
    pub fn operation(&self) -> &str {
        &self.operation
    }
    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => write!(f, "{} failed (HTTP {s}): {}", self.operation, self.message),
            None => write!(f, "{} failed: {}", self.operation, self.message),
        }
    }
}

impl std::error::Error for ApiError {}

/// A prompt template could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template uses `{{name}}` and no value was given for `name`.
    #[error("prompt {prompt:?}: no value for the variable {{{{{variable}}}}}")]
    MissingVariable {
        /// The prompt's name.
        prompt: String,
        /// The variable without a value.
        variable: String,
    },
    /// A `{{` without its closing `}}`.
    #[error("prompt {prompt:?}: unclosed placeholder at byte {offset}")]
    Unclosed {
        /// The prompt's name.
        prompt: String,
        /// Byte offset of the `{{`.
        offset: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_follow_the_variant() {
        assert_eq!(
            Error::auth(401, "GET /x", "bad key").status_code(),
            Some(401)
        );
        assert_eq!(Error::api(None, "GET /x", "refused").status_code(), None);
        assert_eq!(Error::configuration("no init").status_code(), None);
        let t = Error::from(TemplateError::MissingVariable {
            prompt: "p".into(),
            variable: "name".into(),
        });
        assert_eq!(t.status_code(), None);
        assert_eq!(
            t.to_string(),
            "prompt \"p\": no value for the variable {{name}}"
        );
    }

    #[test]
    fn messages_name_the_operation_and_status() {
        let e = Error::api(Some(503), "GET /v1/prompts/a", "service unavailable");
        assert_eq!(
            e.to_string(),
            "GET /v1/prompts/a failed (HTTP 503): service unavailable"
        );
        let e = Error::auth(403, "GET /v1/setup/validate", "forbidden");
        assert!(e.to_string().contains("HTTP 403"), "{e}");
    }
}
