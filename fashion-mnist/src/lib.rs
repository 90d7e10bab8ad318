//! The Fashion-MNIST dataset, for every crate that reads it (host-trainer, the int8 compiler,
//! the conformance suite): a strict IDX reader whose errors name the file ([`idx`]), where the
//! files come from and how they are verified and downloaded ([`source`]), and the splits in
//! memory with the seeded train/validation split ([`dataset`]). No burn here.

pub mod dataset;
pub mod idx;
pub mod source;

pub use dataset::{CLASS_NAMES, DataError, FashionMnist, FileInfo, Split, train_val_split};
