//! Trace and span identifiers in the wire formats of PROTOCOL.md §2.2.
//!
//! Ids are drawn from a per-thread fast RNG (`fastrand`), so creating one takes no lock and no
//! allocation; they are formatted to their hyphenated string form only when a record is serialized.

use std::fmt;

/// A 128-bit trace id, rendered as 32 hex digits in 8-4-4-4-12 groups (no UUID version bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub u128);

/// A 64-bit span id, rendered as `00000000-0000-0000-XXXX-XXXXXXXXXXXX`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub u64);

impl TraceId {
    /// A fresh random trace id (never all zeros, which is the no-op id).
    pub fn random() -> Self {
        loop {
            let v = fastrand::u128(..);
            if v != 0 {
                return TraceId(v);
            }
        }
    }

    /// Parses the hyphenated (or plain) hex form.
    pub fn parse(s: &str) -> Option<Self> {
        parse_hex(s, 32).map(TraceId)
    }
}

impl SpanId {
    /// A fresh random span id (never zero).
    pub fn random() -> Self {
        loop {
            let v = fastrand::u64(..);
            if v != 0 {
                return SpanId(v);
            }
        }
    }

    /// Parses the hyphenated form (`00000000-0000-0000-XXXX-XXXXXXXXXXXX`) or 16/32 plain hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        let v = parse_hex(s, 32)?;
        u64::try_from(v).ok().map(SpanId)
    }
}

fn parse_hex(s: &str, max_digits: usize) -> Option<u128> {
    let mut digits = 0usize;
    let mut v: u128 = 0;
    for c in s.chars() {
        if c == '-' {
            continue;
        }
        let d = c.to_digit(16)?;
        digits += 1;
        if digits > max_digits {
            return None;
        }
        v = (v << 4) | u128::from(d);
    }
    if digits == 0 { None } else { Some(v) }
}

/// An id formatted on the stack: 32 hex digits in 8-4-4-4-12 groups. Formatting happens once per
/// id on the worker thread, so it is written by hand with a digit table instead of `format!`.
#[derive(Clone, Copy)]
pub struct IdText([u8; 36]);

impl IdText {
    /// Formats a 128-bit value.
    pub fn new(v: u128) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; 36];
        let mut d = 0;
        for (i, slot) in out.iter_mut().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                continue;
            }
            *slot = HEX[((v >> (124 - 4 * d)) & 0xf) as usize];
            d += 1;
        }
        IdText(out)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and hyphens were written.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl TraceId {
    /// The wire text without allocating.
    pub fn text(self) -> IdText {
        IdText::new(self.0)
    }
}

impl SpanId {
    /// The wire text (`00000000-0000-0000-XXXX-XXXXXXXXXXXX`) without allocating.
    pub fn text(self) -> IdText {
        IdText::new(u128::from(self.0))
    }
}

fn write_grouped(f: &mut fmt::Formatter<'_>, v: u128) -> fmt::Result {
    f.write_str(IdText::new(v).as_str())
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_grouped(f, self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_grouped(f, u128::from(self.0))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_id_has_the_zero_padded_shape() {
        let s = SpanId(0xbe31_eedc_d4d7_a784).to_string();
        assert_eq!(s, "00000000-0000-0000-be31-eedcd4d7a784");
        assert_eq!(SpanId::parse(&s), Some(SpanId(0xbe31_eedc_d4d7_a784)));
    }

    #[test]
    fn trace_id_round_trips_and_has_no_version_bits() {
        let t = TraceId(0xaf48_eaff_198f_3694_028e_d4b7_ad7e_ceda);
        let s = t.to_string();
        assert_eq!(s, "af48eaff-198f-3694-028e-d4b7ad7eceda");
        assert_eq!(TraceId::parse(&s), Some(t));
        let r = TraceId::random().to_string();
        assert_eq!(r.len(), 36);
        assert!(
            r.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn random_span_ids_fit_the_format() {
        for _ in 0..100 {
            let s = SpanId::random().to_string();
            assert!(s.starts_with("00000000-0000-0000-"), "{s}");
            assert_eq!(s.len(), 36);
        }
    }

    #[test]
    fn parse_rejects_garbage() {
        assert_eq!(TraceId::parse("xyz"), None);
        assert_eq!(TraceId::parse(""), None);
        assert_eq!(SpanId::parse("af48eaff-198f-3694-028e-d4b7ad7eceda"), None);
    }
}
