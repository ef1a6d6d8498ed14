//! storage-azure's integration tests, in one binary, against a real Azurite (never a mock): the whole conformance
//! suite (and under faults), and what only Azure shows — create-only block commits without placeholders, SAS links
//! that Azurite itself verifies, a public container, errors that never show the account key or a signature.

mod conformance;
mod private_files;
mod support;
mod unique;
