//! The `#[staso::agent]`, `#[staso::tool]` and `#[staso::trace]` attributes.
//!
//! Use them through the `staso` crate; the expansion calls into `staso::__private`. Parsing of the
//! options lives in `args`, code generation in `expand`.
//!
//! With the `off` feature (`staso/off`) each attribute still parses and checks its arguments (an
//! error points at the same token) but emits the fn unchanged: no span, no capture, no guard check.
//! What needs the expansion's types is checked only in the normal build (a `metadata` value being
//! `Serialize`, a guarded tool's return type), and an argument only the capture read is unused.
#![forbid(unsafe_code)]

mod args;
mod expand;
mod guard;
mod sig;

use proc_macro::TokenStream;

use args::Which;

fn attribute(which: Which, attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2 = proc_macro2::TokenStream::from(item.clone());
    let args = match args::parse(which, attr.into()) {
        Ok(a) => a,
        Err(e) => return with_item(e, item2),
    };
    let func: syn::ItemFn = match syn::parse2(item2.clone()) {
        Ok(f) => f,
        Err(_) => {
            let msg = format!(
                "{} can only be applied to a function with a body",
                which.attr_name()
            );
            let err = match syn::parse2::<syn::Item>(item2.clone()) {
                Ok(other) => syn::Error::new_spanned(other, msg),
                Err(_) => args::call_site_error(&msg),
            };
            return with_item(err, item2);
        }
    };
    if cfg!(feature = "off") {
        // Tracing compiled out: the same argument checks, then the fn exactly as written.
        return match expand::validate(&args, &func) {
            Ok(()) => item,
            Err(e) => with_item(e, item2),
        };
    }
    match expand::expand(which, args, func) {
        Ok(ts) => ts.into(),
        Err(e) => with_item(e, item2),
    }
}

/// The error plus the untouched item, so rustc still reports the user's own errors and names.
fn with_item(err: syn::Error, item: proc_macro2::TokenStream) -> TokenStream {
    let e = err.to_compile_error();
    quote::quote!(#e #item).into()
}

/// Records each call of the fn as an `agent` span; its name becomes the agent name of every span
/// beneath it. Options: `name`, `tags`, `metadata`, `capture_input`, `capture_output`, `skip(…)`;
/// a leading string literal is the name: `#[staso::agent("support-bot")]`.
#[proc_macro_attribute]
pub fn agent(attr: TokenStream, item: TokenStream) -> TokenStream {
    attribute(Which::Agent, attr, item)
}

/// Records each call of the fn as a `tool` span (metadata `tool_name`). Options as for `agent`,
/// plus `guard`.
#[proc_macro_attribute]
pub fn tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    attribute(Which::Tool, attr, item)
}

/// Records each call of the fn as a span of `kind` (default `chain`). Options as for `agent`, plus
/// `kind = "llm" | "tool" | "chain" | "retriever" | "agent" | "custom"` or a path to a `SpanKind`
/// variant: `kind = SpanKind::Llm`.
#[proc_macro_attribute]
pub fn trace(attr: TokenStream, item: TokenStream) -> TokenStream {
    attribute(Which::Trace, attr, item)
}
