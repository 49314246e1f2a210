//! `#[staso::tool(guard)]`: the check that runs before the body and what a blocked call returns.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::Type;

use crate::sig::{Param, has_impl_trait, respan, type_text};

/// The return type a blocked call converts `GuardBlocked` into.
pub(crate) enum GuardRet {
    /// A nameable type (`()` for a fn without one).
    Typed(TokenStream),
    /// `impl Trait` somewhere in it, or an `#[async_trait]` output we cannot see: inferred.
    Opaque,
}

/// The guard check that runs before the body (`#[staso::tool(guard)]`): capture the arguments as
/// the tool input, ask the guard, then return `Err(GuardBlocked.into())`, rebind the arguments it
/// changed, or go on. Errors about the return type point at the `guard` option.
pub(crate) fn guard_prelude(
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

pub(crate) fn guard_ret(ty: Option<&Type>) -> GuardRet {
    match ty {
        Some(ty) if !has_impl_trait(ty) => GuardRet::Typed(quote!(#ty)),
        Some(_) => GuardRet::Opaque,
        None => GuardRet::Typed(quote!(())),
    }
}
