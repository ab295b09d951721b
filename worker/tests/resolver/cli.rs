//! `worker resolve` against the farm.
