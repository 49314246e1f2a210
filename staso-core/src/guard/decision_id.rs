//! [`DecisionId`]: the id that names one guard decision (PROTOCOL.md §6.1).

use std::fmt;
use std::str::FromStr;

/// A guard decision id: a UUID, sent and compared in lowercase hyphenated form.
///
/// ```
/// use staso_core::guard::DecisionId;
/// let id: DecisionId = "6F9619FF-8B86-D011-B42D-00CF4FC964FF".parse()?;
/// assert_eq!(id.to_string(), "6f9619ff-8b86-d011-b42d-00cf4fc964ff");
/// assert!("not-a-uuid".parse::<DecisionId>().is_err());
/// # Ok::<(), staso_core::guard::InvalidDecisionId>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DecisionId(uuid::Uuid);

impl DecisionId {
    /// A fresh random (v4) id.
    pub fn new_v4() -> Self {
        DecisionId(uuid::Uuid::new_v4())
    }

    /// Parses any UUID form (hyphenated, simple, braced, URN; any case).
    ///
    /// # Errors
    /// [`InvalidDecisionId`] naming the value when it is not a UUID.
    pub fn parse(s: &str) -> Result<Self, InvalidDecisionId> {
        uuid::Uuid::parse_str(s.trim())
            .map(DecisionId)
            .map_err(|_| InvalidDecisionId(s.to_owned()))
    }

    /// The UUID.
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl From<uuid::Uuid> for DecisionId {
    fn from(u: uuid::Uuid) -> Self {
        DecisionId(u)
    }
}

impl FromStr for DecisionId {
    type Err = InvalidDecisionId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for DecisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// A decision id that is not a UUID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("decision_id {0:?} is not a UUID")]
pub struct InvalidDecisionId(pub String);
