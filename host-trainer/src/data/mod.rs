//! Fashion-MNIST: IDX parsing, locating/downloading the files, splits and batches.

pub mod augment;
pub mod batcher;
pub mod dataset;
pub mod idx;
pub mod source;

pub use batcher::{Batch, batch};
pub use dataset::{CLASS_NAMES, DataError, FashionMnist, Split, train_val_split};
