//! storage-fs's integration tests, in one binary: conformance, differential against memory, confinement,
//! crash safety, several processes on one root, the signed-URL HTTP service, and the on-disk layout.

mod confinement;
mod conformance;
mod crash;
mod layout;
mod modes;
mod processes;
mod roots;
mod server;
mod support;
