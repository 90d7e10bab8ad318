//! The first look at an untrusted ONNX file, before tract builds anything from it, and a second
//! one at tract's typed model, before anything runs.
//!
//! tract checks a declared tensor shape against the bytes that follow it, but it evaluates
//! constant subgraphs while it types a model (and only then compares the result with its
//! folding budget), it panics on element types it cannot read, and it takes a graph's wiring
//! as given. A file of a few kilobytes could therefore ask for terabytes (two small constants
//! that broadcast, `ConstantOfShape`, a convolution padded by millions), abort the process, or
//! loop. So the compiler refuses, with the node or tensor named:
//!
//! - more than [`MAX_NODES`] nodes; a value defined twice; a cycle;
//! - a Transpose whose `perm` is not a permutation (tract would loop, allocating);
//! - a tensor (initializer, `Constant`, attribute) with a negative dimension, more than
//!   [`MAX_CONSTANT_ELEMENTS`] elements, an element type outside the plain numeric ones, data
//!   stored outside the file, data that does not match its declared shape, or sparse storage;
//! - subgraphs (`If`, `Loop`, `Scan`: infer-core has no control flow), without descending into
//!   them, and ops whose output size comes from tensor values ([`VALUE_SHAPED`]): both are
//!   listed with every other such node as [`CompileError::Unsupported`];
//! - a node whose inputs are all constants (so tract would fold it) unless it is one of the
//!   ops whose result is bounded by its inputs ([`folded_bound`]), and any folded constant
//!   whose bound exceeds [`MAX_CONSTANT_ELEMENTS`];
//! - after typing ([`check_typed`]): any value over [`MAX_ACTIVATION_ELEMENTS`] elements
//!   (constants: [`MAX_CONSTANT_ELEMENTS`]), before a byte of it is allocated.
//!
//! Memory is then bounded by a small multiple of the file's size plus the activation cap, and
//! time by the node count. Everything here is integer bookkeeping over the protobuf; nothing is
//! evaluated.

use std::collections::{HashMap, HashSet, VecDeque};

use tract_onnx::pb::{GraphProto, NodeProto, TensorProto, attribute_proto::AttributeType, tensor_proto::DataLocation};
use tract_onnx::prelude::*;

use crate::error::{CompileError, UnsupportedNode};

/// The most nodes a model may have (the published ones have under 100).
pub const MAX_NODES: usize = 100_000;
/// The most elements of one constant, given or folded (256 MB of f32; `mlp-improved`'s largest
/// weight has 802,816).
pub const MAX_CONSTANT_ELEMENTS: u64 = 1 << 26;
/// The most elements of one activation at batch 1 (infer-core's own limit is 2^20 per tensor).
pub const MAX_ACTIVATION_ELEMENTS: u64 = 1 << 22;

/// Ops whose output shape is read from a tensor's values or an attribute rather than from their
/// inputs' shapes, so that a tiny file can ask for any size. None of them lowers to infer-core.
pub const VALUE_SHAPED: &[&str] = &[
    "ConstantOfShape",
    "Expand",
    "Tile",
    "Range",
    "Resize",
    "Upsample",
    "Pad",
    "OneHot",
    "EyeLike",
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
    "ConvTranspose",
    "DepthToSpace",
    "SpaceToDepth",
    "NonMaxSuppression",
    "StringNormalizer",
    "TfIdfVectorizer",
];

/// Element types tract reads from a file, with their size in bytes.
fn element_size(data_type: i32) -> Option<u64> {
    Some(match data_type {
        2 | 3 | 9 => 1,   // uint8, int8, bool
        4 | 5 | 10 => 2,  // uint16, int16, float16
        1 | 6 | 12 => 4,  // float, int32, uint32
        7 | 11 | 13 => 8, // int64, double, uint64
        _ => return None,
    })
}

/// How many values a tensor's typed (not raw) fields hold, where tract looks for them.
fn typed_len(t: &TensorProto) -> usize {
    match t.data_type {
        1 => t.float_data.len(),
        11 => t.double_data.len(),
        7 | 13 => t.int64_data.len(),
        _ => t.int32_data.len(),
    }
}

/// Whether `v` holds each of `0..v.len()` once.
fn is_permutation(v: &[i64]) -> bool {
    let mut seen = vec![false; v.len()];
    v.iter()
        .all(|&i| usize::try_from(i).ok().and_then(|i| seen.get_mut(i)).is_some_and(|s| !std::mem::replace(s, true)))
}

fn refused(what: String) -> CompileError {
    CompileError::Refused(what)
}

/// The element count of `t` after checking everything tract would trust about it.
fn check_tensor(t: &TensorProto, whose: &str) -> Result<u64, CompileError> {
    let name = if t.name.is_empty() { whose.to_string() } else { format!("`{}`", t.name) };
    let Some(size) = element_size(t.data_type) else {
        return Err(refused(format!(
            "tensor {name} has element type {} (the compiler reads the numeric types: float, double, float16, int8..int64, uint8..uint64, bool)",
            t.data_type
        )));
    };
    if t.data_location == Some(DataLocation::External as i32) || !t.external_data.is_empty() {
        return Err(refused(format!(
            "tensor {name} is stored outside the file (external data); save the model with its weights inside"
        )));
    }
    let mut n: u64 = 1;
    for &d in &t.dims {
        let d = u64::try_from(d).map_err(|_| refused(format!("tensor {name} has a negative dimension ({d})")))?;
        n = n.checked_mul(d).ok_or_else(|| refused(format!("tensor {name}: its dimensions {:?} overflow", t.dims)))?;
    }
    if n > MAX_CONSTANT_ELEMENTS {
        return Err(refused(format!(
            "tensor {name} declares {n} elements; the compiler takes at most {MAX_CONSTANT_ELEMENTS} per tensor"
        )));
    }
    if !t.raw_data.is_empty() {
        if t.raw_data.len() as u64 != n * size {
            return Err(refused(format!(
                "tensor {name} declares {n} elements ({} bytes) and holds {} bytes",
                n * size,
                t.raw_data.len()
            )));
        }
    } else if typed_len(t) as u64 != n {
        return Err(refused(format!("tensor {name} declares {n} elements and holds {}", typed_len(t))));
    }
    Ok(n)
}

/// Element count of a `Constant` node's value, after checking it.
fn constant_value(n: &NodeProto) -> Result<u64, CompileError> {
    let mut count = 0;
    for a in &n.attribute {
        count += match a.name.as_str() {
            "value" => match &a.t {
                Some(t) => check_tensor(t, &format!("of Constant `{}`", n.name))?,
                None => 0,
            },
            "value_floats" => a.floats.len() as u64,
            "value_ints" => a.ints.len() as u64,
            "value_float" | "value_int" => 1,
            other => {
                return Err(refused(format!(
                    "Constant `{}`: its `{other}` value is not one the compiler reads (numeric tensors only)",
                    n.name
                )));
            }
        };
    }
    Ok(count)
}

/// The largest number of elements an op can fold its constant inputs into, from theirs
/// (`bounds`), or `None` when folding it is not something the compiler accepts. A product
/// bounds any broadcast, gather or matrix product; volume-keeping ops keep their first input's.
pub fn folded_bound(op: &str, bounds: &[u64]) -> Option<u64> {
    let first = bounds.first().copied().unwrap_or(1);
    let product = bounds.iter().try_fold(1u64, |acc, &b| acc.checked_mul(b.max(1))).unwrap_or(u64::MAX);
    Some(match op {
        "Identity" | "Cast" | "CastLike" | "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Transpose" | "Slice"
        | "Dropout" | "Neg" | "Abs" | "Sqrt" | "Reciprocal" | "Relu" | "Clip" | "Floor" | "Ceil" | "Round" | "Exp"
        | "Log" | "Sign" | "Not" | "Softmax" | "ReduceSum" | "ReduceProd" | "ReduceMean" | "ReduceMax"
        | "ReduceMin" | "Sigmoid" | "Tanh" => first,
        "Concat" => bounds.iter().fold(0u64, |acc, &b| acc.saturating_add(b)),
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "Sum" | "Mean" | "Equal" | "Less" | "Greater"
        | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" | "Xor" | "Where" | "Mod" | "Gather" | "MatMul" | "Gemm" => {
            product
        }
        "Shape" => 64,
        "Size" => 1,
        _ => return None,
    })
}

/// Checks `graph` as described in the module docs.
pub fn check(graph: &GraphProto) -> Result<(), CompileError> {
    if graph.node.len() > MAX_NODES {
        return Err(refused(format!("{} nodes; the compiler takes at most {MAX_NODES}", graph.node.len())));
    }
    if !graph.sparse_initializer.is_empty() {
        return Err(refused("sparse initializers; store the weights densely".into()));
    }
    // Constants and their element counts; graph inputs that are initializers stay constants
    // (older exporters list the weights among the inputs too).
    let mut constants: HashMap<&str, u64> = HashMap::new();
    for t in &graph.initializer {
        constants.insert(t.name.as_str(), check_tensor(t, "(an initializer)")?);
    }

    // Subgraphs and value-shaped ops: every such node, in one error.
    let mut unsupported = Vec::new();
    for n in &graph.node {
        let subgraph = n.attribute.iter().any(|a| {
            a.g.is_some()
                || !a.graphs.is_empty()
                || a.r#type == AttributeType::Graph as i32
                || a.r#type == AttributeType::Graphs as i32
        });
        let reason = if subgraph {
            Some("it holds a subgraph (control flow); infer-core runs straight-line graphs")
        } else if VALUE_SHAPED.contains(&n.op_type.as_str()) {
            Some("its output size comes from tensor values; infer-core's ops take theirs from their inputs")
        } else {
            None
        };
        if let Some(reason) = reason {
            unsupported.push(UnsupportedNode { name: n.name.clone(), op: n.op_type.clone(), reason: reason.into() });
        }
        if n.op_type == "Transpose"
            && let Some(perm) = n.attribute.iter().find(|a| a.name == "perm")
            && !is_permutation(&perm.ints)
        {
            // tract-core 0.23 takes `perm` as given: a repeated axis sends its cycle
            // decomposition into a loop that allocates until memory runs out.
            return Err(refused(format!(
                "node `{}` (Transpose) has perm {:?}, which is not a permutation of 0..{}",
                n.name,
                perm.ints,
                perm.ints.len()
            )));
        }
        for a in &n.attribute {
            if a.sparse_tensor.is_some() || !a.sparse_tensors.is_empty() {
                return Err(refused(format!("node `{}` has a sparse tensor attribute", n.name)));
            }
            if let Some(t) = &a.t {
                check_tensor(t, &format!("(attribute `{}` of node `{}`)", a.name, n.name))?;
            }
            for t in &a.tensors {
                check_tensor(t, &format!("(attribute `{}` of node `{}`)", a.name, n.name))?;
            }
        }
    }
    if !unsupported.is_empty() {
        return Err(CompileError::Unsupported { nodes: unsupported });
    }

    // Every value defined once; the producer of each.
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let defined_outside: HashSet<&str> =
        graph.input.iter().map(|i| i.name.as_str()).chain(graph.initializer.iter().map(|t| t.name.as_str())).collect();
    for (i, n) in graph.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if defined_outside.contains(o.as_str()) {
                return Err(refused(format!(
                    "value `{o}` is a graph input or initializer and also an output of node `{}`",
                    n.name
                )));
            }
            if let Some(&j) = producer.get(o.as_str()) {
                return Err(refused(format!(
                    "value `{o}` is defined twice: by node `{}` and by node `{}`",
                    graph.node[j].name, n.name
                )));
            }
            producer.insert(o.as_str(), i);
        }
    }

    // Topological order (Kahn); what is left over lies on a cycle.
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); graph.node.len()];
    let mut waiting: Vec<usize> = vec![0; graph.node.len()];
    for (i, n) in graph.node.iter().enumerate() {
        let mut deps: Vec<usize> = n.input.iter().filter_map(|v| producer.get(v.as_str()).copied()).collect();
        deps.sort_unstable();
        deps.dedup();
        waiting[i] = deps.len();
        for d in deps {
            consumers[d].push(i);
        }
    }
    let mut ready: VecDeque<usize> = (0..graph.node.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(graph.node.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &c in &consumers[i] {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                ready.push_back(c);
            }
        }
    }
    if order.len() < graph.node.len() {
        let stuck: Vec<String> = (0..graph.node.len())
            .filter(|&i| waiting[i] > 0)
            .take(8)
            .map(|i| format!("`{}`", graph.node[i].name))
            .collect();
        return Err(refused(format!("the graph has a cycle through the nodes {}", stuck.join(", "))));
    }

    // What tract would fold, bounded.
    for i in order {
        let n = &graph.node[i];
        let inputs: Vec<&str> = n.input.iter().map(String::as_str).filter(|v| !v.is_empty()).collect();
        let bound = if n.op_type == "Constant" {
            Some(constant_value(n)?)
        } else if n.op_type == "Shape" || n.op_type == "Size" {
            // Concrete once the input's shape is fixed, whatever the input.
            folded_bound(&n.op_type, &[])
        } else if !inputs.is_empty() && inputs.iter().all(|v| constants.contains_key(v)) {
            let bounds: Vec<u64> = inputs.iter().map(|v| constants[v]).collect();
            let Some(b) = folded_bound(&n.op_type, &bounds) else {
                return Err(refused(format!(
                    "node `{}` ({}) takes only constants, so loading would evaluate it; the compiler evaluates only shape arithmetic and elementwise ops on constants",
                    n.name, n.op_type
                )));
            };
            Some(b)
        } else {
            None
        };
        if let Some(b) = bound {
            if b > MAX_CONSTANT_ELEMENTS {
                return Err(refused(format!(
                    "node `{}` ({}) folds constants into up to {b} elements; the compiler takes at most {MAX_CONSTANT_ELEMENTS} per tensor",
                    n.name, n.op_type
                )));
            }
            for o in n.output.iter().filter(|o| !o.is_empty()) {
                constants.insert(o.as_str(), b);
            }
        }
    }
    Ok(())
}

/// Checks that no value of tract's typed model (batch 1) is larger than the caps, before
/// anything is evaluated or allocated at that size. `name` maps a tract node to the file's.
pub fn check_typed(model: &TypedModel, name: impl Fn(&str) -> String) -> Result<(), CompileError> {
    for node in &model.nodes {
        for out in &node.outputs {
            let Some(shape) = out.fact.shape.as_concrete() else { continue };
            let n = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64)).unwrap_or(u64::MAX);
            let cap = if out.fact.konst.is_some() { MAX_CONSTANT_ELEMENTS } else { MAX_ACTIVATION_ELEMENTS };
            if n > cap {
                return Err(refused(format!(
                    "node {} makes a value of {n} elements ({shape:?}); the compiler takes at most {cap}",
                    name(&node.name)
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_by_hand() {
        assert_eq!(folded_bound("Add", &[100_000, 100_000]), Some(10_000_000_000));
        assert_eq!(folded_bound("Concat", &[3, 4]), Some(7));
        assert_eq!(folded_bound("Reshape", &[12, 2]), Some(12));
        assert_eq!(folded_bound("MatMul", &[u64::MAX, 2]), Some(u64::MAX));
        assert_eq!(folded_bound("Conv", &[1, 1]), None);
        assert_eq!(element_size(1), Some(4));
        assert_eq!(element_size(8), None, "strings are not read");
        assert_eq!(element_size(14), None, "complex64 is not read");
    }
}
