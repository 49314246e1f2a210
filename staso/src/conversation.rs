//! `conversation!`: the one macro of the facade (exported at the crate root).

/// Runs code inside a conversation: every span created inside carries the conversation id as its
/// `session_id` (and the user id, when given).
///
/// ```
/// // a block: returns its value
/// let n = staso::conversation!("conv-42", user_id = "user-alice", { 1 + 1 });
/// assert_eq!(n, 2);
/// // an async block: returns a future that keeps the conversation across awaits and threads
/// let fut = staso::conversation!(format!("conv-{}", 7), async move { 3 });
/// // no id: a fresh UUID
/// let id = staso::conversation!({ staso::current_session_id() });
/// assert!(id.is_some());
/// // a user without an id: a fresh conversation id, that user
/// let user = staso::conversation!(user_id = "user-bob", { staso::current_user_id() });
/// assert_eq!(user.as_deref(), Some("user-bob"));
/// // optional ids: `None` id → a fresh id, `None` user → no user
/// let (id, user): (Option<String>, Option<&str>) = (None, None);
/// let got = staso::conversation!(id, user_id = user, { staso::current_user_id() });
/// assert_eq!(got, None);
/// ```
///
/// The forms are `conversation!(body)`, `conversation!(id, body)`,
/// `conversation!(user_id = user, body)` and `conversation!(id, user_id = user, body)`, where
/// `body` is a block `{ … }` or an async block `async { … }` / `async move { … }`.
///
/// The id and user id are any expressions converting into a `String` (`&str`, `String`,
/// `format!(…)`, …) or an `Option` of one: a `None` (or empty) id gets a fresh UUID as if none
/// were given, a `None` user id sets no user. Conversations nest: the inner one wins inside, and
/// the outer is restored after it. The block form keeps `return` and `?` of the enclosing fn;
/// use the `async` form when the code awaits.
///
/// With the `off` feature the macro is just its body: the block, or the async block itself (not
/// a `Conversation<_>`). The id and user id expressions are type-checked and count as used, as
/// here, but are not evaluated, and no conversation is set (`current_session_id()` is `None`).
#[cfg(not(feature = "off"))]
#[macro_export]
macro_rules! conversation {
    (async $($rest:tt)*) => {
        $crate::__private::conversation_future(::core::option::Option::None, ::core::option::Option::None, async $($rest)*)
    };
    ($body:block) => {{
        let __staso_conversation = $crate::__private::enter_conversation(::core::option::Option::None, ::core::option::Option::None);
        $body
    }};
    // Before the `$id:expr` arms: `user_id = x` parses as an (assignment) expression.
    (user_id = $user:expr, async $($rest:tt)*) => {
        $crate::__private::conversation_future(
            ::core::option::Option::None,
            $crate::__private::conversation_arg($user),
            async $($rest)*
        )
    };
    (user_id = $user:expr, $body:block) => {{
        let __staso_conversation = $crate::__private::enter_conversation(
            ::core::option::Option::None,
            $crate::__private::conversation_arg($user),
        );
        $body
    }};
    ($id:expr, user_id = $user:expr, async $($rest:tt)*) => {
        $crate::__private::conversation_future(
            $crate::__private::conversation_arg($id),
            $crate::__private::conversation_arg($user),
            async $($rest)*
        )
    };
    ($id:expr, user_id = $user:expr, $body:block) => {{
        let __staso_conversation = $crate::__private::enter_conversation(
            $crate::__private::conversation_arg($id),
            $crate::__private::conversation_arg($user),
        );
        $body
    }};
    ($id:expr, async $($rest:tt)*) => {
        $crate::__private::conversation_future($crate::__private::conversation_arg($id), ::core::option::Option::None, async $($rest)*)
    };
    ($id:expr, $body:block) => {{
        let __staso_conversation = $crate::__private::enter_conversation($crate::__private::conversation_arg($id), ::core::option::Option::None);
        $body
    }};
}

/// Runs code inside a conversation — compiled out by the `off` feature: this is the body alone.
///
/// The forms are those of the normal build. The body is the block (or the async block itself,
/// not a `Conversation<_>`); the id and user id expressions are type-checked and count as used
/// (a moved value is moved, as in the normal build), but are never evaluated, so they have no
/// side effects, and no conversation is set.
///
/// ```
/// let n = staso::conversation!("conv-42", user_id = "user-alice", { 1 + 1 });
/// assert_eq!(n, 2);
/// let id = staso::conversation!(format!("conv-{}", 7), { staso::current_session_id() });
/// assert_eq!(id, None);
/// ```
#[cfg(feature = "off")]
#[macro_export]
macro_rules! conversation {
    (async $($rest:tt)*) => {
        async $($rest)*
    };
    ($body:block) => {
        $body
    };
    // Before the `$id:expr` arms: `user_id = x` parses as an (assignment) expression.
    (user_id = $user:expr, async $($rest:tt)*) => {{
        let _ = || $crate::__private::conversation_arg($user);
        async $($rest)*
    }};
    (user_id = $user:expr, $body:block) => {{
        let _ = || $crate::__private::conversation_arg($user);
        $body
    }};
    ($id:expr, user_id = $user:expr, async $($rest:tt)*) => {{
        let _ = || ($crate::__private::conversation_arg($id), $crate::__private::conversation_arg($user));
        async $($rest)*
    }};
    ($id:expr, user_id = $user:expr, $body:block) => {{
        let _ = || ($crate::__private::conversation_arg($id), $crate::__private::conversation_arg($user));
        $body
    }};
    ($id:expr, async $($rest:tt)*) => {{
        let _ = || $crate::__private::conversation_arg($id);
        async $($rest)*
    }};
    ($id:expr, $body:block) => {{
        let _ = || $crate::__private::conversation_arg($id);
        $body
    }};
}
