//! Model names as price tables key them.

/// A model name as the table keys it: lower case, without a provider prefix (`openai/`,
/// `models/`, `anthropic.`), a version suffix (`@20241022`, `-v1:0`) or a date suffix
/// (`-2024-08-06`, `-20241022`, `-latest`).
///
/// ```
/// use staso_server::pricing::normalize_model;
/// assert_eq!(normalize_model("gpt-4o-2024-08-06"), "gpt-4o");
/// assert_eq!(normalize_model("anthropic/claude-3-5-sonnet-20241022"), "claude-3-5-sonnet");
/// ```
pub fn normalize_model(model: &str) -> String {
    let mut name = model.trim().to_ascii_lowercase();
    if let Some(i) = name.rfind('/') {
        name = name[i + 1..].to_owned();
    }
    // Bedrock ids: `anthropic.claude-3-haiku-20240307-v1:0`, `us.anthropic.…`.
    if let Some(i) = name.find("anthropic.") {
        name = name[i + "anthropic.".len()..].to_owned();
    }
    if let Some(i) = name.find(['@', ':']) {
        name.truncate(i);
    }
    loop {
        let before = name.len();
        for suffix in ["-latest", "-v1", "-v2"] {
            if let Some(s) = name.strip_suffix(suffix) {
                name.truncate(s.len());
            }
        }
        strip_date(&mut name);
        if name.len() == before {
            return name;
        }
    }
}

/// Strips one trailing `-YYYY-MM-DD` or `-YYYYMMDD`.
fn strip_date(name: &mut String) {
    let b = name.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let n = b.len();
    if n > 11 && b[n - 11] == b'-' && b[n - 6] == b'-' && b[n - 3] == b'-' {
        let (y, m, d) = (&b[n - 10..n - 6], &b[n - 5..n - 3], &b[n - 2..]);
        if digits(y) && digits(m) && digits(d) && y.starts_with(b"20") {
            name.truncate(n - 11);
            return;
        }
    }
    if n > 9 && b[n - 9] == b'-' && digits(&b[n - 8..]) && b[n - 8..].starts_with(b"20") {
        name.truncate(n - 9);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_normalise() {
        for (raw, want) in [
            ("gpt-4o-2024-08-06", "gpt-4o"),
            ("GPT-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
            ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
            ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
            ("anthropic/claude-3-haiku-20240307", "claude-3-haiku"),
            (
                "us.anthropic.claude-3-haiku-20240307-v1:0",
                "claude-3-haiku",
            ),
            ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
            ("models/gemini-2.5-pro", "gemini-2.5-pro"),
            ("openai/o3-mini", "o3-mini"),
            (" gpt-4.1 ", "gpt-4.1"),
        ] {
            assert_eq!(normalize_model(raw), want, "{raw}");
        }
    }
}
