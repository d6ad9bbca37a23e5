#![deny(missing_docs)]
//! stub

#[cfg(feature = "replay")]
pub mod replay;
