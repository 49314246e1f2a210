//! What the attributes read off the annotated fn: its capturable parameters, its types as
//! written, its first line, and the `#[async_trait]` shape of its body.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::visit::Visit;
use syn::{Expr, FnArg, GenericArgument, ItemFn, Pat, PathArguments, Stmt, Type, TypeParamBound};

/// One capturable argument: its name on the wire and the expression that reads it.
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) tokens: TokenStream,
    pub(crate) span: Span,
    /// `Some` for a plain `ident` / `mut ident` argument: it can be rebound from a guard's
    /// modified input, with this mutability.
    pub(crate) rebind: Option<Option<syn::token::Mut>>,
    /// The declared type, when it borrows (a reference or a lifetime): such a value cannot be
    /// rebuilt from JSON, and telling that apart by trait selection is unsound for lifetimes.
    pub(crate) borrowed_ty: Option<Type>,
}

/// `tokens` with every token (recursively) placed at `span`.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// A type as written, without the token spacing of `to_string` (`&str`, `Vec<&'a str>`).
pub(crate) fn type_text(ty: &Type) -> String {
    let raw = quote!(#ty).to_string();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            let prev = out.chars().last();
            let next = chars.peek().copied();
            let glue = matches!(prev, Some('&' | '<' | ':' | '(' | '['))
                || matches!(next, Some('<' | '>' | ',' | ':' | ')' | ']'));
            if glue {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Whether a type mentions a reference or a lifetime.
pub(crate) fn borrows(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_reference(&mut self, _: &'ast syn::TypeReference) {
            self.0 = true;
        }
        fn visit_lifetime(&mut self, _: &'ast syn::Lifetime) {
            self.0 = true;
        }
    }
    let mut f = Finder(false);
    f.visit_type(ty);
    f.0
}

pub(crate) fn params(item: &ItemFn) -> Vec<Param> {
    item.sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Receiver(r) => {
                let tok = r.self_token;
                Some(Param {
                    name: "self".into(),
                    tokens: quote!(#tok),
                    span: tok.span,
                    rebind: None,
                    borrowed_ty: None,
                })
            }
            FnArg::Typed(pt) => match &*pt.pat {
                Pat::Ident(pi) if pi.subpat.is_none() => {
                    let ident = &pi.ident;
                    let name = ident.to_string();
                    let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
                    Some(Param {
                        name,
                        tokens: quote!(#ident),
                        span: ident.span(),
                        rebind: pi.by_ref.is_none().then_some(pi.mutability),
                        borrowed_ty: borrows(&pt.ty).then(|| (*pt.ty).clone()),
                    })
                }
                _ => None,
            },
        })
        .collect()
}

/// Whether a type mentions `impl Trait` (a closure parameter cannot name it).
pub(crate) fn has_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut f = Finder(false);
    f.visit_type(ty);
    f.0
}

/// The line of the fn item's first (non-doc) attribute or of the attribute being expanded
/// (decision 8), read from the compiler's spans.
pub(crate) fn first_line(item: &ItemFn) -> u32 {
    if !proc_macro::is_available() {
        return 0;
    }
    let mut line = proc_macro::Span::call_site().line();
    for attr in item.attrs.iter().filter(|a| !a.path().is_ident("doc")) {
        line = line.min(attr.pound_token.span.unwrap().line());
    }
    u32::try_from(line).unwrap_or(0)
}

/// `Pin<Box<dyn Future<Output = T> + …>>` → `T` (the shape `#[async_trait]` gives its methods).
pub(crate) fn future_output(ty: &Type) -> Option<&Type> {
    fn first_type_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
        let Type::Path(p) = ty else { return None };
        let seg = p.path.segments.last()?;
        if seg.ident != name {
            return None;
        }
        let PathArguments::AngleBracketed(a) = &seg.arguments else {
            return None;
        };
        a.args.iter().find_map(|g| match g {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        })
    }
    let boxed = first_type_arg(ty, "Pin")?;
    let dyn_ty = first_type_arg(boxed, "Box")?;
    let Type::TraitObject(obj) = dyn_ty else {
        return None;
    };
    obj.bounds.iter().find_map(|b| {
        let TypeParamBound::Trait(t) = b else {
            return None;
        };
        let seg = t.path.segments.last()?;
        if seg.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(a) = &seg.arguments else {
            return None;
        };
        a.args.iter().find_map(|g| match g {
            GenericArgument::AssocType(at) if at.ident == "Output" => Some(&at.ty),
            _ => None,
        })
    })
}

/// The `Box::pin(async move { … })` tail of an `#[async_trait]` method, if this is one.
pub(crate) fn async_trait_body(item: &mut ItemFn) -> Option<&mut Expr> {
    if item.sig.asyncness.is_some() {
        return None;
    }
    let Some(Stmt::Expr(Expr::Call(call), None)) = item.block.stmts.last_mut() else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let is_pin = func.path.segments.last().is_some_and(|s| s.ident == "pin");
    if !is_pin || call.args.len() != 1 || !matches!(call.args.first(), Some(Expr::Async(_))) {
        return None;
    }
    call.args.first_mut()
}
