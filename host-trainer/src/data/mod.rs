//! Fashion-MNIST for training: the dataset itself (IDX parsing, locating/downloading the files,
//! splits) is the `fashion-mnist` crate, re-exported here; augmentation and batches are ours.

pub mod augment;
pub mod batcher;

pub use batcher::{Batch, batch};
pub use fashion_mnist::{CLASS_NAMES, DataError, FashionMnist, Split, dataset, idx, source, train_val_split};
