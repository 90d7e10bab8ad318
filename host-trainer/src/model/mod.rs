//! Model definitions: a preset is a named list of [`LayerSpec`]s, and [`Net`] builds any such
//! list into a burn module. Adding a preset is adding one list.
//!
//! Every model takes `[N, 1, 28, 28]` images in [0, 1] and returns `[N, 10]` logits; MLPs
//! start with a `Flatten`. The same layer list drives export and quantization, so the set of
//! layer kinds here is the set the int8 engine has to support.

mod layers;
mod net;
mod preset;

pub use layers::{
    INPUT, LayerSpec, Padding, Shape3, ShapeError, largest_activation_pair, macs, param_count, same_pad, shapes,
};
pub use net::{Act, Flatten, Layer, Net};
pub use preset::{EDGE_BUDGET, Preset};
