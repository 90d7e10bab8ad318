//! Arena planning: a deterministic first-fit placement of every activation over its lifetime.
//!
//! A tensor is live from the op that produces it (the model input: from the start) to the last
//! op that reads it (the model output: to the end). An op's output never shares bytes with any
//! tensor live at that op, in particular its inputs, so kernels never read what they write.

use crate::graph::{MAX_TENSORS, Op, TensorInfo};

/// Alignment of every placement.
const ALIGN: usize = 4;

fn align(v: usize) -> usize {
    v.div_ceil(ALIGN) * ALIGN
}

/// Assigns `offset` of every tensor and returns the arena length.
pub(crate) fn assign(tensors: &mut [TensorInfo], ops: &[Op], input: usize, output: usize) -> usize {
    let n = tensors.len().min(MAX_TENSORS);
    // birth: op index that writes it (input: 0, placed before op 0 runs);
    // death: last op index that reads it (output: past the end).
    let mut birth = [0usize; MAX_TENSORS];
    let mut death = [0usize; MAX_TENSORS];
    for (i, op) in ops.iter().enumerate() {
        birth[op.out] = i;
        death[op.out] = death[op.out].max(i);
        for t in [Some(op.a), op.b].into_iter().flatten() {
            death[t] = death[t].max(i);
        }
    }
    death[output] = usize::MAX;
    let mut placed = [false; MAX_TENSORS];
    let mut arena_len = 0;
    let mut place = |t: usize, tensors: &mut [TensorInfo], placed: &mut [bool; MAX_TENSORS]| {
        let len = tensors[t].shape.numel();
        // Tensors live at the same time as t: placed ones whose lifetime overlaps t's.
        let overlaps = |u: usize| placed[u] && u != t && birth[u] <= death[t] && birth[t] <= death[u];
        let mut candidates = [0usize; MAX_TENSORS + 1];
        let mut count = 1;
        for (u, tu) in tensors.iter().enumerate().take(n) {
            if overlaps(u) {
                candidates[count] = align(tu.offset + tu.shape.numel());
                count += 1;
            }
        }
        let candidates = &mut candidates[..count];
        candidates.sort_unstable();
        let fits = |off: usize| {
            (0..n).all(|u| {
                !overlaps(u) || off + len <= tensors[u].offset || tensors[u].offset + tensors[u].shape.numel() <= off
            })
        };
        let off = candidates.iter().copied().find(|&o| fits(o)).unwrap_or(0);
        tensors[t].offset = off;
        placed[t] = true;
        arena_len = arena_len.max(off + len);
    };
    place(input, tensors, &mut placed);
    for op in ops {
        place(op.out, tensors, &mut placed);
    }
    align(arena_len)
}
