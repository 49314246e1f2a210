//! [`Prompt`]: one version of a prompt, and filling its `{{variable}}` placeholders.

use std::collections::HashMap;
use std::fmt;

use super::template;
use crate::error::Error;

/// One version of a prompt.
///
/// ```
/// use staso_core::prompts::Prompt;
/// let p = Prompt {
///     name: "greeting".into(),
///     version: 3,
///     environment: "production".into(),
///     content: "Hello {{ name }}, it is {{day}}.".into(),
/// };
/// assert_eq!(p.compile([("name", "Ada"), ("day", "Monday")])?, "Hello Ada, it is Monday.");
/// assert_eq!(p.as_str(), p.to_string());
/// # Ok::<(), staso_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The prompt's name.
    pub name: String,
    /// The version, from 1.
    pub version: u32,
    /// The environment it was fetched from (or created in).
    pub environment: String,
    /// The text, with its `{{variable}}` placeholders.
    pub content: String,
}

impl Prompt {
    /// The text, placeholders unfilled.
    pub fn as_str(&self) -> &str {
        &self.content
    }

    /// The text with every `{{name}}` (whitespace inside the braces allowed: `{{ name }}`)
    /// replaced by its value from `vars`: pairs of string-likes, e.g. `[("name", "Ada")]`, a
    /// `Vec<(String, String)>` or a `HashMap<String, String>` (or a reference to one). Values are
    /// inserted as they are; variables the text does not use are ignored; for a repeated key the
    /// last value wins.
    ///
    /// # Errors
    /// [`Error::Template`] with [`TemplateError::MissingVariable`](crate::TemplateError) naming
    /// the first placeholder without a value, or [`TemplateError::Unclosed`](crate::TemplateError)
    /// for a `{{` without its `}}`.
    ///
    /// ```
    /// use staso_core::{Error, TemplateError, prompts::Prompt};
    /// let p = Prompt {
    ///     name: "greeting".into(),
    ///     version: 1,
    ///     environment: "production".into(),
    ///     content: "Hello {{name}}".into(),
    /// };
    /// let vars = std::collections::HashMap::from([("name".to_owned(), "Ada".to_owned())]);
    /// assert_eq!(p.compile(&vars)?, "Hello Ada");
    /// let missing = p.compile(Vec::<(String, String)>::new()).unwrap_err();
    /// assert!(matches!(
    ///     missing,
    ///     Error::Template(TemplateError::MissingVariable { ref variable, .. }) if variable == "name"
    /// ));
    /// # Ok::<(), staso_core::Error>(())
    /// ```
    pub fn compile<I, K, V>(&self, vars: I) -> Result<String, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let pairs: Vec<(K, V)> = vars.into_iter().collect();
        let values: HashMap<&str, &str> = pairs
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        template::render(&self.name, &self.content, |n| values.get(n).copied()).map_err(Error::from)
    }
}

impl fmt::Display for Prompt {
    /// The text, placeholders unfilled.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.content)
    }
}

impl AsRef<str> for Prompt {
    fn as_ref(&self) -> &str {
        &self.content
    }
}

impl From<staso_wire::prompt::Prompt> for Prompt {
    fn from(p: staso_wire::prompt::Prompt) -> Self {
        Prompt {
            name: p.name,
            version: p.version,
            environment: p.environment,
            content: p.content,
        }
    }
}
