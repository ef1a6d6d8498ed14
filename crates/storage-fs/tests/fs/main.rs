//! storage-fs's integration tests, in one binary: conformance, differential against memory, confinement,
//! crash safety, the signed-URL HTTP service, and the on-disk layout.

mod confinement;
mod conformance;
mod crash;
mod layout;
mod server;
mod support;
