//! Code generation: a `static` call-site descriptor, one `enter` call whose closure captures the
//! arguments, and the user's body run through `run` (sync) or `run_async` (async), so that every
//! exit — tail expression, `return`, `?`, panic — passes through the same recording code.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{
    Error, Expr, FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Stmt, Type,
    TypeParamBound,
};

use crate::args::{Args, Kind, Which};

/// One capturable argument: its name on the wire and the expression that reads it.
struct Param {
    name: String,
    tokens: TokenStream,
    span: Span,
    /// `Some` for a plain `ident` / `mut ident` argument: it can be rebound from a guard's
    /// modified input, with this mutability.
    rebind: Option<Option<syn::token::Mut>>,
    /// The declared type, when it borrows (a reference or a lifetime): such a value cannot be
    /// rebuilt from JSON, and telling that apart by trait selection is unsound for lifetimes.
    borrowed_ty: Option<Type>,
}

/// `tokens` with every token (recursively) placed at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
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
fn type_text(ty: &Type) -> String {
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
fn borrows(ty: &Type) -> bool {
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

fn params(item: &ItemFn) -> Vec<Param> {
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
fn has_impl_trait(ty: &Type) -> bool {
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
fn first_line(item: &ItemFn) -> u32 {
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
fn future_output(ty: &Type) -> Option<&Type> {
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
fn async_trait_body(item: &mut ItemFn) -> Option<&mut Expr> {
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

/// The return type a blocked call converts `GuardBlocked` into.
enum GuardRet {
    /// A nameable type (`()` for a fn without one).
    Typed(TokenStream),
    /// `impl Trait` somewhere in it, or an `#[async_trait]` output we cannot see: inferred.
    Opaque,
}

/// The guard check that runs before the body (`#[staso::tool(guard)]`): capture the arguments as
/// the tool input, ask the guard, then return `Err(GuardBlocked.into())`, rebind the arguments it
/// changed, or go on. Errors about the return type point at the `guard` option.
fn guard_prelude(
    guard: &syn::Ident,
    params: &[Param],
    skip: &[syn::Ident],
    ret: GuardRet,
    is_async: bool,
) -> TokenStream {
    let gspan = guard.span();
    // The return type is re-spanned too, so that a type error points at the `guard` option.
    let ret = match ret {
        GuardRet::Typed(ty) => GuardRet::Typed(respan(ty, gspan)),
        GuardRet::Opaque => GuardRet::Opaque,
    };
    let blocked = |b: TokenStream| match &ret {
        GuardRet::Typed(ty) => quote_spanned! {gspan=>
            ::staso::__private::guard_blocked::<#ty>(#b)
        },
        GuardRet::Opaque => quote_spanned! {gspan=>
            ::staso::__private::GuardReturn::from_blocked(#b)
        },
    };
    let args: Vec<&Param> = params
        .iter()
        .filter(|p| p.name != "self" && !skip.iter().any(|s| *s == p.name.as_str()))
        .collect();
    let capture = args.iter().map(|p| {
        let key = &p.name;
        let expr = &p.tokens;
        quote_spanned! {p.span=>
            (&&&::staso::__private::Probe(&#expr)).staso_capture(__staso_gi.key(#key));
        }
    });
    let check = if is_async {
        quote!(::staso::__private::guard_tool(__STASO_SITE.name, __staso_gi).await)
    } else {
        quote!(::staso::__private::guard_tool_blocking(
            __STASO_SITE.name,
            __staso_gi
        ))
    };
    let block_verdict = blocked(quote!(*__staso_b));
    let block_leftover = blocked(quote!(__staso_b));
    let rebinds = args.iter().filter_map(|p| {
        let mutability = p.rebind?;
        let key = &p.name;
        let ident = &p.tokens;
        if let Some(ty) = &p.borrowed_ty {
            let why = format!(
                "its type `{}` borrows, so it cannot be rebuilt from JSON",
                type_text(ty)
            );
            let block_arg = blocked(quote! {
                ::staso::__private::GuardChanges::rejected(
                    __staso_changes,
                    #key,
                    ::std::string::String::from(#why),
                )
            });
            return Some(quote_spanned! {p.span=>
                if ::staso::__private::GuardChanges::take(&mut __staso_changes, #key).is_some() {
                    return #block_arg;
                }
            });
        }
        let block_arg = blocked(quote! {
            ::staso::__private::GuardChanges::rejected(__staso_changes, #key, __staso_why)
        });
        Some(quote_spanned! {p.span=>
            #[allow(unused_variables, unused_mut)]
            let #mutability #ident = match ::staso::__private::GuardChanges::take(&mut __staso_changes, #key) {
                ::core::option::Option::None => #ident,
                ::core::option::Option::Some(__staso_v) => {
                    match (&&::staso::__private::Rebuild(&#ident)).staso_rebuild(__staso_v) {
                        ::core::result::Result::Ok(__staso_new) => __staso_new,
                        ::core::result::Result::Err(__staso_why) => return #block_arg,
                    }
                }
            };
        })
    });
    quote! {
        #[allow(unused_imports)]
        use ::staso::__private::{RebuildUnsupported as _, RebuildViaDeserialize as _};
        let __staso_verdict = {
            let mut __staso_gi = ::staso::__private::CaptureBuf::new();
            #(#capture)*
            #check
        };
        #[allow(unused_mut)]
        let mut __staso_changes = match __staso_verdict {
            ::staso::__private::GuardVerdict::Proceed => ::core::option::Option::None,
            ::staso::__private::GuardVerdict::Replace(__staso_c) => ::core::option::Option::Some(*__staso_c),
            ::staso::__private::GuardVerdict::Block(__staso_b) => return #block_verdict,
        };
        #(#rebinds)*
        if let ::core::option::Option::Some(__staso_b) =
            ::staso::__private::GuardChanges::leftover(__staso_changes)
        {
            return #block_leftover;
        }
    }
}

fn guard_ret(ty: Option<&Type>) -> GuardRet {
    match ty {
        Some(ty) if !has_impl_trait(ty) => GuardRet::Typed(quote!(#ty)),
        Some(_) => GuardRet::Opaque,
        None => GuardRet::Typed(quote!(())),
    }
}

/// Every name in `skip(…)` is an argument of the fn.
fn check_skip(args: &Args, item: &ItemFn, params: &[Param]) -> syn::Result<()> {
    for s in &args.skip {
        if !params.iter().any(|p| *s == p.name.as_str()) {
            return Err(Error::new_spanned(
                s,
                format!("skip: `{}` has no argument named `{s}`", item.sig.ident),
            ));
        }
    }
    Ok(())
}

/// The checks of [`expand`] that need only the syntax (everything but the types), for the `off`
/// feature: the attribute then leaves the fn as written.
pub fn validate(args: &Args, item: &ItemFn) -> syn::Result<()> {
    check_skip(args, item, &params(item))
}

pub fn expand(which: Which, args: Args, mut item: ItemFn) -> syn::Result<TokenStream> {
    let params = params(&item);
    if args.guard.is_some() {
        // The guard rebinds arguments (`let mut x = …`), so a `mut` on the parameter itself may
        // no longer be needed; that is the expansion's doing, not the user's.
        for arg in item.sig.inputs.iter_mut() {
            if let FnArg::Typed(pt) = arg
                && matches!(&*pt.pat, Pat::Ident(pi) if pi.mutability.is_some())
            {
                pt.attrs.push(syn::parse_quote!(#[allow(unused_mut)]));
            }
        }
    }
    check_skip(&args, &item, &params)?;
    let fn_name = {
        let n = item.sig.ident.to_string();
        n.strip_prefix("r#").unwrap_or(&n).to_owned()
    };
    let name = args
        .name
        .as_ref()
        .map(|l| l.value())
        .unwrap_or_else(|| fn_name.clone());
    let variant = |v: &str| {
        let v = format_ident!("{v}");
        quote!(::staso::__private::SpanKind::#v)
    };
    let (kind, role) = match (which, &args.kind) {
        (Which::Agent, _) => (variant("Agent"), "Agent"),
        (Which::Tool, _) => (variant("Tool"), "Tool"),
        (Which::Trace, None) => (variant("Chain"), "Trace"),
        (Which::Trace, Some(Kind::Named(v))) => (variant(v), "Trace"),
        (Which::Trace, Some(Kind::Path(p))) => (quote!(#p), "Trace"),
    };
    let role = format_ident!("{role}");
    let tags = &args.tags;
    let capture_input = args.capture_input.as_ref().is_none_or(|b| b.value);
    let capture_output = args.capture_output.as_ref().is_none_or(|b| b.value);
    let line = first_line(&item);

    let captured = params
        .iter()
        .filter(|p| !args.skip.iter().any(|s| *s == p.name.as_str()))
        .map(|p| {
            // An identifier needs no escaping in JSON: the key is written as text here.
            let key = format!("\"{}\":", p.name);
            let expr = &p.tokens;
            quote_spanned! {p.span=>
                if let ::core::option::Option::Some(__staso_b) = __staso_cap.arg_json(#key) {
                    (&&&::staso::__private::Probe(&#expr)).staso_capture(__staso_b);
                }
            }
        });
    let meta = args.metadata.iter().map(|(k, v)| {
        // Spanned at the value, so a non-`Serialize` value is reported where it is written.
        let value = quote_spanned! {v.span()=> &(#v) };
        quote! { __staso_cap.meta(#k, #value); }
    });

    // Sync fns enter the span already current (`enter_current`); async fns take the frame their
    // future carries in the same step (`enter_async`).
    let site = |enter_fn: TokenStream| {
        quote! {
            static __STASO_SITE: ::staso::__private::CallSite = ::staso::__private::CallSite {
                name: #name,
                kind: #kind,
                role: ::staso::__private::Role::#role,
                tags: &[#(#tags),*],
                function: #fn_name,
                file: ::core::file!(),
                line: #line,
                manifest_dir: match ::core::option_env!("CARGO_MANIFEST_DIR") {
                    ::core::option::Option::Some(d) => d,
                    ::core::option::Option::None => "",
                },
                capture_input: #capture_input,
                capture_output: #capture_output,
                abs_file: ::staso::__private::OnceLock::new(),
            };
            #[allow(unused_imports)]
            use ::staso::__private::{CaptureViaDebug as _, CaptureViaSerialize as _, CaptureViaTypeName as _};
            let __staso_span = ::staso::__private::#enter_fn(&__STASO_SITE, |__staso_cap| {
                if __staso_cap.wants_input() {
                    #(#captured)*
                }
                #(#meta)*
            });
            let __staso_rec_out = __staso_span.records_output();
        }
    };

    let classify = |ret: Option<&Type>| match ret {
        Some(ty) if !has_impl_trait(ty) => quote! {
            |__staso_ret: &#ty| ::staso::__private::outcome!(__staso_ret, __staso_rec_out)
        },
        Some(_) => quote! {
            |__staso_ret| ::staso::__private::classify_opaque(__staso_ret, __staso_rec_out)
        },
        None => quote! {
            |__staso_ret: &()| ::staso::__private::outcome!(__staso_ret, __staso_rec_out)
        },
    };
    let ret_ty = match &item.sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some((**ty).clone()),
    };

    // `#[async_trait]` already turned the method into `fn … -> Pin<Box<dyn Future>>` whose body
    // is `Box::pin(async move { … })`: instrument that inner future.
    let is_async = item.sig.asyncness.is_some();
    if !is_async {
        let output = ret_ty.as_ref().and_then(future_output).cloned();
        if let Some(body) = async_trait_body(&mut item) {
            let classify = match &output {
                Some(ty) => classify(Some(ty)),
                None => quote!(|__staso_ret| ::staso::__private::classify_opaque(
                    __staso_ret,
                    __staso_rec_out
                )),
            };
            let mut inner = std::mem::replace(body, syn::parse_quote!(()));
            if let Some(g) = &args.guard {
                let ret = match &output {
                    Some(ty) => guard_ret(Some(ty)),
                    None => GuardRet::Opaque,
                };
                let prelude = guard_prelude(g, &params, &args.skip, ret, true);
                inner = syn::parse_quote!(async move { #prelude (#inner).await });
            }
            *body = syn::parse_quote! {
                async move { __staso_span.run_async(#inner, #classify).await }
            };
            let stmts = &item.block.stmts;
            let site = site(quote!(enter_async));
            let block: syn::Block = syn::parse_quote!({ #site #(#stmts)* });
            *item.block = block;
            return Ok(quote!(#item));
        }
    }

    let classify = classify(ret_ty.as_ref());
    let user_body = &item.block;
    let body = match &args.guard {
        Some(g) => {
            let prelude =
                guard_prelude(g, &params, &args.skip, guard_ret(ret_ty.as_ref()), is_async);
            // The body's statements go in the prelude's block rather than the body as a nested
            // block: `{ …; { x + 1 } }` warns `unused_braces` at the user's braces, and its
            // suggested fix (remove the fn body's braces) does not compile.
            let stmts = &user_body.stmts;
            quote!({ #prelude #(#stmts)* })
        }
        None => quote!(#user_body),
    };
    let run = if is_async {
        quote! { __staso_span.run_async(async move #body, #classify).await }
    } else {
        quote! { __staso_span.run(move || #body, #classify) }
    };
    let site = site(if is_async {
        quote!(enter_async)
    } else {
        quote!(enter_current)
    });
    let new_block: syn::Block = syn::parse_quote!({
        #site
        #run
    });
    *item.block = new_block;
    Ok(quote!(#item))
}
