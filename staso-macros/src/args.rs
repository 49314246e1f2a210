//! Parsing of the attribute arguments: one loop over `key = value` / `skip(…)` with one set of
//! names already seen, so unknown and duplicate options are a single check.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Error, Expr, ExprLit, Ident, Lit, LitBool, LitStr, Token};

/// Which attribute is being expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Agent,
    Tool,
    Trace,
}

impl Which {
    pub fn attr_name(self) -> &'static str {
        match self {
            Which::Agent => "#[staso::agent]",
            Which::Tool => "#[staso::tool]",
            Which::Trace => "#[staso::trace]",
        }
    }

    fn options(self) -> &'static str {
        match self {
            Which::Trace => "name, kind, tags, metadata, capture_input, capture_output, skip",
            Which::Tool => "name, tags, metadata, capture_input, capture_output, skip, guard",
            Which::Agent => "name, tags, metadata, capture_input, capture_output, skip",
        }
    }
}

/// The parsed options.
#[derive(Default)]
pub struct Args {
    pub name: Option<LitStr>,
    /// `kind = "llm"` or `kind = SpanKind::Llm`.
    pub kind: Option<Kind>,
    pub tags: Vec<LitStr>,
    pub metadata: Vec<(LitStr, Expr)>,
    pub capture_input: Option<LitBool>,
    pub capture_output: Option<LitBool>,
    pub skip: Vec<Ident>,
    /// `guard` (tools only): the option's token, where errors about it point.
    pub guard: Option<Ident>,
}

/// The span kind of `#[staso::trace]`.
pub enum Kind {
    /// `kind = "llm"`: the `SpanKind` variant the string names.
    Named(&'static str),
    /// `kind = SpanKind::Llm`: the user's path, emitted as written (so their import is used and a
    /// path to something else is a type error at the path), after its last segment was checked.
    Path(syn::ExprPath),
}

const KINDS: [(&str, &str); 6] = [
    ("llm", "Llm"),
    ("tool", "Tool"),
    ("chain", "Chain"),
    ("retriever", "Retriever"),
    ("agent", "Agent"),
    ("custom", "Custom"),
];

pub fn parse(which: Which, tokens: TokenStream) -> syn::Result<Args> {
    let parser = |input: ParseStream<'_>| parse_args(which, input);
    parser.parse2(tokens)
}

fn parse_args(which: Which, input: ParseStream<'_>) -> syn::Result<Args> {
    let mut args = Args::default();
    let mut seen = HashSet::new();
    // A leading string literal is the name: `#[staso::tool("lookup")]` is `name = "lookup"`.
    let positional_name = input.peek(LitStr);
    if positional_name {
        args.name = Some(input.parse()?);
        seen.insert("name".to_owned());
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
    }
    while !input.is_empty() {
        if input.peek(Lit) {
            let lit: Lit = input.parse()?;
            let msg = match &lit {
                Lit::Str(_) => format!(
                    "a name without `name =` must come first: {}(\"name\", …)]",
                    which.attr_name().trim_end_matches(']')
                ),
                _ => "expected an option (`name = \"…\"`, …) or a name as a string literal"
                    .to_owned(),
            };
            return Err(Error::new_spanned(lit, msg));
        }
        let key: Ident = input.parse()?;
        let name = key.to_string();
        if !seen.insert(name.clone()) {
            let msg = if name == "name" && positional_name {
                "duplicate option `name`: the leading string literal already names the span"
                    .to_owned()
            } else {
                format!("duplicate option `{name}`")
            };
            return Err(Error::new_spanned(&key, msg));
        }
        match name.as_str() {
            "name" => args.name = Some(lit_str(input, &key)?),
            "kind" if which == Which::Trace => args.kind = Some(kind(input, &key)?),
            "kind" => {
                let fixed = if which == Which::Agent {
                    "agent"
                } else {
                    "tool"
                };
                return Err(Error::new_spanned(
                    &key,
                    format!(
                        "`kind` is not an option of {}: its spans are always kind \"{fixed}\"; use #[staso::trace(kind = \"…\")] for another kind",
                        which.attr_name()
                    ),
                ));
            }
            "guard" if which == Which::Tool => {
                if input.peek(Token![=]) || input.peek(syn::token::Paren) {
                    return Err(Error::new_spanned(
                        &key,
                        "`guard` takes no value: #[staso::tool(guard)]",
                    ));
                }
                args.guard = Some(key);
            }
            "guard" => {
                return Err(Error::new_spanned(
                    &key,
                    format!(
                        "`guard` is not an option of {}: only #[staso::tool(guard)] checks calls with the guard",
                        which.attr_name()
                    ),
                ));
            }
            "tags" => args.tags = tags(input, &key)?,
            "metadata" => args.metadata = metadata(input, &key)?,
            "capture_input" => args.capture_input = Some(lit_bool(input, &key)?),
            "capture_output" => args.capture_output = Some(lit_bool(input, &key)?),
            "skip" => {
                if !input.peek(syn::token::Paren) {
                    return Err(Error::new_spanned(
                        &key,
                        "`skip` lists arguments in parentheses: skip(api_token, …)",
                    ));
                }
                let content;
                syn::parenthesized!(content in input);
                let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                    &content,
                    parse_skip_name,
                )?;
                args.skip = names.into_iter().collect();
            }
            _ => {
                return Err(Error::new_spanned(
                    &key,
                    format!(
                        "unknown option `{name}` for {}; expected one of: {}",
                        which.attr_name(),
                        which.options()
                    ),
                ));
            }
        }
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
    }
    Ok(args)
}

fn parse_skip_name(input: ParseStream<'_>) -> syn::Result<Ident> {
    if input.peek(Token![self]) {
        let t: Token![self] = input.parse()?;
        return Ok(Ident::new("self", t.span));
    }
    input.parse()
}

fn equals(input: ParseStream<'_>, key: &Ident) -> syn::Result<()> {
    if !input.peek(Token![=]) {
        return Err(Error::new_spanned(key, format!("expected `{key} = …`")));
    }
    input.parse::<Token![=]>()?;
    Ok(())
}

fn lit_str(input: ParseStream<'_>, key: &Ident) -> syn::Result<LitStr> {
    equals(input, key)?;
    match input.parse::<Expr>()? {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s),
        other => Err(Error::new_spanned(
            other,
            format!("`{key}` expects a string literal, e.g. {key} = \"…\""),
        )),
    }
}

/// `kind = "llm"` (any case) or `kind = SpanKind::Llm` (any path ending in a variant).
fn kind(input: ParseStream<'_>, key: &Ident) -> syn::Result<Kind> {
    equals(input, key)?;
    match input.parse::<Expr>()? {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => {
            let value = lit.value();
            KINDS
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&value))
                .map(|(_, v)| Kind::Named(v))
                .ok_or_else(|| {
                    Error::new_spanned(
                        &lit,
                        format!(
                            "unknown span kind {value:?}: expected one of \"llm\", \"tool\", \"chain\", \"retriever\", \"agent\", \"custom\""
                        ),
                    )
                })
        }
        Expr::Path(p)
            if p.qself.is_none() && p.path.segments.iter().all(|s| s.arguments.is_none()) =>
        {
            let last = p.path.segments.last().map(|s| &s.ident);
            if last.is_some_and(|ident| KINDS.iter().any(|(_, v)| ident == v)) {
                return Ok(Kind::Path(p));
            }
            Err({
                let at = last.map_or_else(|| p.to_token_stream(), |i| i.to_token_stream());
                Error::new_spanned(
                    at,
                    format!(
                        "unknown span kind `{}`: expected one of SpanKind::Llm, SpanKind::Tool, SpanKind::Chain, SpanKind::Retriever, SpanKind::Agent, SpanKind::Custom",
                        last.map_or_else(String::new, ToString::to_string)
                    ),
                )
            })
        }
        other => Err(Error::new_spanned(
            other,
            "`kind` expects a span kind: kind = \"llm\" or kind = SpanKind::Llm",
        )),
    }
}

fn lit_bool(input: ParseStream<'_>, key: &Ident) -> syn::Result<LitBool> {
    equals(input, key)?;
    match input.parse::<Expr>()? {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(b),
        other => Err(Error::new_spanned(
            other,
            format!("`{key}` expects `true` or `false`"),
        )),
    }
}

fn tags(input: ParseStream<'_>, key: &Ident) -> syn::Result<Vec<LitStr>> {
    equals(input, key)?;
    match input.parse::<Expr>()? {
        Expr::Array(arr) => arr
            .elems
            .into_iter()
            .map(|e| match e {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Ok(s),
                other => Err(Error::new_spanned(
                    other,
                    "each tag must be a string literal",
                )),
            })
            .collect(),
        other => Err(Error::new_spanned(
            other,
            "`tags` expects an array of string literals, e.g. tags = [\"rag\"]",
        )),
    }
}

fn metadata(input: ParseStream<'_>, key: &Ident) -> syn::Result<Vec<(LitStr, Expr)>> {
    equals(input, key)?;
    if !input.peek(syn::token::Brace) {
        let bad: Expr = input.parse()?;
        return Err(Error::new_spanned(
            bad,
            "`metadata` expects a map: metadata = { \"key\": value, … }",
        ));
    }
    let content;
    syn::braced!(content in input);
    let mut out = Vec::new();
    let mut keys = HashSet::new();
    while !content.is_empty() {
        let k: LitStr = match content.parse::<Lit>() {
            Ok(Lit::Str(s)) => s,
            Ok(other) => {
                return Err(Error::new_spanned(
                    other,
                    "metadata keys must be string literals",
                ));
            }
            Err(e) => {
                return Err(Error::new(
                    e.span(),
                    "metadata keys must be string literals",
                ));
            }
        };
        if !keys.insert(k.value()) {
            return Err(Error::new_spanned(
                &k,
                format!("duplicate metadata key {:?}", k.value()),
            ));
        }
        content.parse::<Token![:]>()?;
        let v: Expr = content.parse()?;
        out.push((k, v));
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(out)
}

/// A `compile_error!` at the call site, for errors found before any token is known.
pub fn call_site_error(msg: &str) -> Error {
    Error::new(Span::call_site(), msg)
}
