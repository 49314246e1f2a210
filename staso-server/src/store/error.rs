//! The store's error type, kept apart from [`Store`](super::Store) so the storage modules
//! (migrations included) can name it without importing their parent.

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON column did not decode (corrupt database).
    #[error("stored json: {0}")]
    Json(#[from] serde_json::Error),
    /// No such row visible to the caller.
    #[error("{0}")]
    NotFound(String),
    /// The request is valid JSON but refers to something impossible.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with stored state.
    #[error("{0}")]
    Conflict(String),
    /// An `Idempotency-Key` already answered a different request body.
    #[error("{0}")]
    IdempotencyConflict(String),
    /// The writer's shared transaction failed (every request in it gets this).
    #[error("write batch failed: {0}")]
    Batch(String),
    /// The database was written by a newer version of this server.
    #[error("database schema version {found} is newer than this server ({known})")]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Latest version this build knows.
        known: i64,
    },
}

/// Result alias of the store.
pub type StoreResult<T> = Result<T, StoreError>;
