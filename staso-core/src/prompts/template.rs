//! `{{variable}}` substitution for [`Prompt::compile`](super::Prompt::compile).
//!
//! Hand-written rather than a template engine: the syntax is one placeholder form with no
//! escaping, loops or filters, and an engine would accept (and silently render) syntax the
//! service's prompts never use.

use crate::error::TemplateError;

/// Fills every `{{ name }}` of `template` (whitespace inside the braces ignored) with
/// `value(name)`. Values are inserted as they are, never scanned for placeholders themselves.
///
/// # Errors
/// [`TemplateError::MissingVariable`] for the first placeholder without a value,
/// [`TemplateError::Unclosed`] for a `{{` with no `}}` before the next `{{` or the end.
pub(crate) fn render<'v>(
    prompt: &str,
    template: &str,
    value: impl Fn(&str) -> Option<&'v str>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let inner_and_rest = &rest[open + 2..];
        let unclosed = || TemplateError::Unclosed {
            prompt: prompt.to_owned(),
            offset: offset + open,
        };
        let close = inner_and_rest.find("}}").ok_or_else(unclosed)?;
        let inner = &inner_and_rest[..close];
        if inner.contains("{{") {
            return Err(unclosed());
        }
        let name = inner.trim();
        let v = value(name).ok_or_else(|| TemplateError::MissingVariable {
            prompt: prompt.to_owned(),
            variable: name.to_owned(),
        })?;
        out.push_str(v);
        let consumed = open + 2 + close + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
    }

    #[test]
    fn fills_placeholders_with_or_without_spaces() {
        let vars = [("name", "Ada"), ("day", "Monday")];
        assert_eq!(
            render(
                "p",
                "Hi {{name}}, happy {{ day }}! Bye {{  name  }}.",
                with(&vars)
            ),
            Ok("Hi Ada, happy Monday! Bye Ada.".to_owned())
        );
        assert_eq!(
            render("p", "no placeholders", with(&[])),
            Ok("no placeholders".into())
        );
        assert_eq!(render("p", "", with(&[])), Ok(String::new()));
        // A value is not a template: its braces stay.
        assert_eq!(
            render("p", "{{a}}", with(&[("a", "{{b}}")])),
            Ok("{{b}}".to_owned())
        );
        // Single braces and a lone `}}` are text.
        assert_eq!(render("p", "{x} }}", with(&[])), Ok("{x} }}".to_owned()));
    }

    #[test]
    fn a_missing_variable_is_named() {
        assert_eq!(
            render("greet", "Hi {{name}}, {{ mood }}", with(&[("name", "Ada")])),
            Err(TemplateError::MissingVariable {
                prompt: "greet".into(),
                variable: "mood".into()
            })
        );
    }

    #[test]
    fn an_unclosed_placeholder_gives_its_offset() {
        let unclosed = |offset| {
            Err(TemplateError::Unclosed {
                prompt: "p".into(),
                offset,
            })
        };
        assert_eq!(
            render("p", "Hi {{name", with(&[("name", "x")])),
            unclosed(3)
        );
        assert_eq!(
            render("p", "{{a}} and {{b {{a}}", with(&[("a", "x"), ("b", "y")])),
            unclosed(10)
        );
    }
}
