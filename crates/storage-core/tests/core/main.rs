//! storage-core's integration tests, in one binary: naming, signing, errors, storage policy.

mod conditional;
mod content_type;
mod django;
mod errors;
mod expiry;
mod fuzz;
mod naming;
mod policy;
mod signing;
