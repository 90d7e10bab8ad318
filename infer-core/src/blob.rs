//! Decoding of the blob's header and records (layout in docs/FORMAT.md). Pure byte reading:
//! every read is bounds-checked and returns `None` past the end.

/// `"IC8M"`.
pub const MAGIC: [u8; 4] = *b"IC8M";
/// The format version this crate reads and writes.
pub const VERSION: u16 = 1;
/// Header size.
pub const HEADER_LEN: usize = 32;
/// Tensor record size.
pub const TENSOR_RECORD: usize = 16;
/// Op record size.
pub const OP_RECORD: usize = 32;
/// CRC trailer size.
pub const CRC_LEN: usize = 4;
/// "No tensor" in the second input field.
pub const NO_TENSOR: u16 = 0xFFFF;

/// Op kind codes.
pub mod kind {
    /// 2-D convolution (optionally with fused ReLU and max pool).
    pub const CONV2D: u8 = 1;
    /// Fully connected.
    pub const DENSE: u8 = 2;
    /// Max pooling.
    pub const MAX_POOL2D: u8 = 3;
    /// Concatenation of two flat tensors.
    pub const CONCAT: u8 = 4;
}

/// Flag: fused ReLU.
pub const FLAG_RELU: u8 = 1;

/// Little-endian reads at an offset; `None` when out of bounds.
pub(crate) struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    pub fn bytes<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        let end = at.checked_add(N)?;
        let s = self.0.get(at..end)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Some(out)
    }
    pub fn u8(&self, at: usize) -> Option<u8> {
        self.0.get(at).copied()
    }
    pub fn u16(&self, at: usize) -> Option<u16> {
        self.bytes::<2>(at).map(u16::from_le_bytes)
    }
    pub fn u32(&self, at: usize) -> Option<u32> {
        self.bytes::<4>(at).map(u32::from_le_bytes)
    }
    pub fn i32(&self, at: usize) -> Option<i32> {
        self.bytes::<4>(at).map(i32::from_le_bytes)
    }
    pub fn f32(&self, at: usize) -> Option<f32> {
        self.u32(at).map(f32::from_bits)
    }
}

/// The header fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub magic: [u8; 4],
    pub version: u16,
    pub header_len: u16,
    pub total_len: u32,
    pub n_tensors: u16,
    pub n_ops: u16,
    pub input: u16,
    pub output: u16,
    pub tensor_table: u32,
    pub op_table: u32,
    pub reserved: u32,
}

impl Header {
    pub fn read(r: &Reader) -> Option<Self> {
        Some(Self {
            magic: r.bytes::<4>(0)?,
            version: r.u16(4)?,
            header_len: r.u16(6)?,
            total_len: r.u32(8)?,
            n_tensors: r.u16(12)?,
            n_ops: r.u16(14)?,
            input: r.u16(16)?,
            output: r.u16(18)?,
            tensor_table: r.u32(20)?,
            op_table: r.u32(24)?,
            reserved: r.u32(28)?,
        })
    }
}

/// A tensor record as stored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TensorRecord {
    pub h: u16,
    pub w: u16,
    pub c: u16,
    pub zero_point: i8,
    pub reserved0: u8,
    pub scale: f32,
    pub reserved1: u32,
}

impl TensorRecord {
    pub fn read(r: &Reader, at: usize) -> Option<Self> {
        Some(Self {
            h: r.u16(at)?,
            w: r.u16(at + 2)?,
            c: r.u16(at + 4)?,
            zero_point: r.u8(at + 6)? as i8,
            reserved0: r.u8(at + 7)?,
            scale: r.f32(at + 8)?,
            reserved1: r.u32(at + 12)?,
        })
    }
}

/// An op record as stored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpRecord {
    pub kind: u8,
    pub flags: u8,
    pub kernel: u8,
    pub stride: u8,
    pub pad: [u8; 4],
    pub a: u16,
    pub b: u16,
    pub out: u16,
    pub pool: u8,
    pub reserved0: u8,
    pub weights: u32,
    pub bias: u32,
    pub requant: u32,
    pub reserved1: u32,
}

impl OpRecord {
    pub fn read(r: &Reader, at: usize) -> Option<Self> {
        Some(Self {
            kind: r.u8(at)?,
            flags: r.u8(at + 1)?,
            kernel: r.u8(at + 2)?,
            stride: r.u8(at + 3)?,
            pad: r.bytes::<4>(at + 4)?,
            a: r.u16(at + 8)?,
            b: r.u16(at + 10)?,
            out: r.u16(at + 12)?,
            pool: r.u8(at + 14)?,
            reserved0: r.u8(at + 15)?,
            weights: r.u32(at + 16)?,
            bias: r.u32(at + 20)?,
            requant: r.u32(at + 24)?,
            reserved1: r.u32(at + 28)?,
        })
    }
}
