//! End-to-end tests of staso-rs live in `tests/` beside this file; this library holds what they
//! share.
