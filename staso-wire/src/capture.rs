//! The capture map: which content categories a span or a guard request carried (PROTOCOL.md §1.3).

use serde::{Deserialize, Serialize};

/// The five capture categories as sent on every span: `"captured"` or `"suppressed"` each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureMap {
    /// User/request content.
    pub request: CaptureState,
    /// System prompts.
    pub system_prompt: CaptureState,
    /// Tool schemas.
    pub tool_schema: CaptureState,
    /// Tool-call arguments.
    pub tool_arguments: CaptureState,
    /// Outputs.
    pub output: CaptureState,
}

/// Whether a capture category was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureState {
    /// The category was sent.
    Captured,
    /// The category was withheld by the capture policy.
    Suppressed,
}

impl CaptureState {
    /// `Captured` when `on`.
    pub fn from_bool(on: bool) -> Self {
        if on {
            CaptureState::Captured
        } else {
            CaptureState::Suppressed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_state_serializes_lowercase() {
        assert_eq!(
            serde_json::to_string(&CaptureState::Suppressed)
                .ok()
                .as_deref(),
            Some("\"suppressed\"")
        );
    }
}
