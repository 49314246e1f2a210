//! Code generation: a `static` call-site descriptor, one `enter` call whose closure captures the
//! arguments, and the user's body run through `run` (sync) or `run_async` (async), so that every
//! exit — tail expression, `return`, `?`, panic — passes through the same recording code.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Error, FnArg, ItemFn, Pat, ReturnType, Type};

use crate::args::{Args, Kind, Which};
use crate::guard::{GuardRet, guard_prelude, guard_ret};
use crate::sig::{Param, async_trait_body, first_line, future_output, has_impl_trait, params};

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

    // Sync fns enter the span already current (`enter_current`, `enter_current_agent` for an
    // agent); async fns take the frame their future carries in the same step (`enter_async`).
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
    let site = site(match (is_async, which) {
        (true, _) => quote!(enter_async),
        // The agents' entry skips the role check on the hot path.
        (false, Which::Agent) => quote!(enter_current_agent),
        (false, _) => quote!(enter_current),
    });
    let new_block: syn::Block = syn::parse_quote!({
        #site
        #run
    });
    *item.block = new_block;
    Ok(quote!(#item))
}
