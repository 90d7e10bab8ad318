//! Classifies Fashion-MNIST test images with one published int8 model (chosen at build time:
//! `MODEL=cnn-edge`, the default) using infer-core: under QEMU the real test set, read from the
//! host through semihosting (all 10,000 images by default), on a board 260 embedded images.
//! Reports accuracy, a hash of all int8 logits, instructions (QEMU) or cycles (board) per
//! inference and per op, the arena size, the RAM infer-core takes (arena, `Model`, the stack of
//! its calls) against the bound known at build time, and the whole stack's high-water mark.
//!
//! Exit code (semihosting on QEMU): 0 only when the logits hash and the accuracy equal what the
//! host computed with infer-core at build time (bit-exact host ↔ device) and infer-core's stack
//! stayed within its bound; 1 on a mismatch or a stack over the bound, 2 on
//! a panic or an infer-core error (e.g. a corrupted blob), 3 on a HardFault.

#![no_std]
#![no_main]

mod exit;
mod hash;
mod testset;

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};

use exit::exit;

include!(concat!(env!("OUT_DIR"), "/expected.rs"));

/// The model, with tables sized at build time for exactly its ops and tensors.
type Model<'a> = infer_core::Model<'a, MODEL_OPS, MODEL_TENSORS>;

/// Data placed at a 4-byte aligned address (`include_bytes!` alone guarantees 1).
#[repr(C, align(4))]
struct Aligned<B: ?Sized>(B);

static BLOB: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.ic8")));

const CLASS_NAMES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

#[cfg(not(feature = "nrf52840"))]
macro_rules! out {
    ($($t:tt)*) => { cortex_m_semihosting::hprintln!($($t)*) };
}
#[cfg(feature = "nrf52840")]
macro_rules! out {
    ($($t:tt)*) => { rtt_target::rprintln!($($t)*) };
}

// ---------------------------------------------------------------------------------------------
// Time: SysTick at the core clock (QEMU: with -icount shift=0 an instruction is 1 ns of virtual
// time, calibrated below against a block of NOPs) or the DWT cycle counter on a board.

static WRAPS: AtomicU32 = AtomicU32::new(0);
const RELOAD: u32 = 0x00FF_FFFF;

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

fn ticks() -> u64 {
    #[cfg(feature = "nrf52840")]
    {
        u64::from(cortex_m::peripheral::DWT::cycle_count())
    }
    #[cfg(not(feature = "nrf52840"))]
    loop {
        let w = WRAPS.load(Ordering::Relaxed);
        let cvr = cortex_m::peripheral::SYST::get_current();
        if WRAPS.load(Ordering::Relaxed) == w {
            return u64::from(w) * (u64::from(RELOAD) + 1) + u64::from(RELOAD - cvr);
        }
    }
}

/// Instructions [`calibrate`] times: 400 rounds of 100 NOPs, a `subs` and a `bne`.
const CALIBRATION_INSTRUCTIONS: u64 = 400 * (100 + 2);

/// Ticks taken by [`CALIBRATION_INSTRUCTIONS`] instructions: the tick-to-instruction ratio under
/// QEMU's `-icount`. The loop is written in assembly so that the compiler cannot unroll it (an
/// unrolled 40,000-NOP block was 80 KB of flash); a round is 200 bytes, within a narrow
/// branch's reach, which a size build (`opt-level = "z"`) assembles the `bne` as.
fn calibrate() -> u64 {
    let t0 = ticks();
    // SAFETY: NOPs and a count-down loop on a scratch register; no memory is touched (the
    // flags are clobbered, which `asm!` assumes without `preserves_flags`).
    unsafe {
        core::arch::asm!(
            "2:",
            ".rept 100",
            "nop",
            ".endr",
            "subs {n}, {n}, #1",
            "bne 2b",
            n = inout(reg) 400u32 => _,
            options(nomem, nostack),
        )
    };
    ticks() - t0
}

// ---------------------------------------------------------------------------------------------
// Stack high-water mark: paint the unused stack, then find the deepest overwritten word.

unsafe extern "C" {
    static mut _stack_end: u32;
    static _stack_start: u32;
}

const PAINT: u32 = 0xA5A5_A5A5;

/// The lowest stack address written since the paint (the stack's deepest point).
fn deepest() -> usize {
    let bottom = &raw mut _stack_end;
    let top = &raw const _stack_start as usize;
    let mut p = bottom;
    // SAFETY: reads of the painted region, inside RAM.
    while (p as usize) < top && unsafe { p.read_volatile() } == PAINT {
        p = p.wrapping_add(1);
    }
    p as usize
}

fn stack_high_water() -> usize {
    &raw const _stack_start as usize - deepest()
}

/// Paints the stack below the current stack pointer, but for its lowest `margin` bytes (the
/// caller's live frame), and returns that stack pointer: what is written below it afterwards
/// is the stack the next calls take. At boot (256 bytes left) and again before `Model::parse`
/// (64: this loop is inlined and touches no stack itself).
#[inline(always)]
fn paint_below_sp(margin: usize) -> usize {
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = &raw mut _stack_end;
    while (p as usize) + margin < sp {
        // SAFETY: between the end of .bss and the live stack: memory nothing uses now.
        unsafe { p.write_volatile(PAINT) };
        p = p.wrapping_add(1);
    }
    sp
}

/// The most stack infer-core's `Model::parse` and `Model::run_with` may take on this target
/// (release with LTO, opt-level 3 or "s"): the bound infer-core's documentation states,
/// checked here for every model (they take 1.3 to 2.1 KiB).
const INFER_CORE_STACK_BOUND: usize = 2304;

/// RAM infer-core needs for this model, known at build time: the arena (activations and kernel
/// scratch), the parsed `Model` (its tables) and the stack bound.
const RAM_BOUND: usize = ARENA_LEN + core::mem::size_of::<Model>() + INFER_CORE_STACK_BOUND;

// ---------------------------------------------------------------------------------------------

struct Tally {
    correct: [u32; 10],
    images: usize,
    ticks: u64,
    /// Ticks spent in each op, over all images.
    per_op: [u64; infer_core::MAX_OPS],
    ops: usize,
    /// Stack taken by infer-core's calls (parse and every run): below `classify`'s frame.
    infer_stack: usize,
}

/// `Model::run_with` (the default kernels, an observer) in a frame of its own, so that what it
/// puts on the stack is below `classify`'s frame and counted as infer-core's (inlined, it would
/// sit in `classify`'s; `Model::parse` does its work in a function of its own already). The
/// options are built here, not passed in: known at compile time, they let LLVM drop the
/// reference kernels (2.9 KB of flash) as it does where `run_with` is inlined.
#[inline(never)]
fn run(
    model: &Model,
    observer: impl FnMut(usize, &[u8]),
    img: &[u8],
    arena: &mut [u8],
) -> Result<infer_core::Output, infer_core::Error> {
    model.run_with(infer_core::RunOptions::new().observe(observer), img, arena)
}

fn classify(blob: &[u8], arena: &mut [u8], h: &mut u32) -> Result<Tally, infer_core::Error> {
    let sp = paint_below_sp(64);
    let model = Model::parse_sized(blob)?;
    let ops = model.ops().len();
    let mut t = Tally { correct: [0; 10], images: 0, ticks: 0, per_op: [0; infer_core::MAX_OPS], ops, infer_stack: 0 };
    let Some(mut images) = testset::TestSet::open(IMAGES_FILE) else {
        out!("cannot open {} through semihosting", IMAGES_FILE);
        exit(2)
    };
    let mut img = [0u8; 784];
    for &label in LABELS {
        if !images.next_into(&mut img) {
            out!("the test set ended after {} images", t.images);
            exit(2);
        }
        let t0 = ticks();
        let mut last = t0;
        let per_op = &mut t.per_op;
        let timer = |i: usize, _: &[u8]| {
            let now = ticks();
            per_op[i] += now - last;
            last = now;
        };
        let o = run(&model, timer, &img, arena)?;
        t.ticks += ticks() - t0;
        let mut bytes = [0u8; infer_core::MAX_OUTPUTS];
        for (b, &v) in bytes.iter_mut().zip(o.values.iter()) {
            *b = v as u8;
        }
        *h = hash::fnv1a(*h, &bytes[..o.values.len()]);
        if o.argmax() == label as usize {
            t.correct[label as usize] += 1;
        }
        t.images += 1;
    }
    // (The image reads' semihosting calls and the timer observer are in it too: a few words.)
    t.infer_stack = sp.saturating_sub(deepest());
    out!(
        "{}: arena {} B (static buffer {} B), weights {} B, {} MACs",
        MODEL_NAME,
        model.arena_len(),
        arena.len(),
        model.weight_bytes(),
        model.macs()
    );
    for (i, op) in model.ops().iter().enumerate() {
        out!(
            "{}:   op {} needs {} B of arena ({} B of it kernel scratch)",
            MODEL_NAME,
            i,
            model.op_live_bytes(i),
            op.scratch_len
        );
    }
    let (tables, ram) =
        (core::mem::size_of::<Model>(), model.arena_len() + core::mem::size_of::<Model>() + t.infer_stack);
    out!(
        "{}: infer-core RAM {} B = arena {} + model tables {} + stack {} (build-time bound {} B: {})",
        MODEL_NAME,
        ram,
        model.arena_len(),
        tables,
        t.infer_stack,
        RAM_BOUND,
        if t.infer_stack <= INFER_CORE_STACK_BOUND && ram <= RAM_BOUND { "within" } else { "EXCEEDED" }
    );
    Ok(t)
}

fn report(t: &Tally, calibration_ticks: u64) -> bool {
    let total: u32 = t.correct.iter().sum();
    let host: u32 = HOST_CORRECT.iter().sum();
    for c in 0..10 {
        out!("{}   {:<12} {:>4}/{:<4} correct", MODEL_NAME, CLASS_NAMES[c], t.correct[c], PER_CLASS[c]);
    }
    out!("{}: accuracy {}/{} (host {}/{})", MODEL_NAME, total, N_IMAGES, host, N_IMAGES);
    let n = t.images.max(1) as u64;
    let per = t.ticks / n;
    if cfg!(feature = "nrf52840") {
        out!("{}: {} cycles per inference", MODEL_NAME, per);
    } else {
        // instructions = ticks * CALIBRATION_INSTRUCTIONS / calibration_ticks.
        let instructions = t.ticks * CALIBRATION_INSTRUCTIONS / calibration_ticks.max(1) / n;
        out!("{}: {} instructions per inference ({} timer ticks)", MODEL_NAME, instructions, per);
        for (i, &op) in t.per_op[..t.ops].iter().enumerate() {
            let instr = op * CALIBRATION_INSTRUCTIONS / calibration_ticks.max(1) / n;
            out!("{}:   op {} ~{} instructions", MODEL_NAME, i, instr);
        }
    }
    t.correct == HOST_CORRECT && t.images == N_IMAGES && t.infer_stack <= INFER_CORE_STACK_BOUND
}

#[entry]
fn main() -> ! {
    paint_below_sp(256);
    let mut cp = cortex_m::Peripherals::take().unwrap_or_else(|| exit(2));
    #[cfg(feature = "nrf52840")]
    {
        rtt_target::rtt_init_print!();
        cp.DCB.enable_trace();
        cp.DWT.enable_cycle_counter();
    }
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(RELOAD);
    cp.SYST.clear_current();
    cp.SYST.enable_interrupt();
    cp.SYST.enable_counter();

    let arena: &'static mut [u8; ARENA_LEN] =
        cortex_m::singleton!(: [u8; ARENA_LEN] = [0; ARENA_LEN]).unwrap_or_else(|| exit(2));
    let nops = calibrate();
    out!(
        "infer-core firmware: {} images, arena {} B, calibration {} ticks per {} instructions",
        N_IMAGES,
        ARENA_LEN,
        nops,
        CALIBRATION_INSTRUCTIONS
    );

    out!("{}: {}{}", MODEL_NAME, IMAGE_SOURCE, if CORRUPTED { " (blob corrupted on purpose)" } else { "" });
    let mut h = hash::FNV_OFFSET;
    let same_accuracy = match classify(&BLOB.0, arena, &mut h) {
        Ok(t) => report(&t, nops),
        Err(e) => {
            out!("{}: infer-core error: {}", MODEL_NAME, e);
            exit(2);
        }
    };
    out!("stack high-water mark: {} B", stack_high_water());
    out!(
        "logits hash {:#010x}, host {:#010x}: {}",
        h,
        EXPECTED_HASH,
        if h == EXPECTED_HASH { "MATCH" } else { "MISMATCH" }
    );
    exit(if h == EXPECTED_HASH && same_accuracy { 0 } else { 1 })
}
