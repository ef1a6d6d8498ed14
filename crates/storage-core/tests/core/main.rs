//! storage-core's integration tests, in one binary: naming, signing, errors, storage policy.

mod django;
mod errors;
mod expiry;
mod naming;
mod policy;
mod signing;
