//! placeholder crate root; filled in by the engine-core work.
