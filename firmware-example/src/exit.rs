//! Ending a run with an exit code: semihosting's extended exit on QEMU (the emulator exits
//! with the code), a breakpoint on a board. A panic ends the run with 2, a HardFault with 3.

use cortex_m_rt::{ExceptionFrame, exception};

/// Ends the run with `code` (semihosting extended exit on QEMU; a breakpoint on a board).
pub fn exit(code: u32) -> ! {
    #[cfg(not(feature = "nrf52840"))]
    // SAFETY: SYS_EXIT_EXTENDED (0x20) with ADP_Stopped_ApplicationExit (0x20026) and the
    // code; the debugger (QEMU) ends the session and exits with `code`.
    unsafe {
        cortex_m_semihosting::syscall(0x20, &[0x20026usize, code as usize]);
    }
    #[cfg(feature = "nrf52840")]
    {
        let _ = code;
        cortex_m::asm::bkpt();
    }
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    exit(3)
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    exit(2)
}
