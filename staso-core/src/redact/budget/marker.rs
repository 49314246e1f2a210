//! The marker that takes the place of cut content, and the room it needs.

/// The key of the entry that marks a cut inside an object.
pub(crate) const MARKER_KEY: &str = "staso.truncated";
pub(super) const MARKER_HEAD: &str = "…[staso: ";
pub(super) const MARKER_TAIL: &str = " bytes cut]";
/// Longest marker text (a `u64` has at most 20 digits).
pub(super) const MARKER_MAX: usize = MARKER_HEAD.len() + 20 + MARKER_TAIL.len();
/// Room kept free at every step for the widest marker: `,"staso.truncated":"<marker>"`.
pub(super) const RESERVE: usize = 1 + MARKER_KEY.len() + 3 + 2 + MARKER_MAX;
/// Smallest budget a cut aims for: below it only the marker would fit.
pub(crate) const MIN_TARGET: usize = 2 * RESERVE;

/// The marker text for `cut` bytes: `…[staso: 48213 bytes cut]`.
pub(crate) fn marker(cut: usize) -> String {
    format!("{MARKER_HEAD}{cut}{MARKER_TAIL}")
}
