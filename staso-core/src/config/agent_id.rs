//! The stable agent id derived from the agent name (PROTOCOL.md §1.4).

use uuid::Uuid;

/// Namespace of the agent-id UUIDv5, shared with the official SDK.
const AGENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0xa1b2c3d4_e5f6_7890_abcd_ef1234567890);

/// The agent id for `agent_name`: a lowercase hyphenated UUIDv5 of its UTF-8 bytes in the namespace
/// `a1b2c3d4-e5f6-7890-abcd-ef1234567890`, identical to the official SDK's.
///
/// ```
/// use staso_core::config::generate_agent_id;
/// assert_eq!(generate_agent_id("my-agent"), "ace91cbe-ed51-50a2-9489-56df86b8725e");
/// ```
pub fn generate_agent_id(agent_name: &str) -> String {
    Uuid::new_v5(&AGENT_ID_NAMESPACE, agent_name.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_official_sdk_vectors() {
        assert_eq!(
            generate_agent_id("my-agent"),
            "ace91cbe-ed51-50a2-9489-56df86b8725e"
        );
        assert_eq!(
            generate_agent_id("a"),
            "936ec2e7-9865-5b53-9e7e-111ed1ab77e9"
        );
    }

    #[test]
    fn is_stable_and_distinct() {
        assert_eq!(generate_agent_id("planner"), generate_agent_id("planner"));
        assert_ne!(generate_agent_id("planner"), generate_agent_id("Planner"));
    }
}
