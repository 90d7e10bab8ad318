//! Arena planning: a deterministic greedy placement, largest buffer first, of every activation
//! over its lifetime and of every op's kernel scratch over that op (the placement TFLite
//! Micro's greedy memory planner makes).
//!
//! A tensor is live from the op that produces it (the model input: from the start) to the last
//! op that reads it (the model output: to the end); an op's scratch only while the op runs.
//! Buffers live at the same op never share bytes: an op's output overlaps none of its inputs
//! (kernels never read what they write), and its scratch overlaps neither.
//!
//! Buffers are placed in order of decreasing length (ties: tensors by id, then scratches by
//! op), each at the lowest 4-aligned offset where it overlaps no buffer already placed whose
//! lifetime meets its own. Placing the large ones first lets small, short-lived ones fill the
//! gaps (cnn-baseline's scratch of its second convolution sits where its input image was).

use crate::graph::{MAX_OPS, MAX_TENSORS, Op, TensorInfo, lifetime};

/// Alignment of every placement.
const ALIGN: usize = 4;

/// Most buffers: every tensor and one scratch per op.
const MAX_BUFFERS: usize = MAX_TENSORS + MAX_OPS;

fn align(v: usize) -> usize {
    v.div_ceil(ALIGN) * ALIGN
}

/// One buffer to place: its bytes and the first and last op at which it is live (12 bytes:
/// parse's stack holds 64 of them; op indices are below [`MAX_OPS`], `u8::MAX` is "to the end";
/// lengths and offsets stay far below 4 GiB, see [`crate::graph::MAX_NUMEL`]).
#[derive(Clone, Copy, Default)]
struct Buffer {
    len: u32,
    offset: u32,
    first: u8,
    last: u8,
}

impl Buffer {
    fn meets(&self, o: &Buffer) -> bool {
        self.first <= o.last && o.first <= self.last
    }
    fn overlaps(&self, offset: usize, o: &Buffer) -> bool {
        let (start, end) = (o.offset as usize, o.offset as usize + o.len as usize);
        offset < end && start < offset + self.len as usize
    }
    fn end(&self) -> usize {
        self.offset as usize + self.len as usize
    }
}

/// Assigns the `offset` of every tensor and the `scratch` offset of every op (whose
/// `scratch_len` parse has set) and returns the arena length.
pub(crate) fn assign(tensors: &mut [TensorInfo], ops: &mut [Op], input: usize, output: usize) -> usize {
    let nt = tensors.len().min(MAX_TENSORS);
    let no = ops.len().min(MAX_OPS);
    let mut bufs = [Buffer::default(); MAX_BUFFERS];
    for (t, (b, info)) in bufs.iter_mut().zip(tensors.iter()).take(nt).enumerate() {
        let (first, last) = lifetime(&ops[..no], t, input, output);
        let op_index = |i: usize| i.min(u8::MAX as usize) as u8;
        *b = Buffer { len: info.shape.numel() as u32, offset: 0, first: op_index(first), last: op_index(last) };
    }
    for (i, op) in ops.iter().enumerate().take(no) {
        bufs[nt + i] = Buffer { len: op.scratch_len, offset: 0, first: i as u8, last: i as u8 };
    }
    let n = nt + no;
    // Placement order: longest first, then by index (a stable insertion sort on indices).
    let mut order = [0u8; MAX_BUFFERS];
    for (i, o) in order.iter_mut().enumerate().take(n) {
        *o = i as u8;
    }
    let order = &mut order[..n];
    for i in 1..n {
        let mut j = i;
        while j > 0 && bufs[order[j - 1] as usize].len < bufs[order[j] as usize].len {
            order.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut placed = [false; MAX_BUFFERS];
    let mut arena_len = 0;
    for &k in order.iter() {
        let k = k as usize;
        let b = bufs[k];
        if b.len > 0 {
            let conflicts = |u: usize| placed[u] && bufs[u].len > 0 && b.meets(&bufs[u]);
            let fits = |off: usize| (0..n).all(|u| !conflicts(u) || !b.overlaps(off, &bufs[u]));
            // The lowest fitting offset is 0 or the aligned end of a conflicting buffer.
            let mut best = if fits(0) { Some(0) } else { None };
            for u in (0..n).filter(|&u| conflicts(u)) {
                let off = align(bufs[u].end());
                if best.is_none_or(|o| off < o) && fits(off) {
                    best = Some(off);
                }
            }
            // (Past the end of every conflicting buffer always fits, so `best` is set.)
            let off = best.unwrap_or(arena_len);
            bufs[k].offset = off as u32;
            arena_len = arena_len.max(off + b.len as usize);
        }
        placed[k] = true;
    }
    for (t, b) in tensors.iter_mut().zip(&bufs).take(nt) {
        t.offset = b.offset as usize;
    }
    for (op, b) in ops.iter_mut().zip(&bufs[nt..]).take(no) {
        op.scratch = b.offset;
    }
    align(arena_len)
}
