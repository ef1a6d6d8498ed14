//! storage-core's integration tests, in one binary: naming, signing, errors, storage policy.

mod conditional;
mod django;
mod errors;
mod naming;
mod policy;
mod signing;
