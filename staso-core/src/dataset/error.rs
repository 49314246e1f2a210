//! [`StasoDatasetError`]: every failure of the dataset and evaluation calls.

use std::fmt;

/// What went wrong, for matching without parsing the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DatasetErrorKind {
    /// No API key: neither a global client with a key nor `STASO_API_KEY`.
    NotConfigured,
    /// An argument was rejected before anything was sent (e.g. entry data that is not an object).
    InvalidArgument,
    /// The server answered an error status ([`StasoDatasetError::status_code`] is set).
    Http,
    /// No answer: connection, TLS or timeout failure after the retries.
    Network,
    /// The server answered 2xx with a body this SDK cannot read.
    InvalidResponse,
    /// Reading or writing a local file (CSV upload and download).
    Io,
}

/// A failed dataset call (PROTOCOL.md §7.1): `message`, the HTTP `status_code` when the server
/// answered, and the `response_body` text ("" otherwise). Never contains the API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StasoDatasetError {
    /// What went wrong, e.g. `Dataset API error: 404`.
    pub message: String,
    /// The HTTP status, when there was an answer.
    pub status_code: Option<u16>,
    /// The answer's body ("" when there was none).
    pub response_body: String,
    /// The category of the failure.
    pub kind: DatasetErrorKind,
}

impl StasoDatasetError {
    pub(crate) fn new(kind: DatasetErrorKind, message: impl Into<String>) -> Self {
        StasoDatasetError {
            message: message.into(),
            status_code: None,
            response_body: String::new(),
            kind,
        }
    }

    pub(crate) fn http(message: impl Into<String>, status: u16, body: String) -> Self {
        StasoDatasetError {
            message: message.into(),
            status_code: Some(status),
            response_body: body,
            kind: DatasetErrorKind::Http,
        }
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(DatasetErrorKind::InvalidArgument, message)
    }

    pub(crate) fn invalid_response(what: &str, e: impl fmt::Display, body: &str) -> Self {
        StasoDatasetError {
            message: format!("invalid {what} response: {e}"),
            status_code: None,
            response_body: body.to_owned(),
            kind: DatasetErrorKind::InvalidResponse,
        }
    }
}

impl fmt::Display for StasoDatasetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StasoDatasetError {}
