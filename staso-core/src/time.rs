//! Wall-clock timestamps in the Python `isoformat` shape and `duration_ms` rounding (PROTOCOL.md §2.3).
//!
//! Formatting is hand-written (a civil-from-days conversion) because the exact shape — six fraction
//! digits, omitted when zero, `+00:00` never `Z` — is not what the common time crates print by default.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The monotonic clock spans are timed with: the CPU's time-stamp counter where it is reliable
/// (a few ns to read), else the OS monotonic clock (`quanta` decides). `std::time::Instant` costs
/// ≈ 25–35 ns per read on the VMs we measured, and a span reads the clock twice.
pub type Tick = quanta::Instant;

/// The process's span clock. `quanta::Instant::now()` looks up a thread-local override clock (a
/// test hook of quanta's) behind a `RefCell` on every read; reading our own calibrated clock skips
/// that lookup, which was two thread-local accesses per span.
#[inline]
fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Now, on the span clock.
#[inline]
pub fn now() -> Tick {
    clock().now()
}

/// Time since `start` on the span clock (zero if the clock appears to have gone backwards).
#[inline]
pub fn since(start: Tick) -> Duration {
    now().saturating_duration_since(start)
}

/// One anchor pairing the monotonic and the wall clock, so a span reads only the monotonic clock on
/// the hot path and its wall-clock start is derived from the anchor.
fn anchor() -> &'static (Tick, SystemTime) {
    static ANCHOR: OnceLock<(Tick, SystemTime)> = OnceLock::new();
    ANCHOR.get_or_init(|| (now(), SystemTime::now()))
}

/// Converts a monotonic instant to wall-clock time through the process anchor.
pub fn wall_clock(at: Tick) -> SystemTime {
    let (i0, s0) = *anchor();
    match at.checked_duration_since(i0) {
        Some(d) => s0 + d,
        None => s0 - i0.duration_since(at),
    }
}

/// Makes sure the anchor exists (called by `init` so the first span pays nothing).
pub fn warm_up() {
    let _ = anchor();
}

/// `00` through `99`: a two-digit field is one table load instead of two divisions.
const PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// A timestamp formatted on the stack, like Python's `datetime.isoformat()` for an aware UTC
/// datetime.
#[derive(Clone, Copy)]
pub struct TimestampText {
    buf: [u8; 32],
    len: usize,
}

impl TimestampText {
    /// Formats `t` (hand-written digits: this runs once per span on the worker thread). The
    /// separators sit in a template and each two-digit field is written in place, so there is
    /// no second pass laying digits out.
    pub fn new(t: SystemTime) -> Self {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let secs = d.as_secs();
        let micros = d.subsec_micros();
        let (y, m, day) = civil_from_days((secs / 86_400) as i64);
        // Below 86 400, so the field arithmetic stays in 32 bits.
        let rem = (secs % 86_400) as u32;
        let y = y.clamp(0, 9999) as u32;
        let mut buf = *b"0000-00-00T00:00:00.000000+00:00";
        let mut put2 = |at: usize, v: u32| {
            // `v < 100` for every field; a stray value would print `00` rather than panic.
            let pair = PAIRS.get(v as usize).unwrap_or(&PAIRS[0]);
            buf[at..at + 2].copy_from_slice(pair);
        };
        put2(0, y / 100);
        put2(2, y % 100);
        put2(5, m);
        put2(8, day);
        put2(11, rem / 3600);
        put2(14, rem % 3600 / 60);
        put2(17, rem % 60);
        let len = if micros != 0 {
            put2(20, micros / 10_000);
            put2(22, micros / 100 % 100);
            put2(24, micros % 100);
            buf.len()
        } else {
            // Python omits a zero fraction: the offset moves up over it.
            buf[19..25].copy_from_slice(b"+00:00");
            25
        };
        TimestampText { buf, len }
    }

    /// The text as bytes (always ASCII): what the body writer appends, without the UTF-8 check
    /// of [`TimestampText::as_str`].
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

/// Formats like Python's `datetime.isoformat()` for an aware UTC datetime:
/// `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`, the fraction omitted when microseconds are exactly 0.
#[cfg(test)]
fn format_timestamp(t: SystemTime) -> String {
    TimestampText::new(t).as_str().to_owned()
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Milliseconds rounded half-to-even to 2 decimals, as Python's `round(x, 2)` does.
pub fn duration_ms(d: Duration) -> f64 {
    // Work in integer hundredths of a millisecond (10 µs units) from nanoseconds so the tie-break
    // is exact instead of depending on binary floating point.
    let nanos = d.as_nanos();
    let unit = 10_000u128; // ns per 0.01 ms
    let q = nanos / unit;
    let r = nanos % unit;
    let rounded = match r.cmp(&(unit / 2)) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    };
    rounded as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python_isoformat() {
        let t = UNIX_EPOCH + Duration::new(1_795_413_894, 216_768_000);
        assert_eq!(format_timestamp(t), "2026-11-23T06:04:54.216768+00:00");
        let whole = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        assert_eq!(format_timestamp(whole), "2033-05-18T03:33:20+00:00");
        assert_eq!(format_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00+00:00");
        let leap = UNIX_EPOCH + Duration::new(951_782_400, 1_000);
        assert_eq!(format_timestamp(leap), "2000-02-29T00:00:00.000001+00:00");
        let late = UNIX_EPOCH + Duration::new(253_402_300_799, 999_999_000);
        assert_eq!(format_timestamp(late), "9999-12-31T23:59:59.999999+00:00");
        assert_eq!(
            TimestampText::new(late).as_bytes(),
            format_timestamp(late).as_bytes()
        );
    }

    #[test]
    fn duration_rounds_half_even() {
        assert_eq!(duration_ms(Duration::from_micros(380)), 0.38);
        assert_eq!(duration_ms(Duration::from_nanos(5_000)), 0.0); // 0.005 -> 0.00 (even)
        assert_eq!(duration_ms(Duration::from_nanos(15_000)), 0.02); // 0.015 -> 0.02 (even)
        assert_eq!(duration_ms(Duration::from_nanos(15_001)), 0.02);
        assert_eq!(
            duration_ms(Duration::from_millis(300) + Duration::from_micros(700)),
            300.7
        );
    }

    #[test]
    fn wall_clock_tracks_the_anchor() {
        let w = wall_clock(now());
        let sys = SystemTime::now();
        let diff = sys.duration_since(w).unwrap_or_else(|e| e.duration());
        assert!(diff < Duration::from_secs(1), "{diff:?}");
    }
}
