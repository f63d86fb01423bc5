//! # testbed: real OVN and OVS processes, namespaces and veth pairs
//!
//! Used by every integration test and benchmark, and by `southpaw sandbox`. It starts the
//! real daemons from the Debian packages in private temporary directories (never
//! `/var/run`), creates uniquely named namespaces and veth pairs, and cleans all of it up on
//! drop, also when a test panics; leftovers of a killed run are removed at the next start.
