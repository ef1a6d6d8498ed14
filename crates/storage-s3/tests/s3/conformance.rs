//! The whole conformance suite on RGW.

use crate::support::fixture;

storage_conformance::conformance_tests!(fixture);
