//! The seeded training/validation split a run trains on, its training part optionally cut to
//! its first images.

use fashion_mnist::{DataError, Split, train_val_split};

/// `val` images held out of `train` with `seed`; the rest, cut to its first `limit` if given.
pub fn train_val(train: &Split, val: usize, seed: u64, limit: Option<usize>) -> Result<(Split, Split), DataError> {
    let (train, val) = train_val_split(train, val, seed)?;
    let train = match limit {
        Some(n) => train.take(n),
        None => train,
    };
    Ok((train, val))
}
