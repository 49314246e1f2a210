//! The span-id generator's arithmetic (wyrand, the generator `fastrand` uses): its step and its
//! output for a state. The state itself lives in the shortcut state (`shortcut.rs`).

/// What wyrand adds to its state per draw.
pub(super) const WYRAND_STEP: u64 = 0x2d35_8dcc_aa6c_78a5;

/// wyrand's output for a state.
#[inline(always)]
pub(super) fn wyrand_output(state: u64) -> u64 {
    let t = u128::from(state) * u128::from(state ^ 0x8bb8_4b93_962e_acc9);
    (t as u64) ^ ((t >> 64) as u64)
}
