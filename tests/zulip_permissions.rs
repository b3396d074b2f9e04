//! (being written)
mod common;
