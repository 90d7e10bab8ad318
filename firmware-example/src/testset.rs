//! The images the firmware classifies, one at a time: under QEMU the test set the build script
//! wrote on the host, read through semihosting (`SYS_OPEN` / `SYS_READ`, 784 bytes per image,
//! so nothing but one image is in RAM and nothing in flash); on a board the images embedded
//! from `data/`.

#[cfg(feature = "nrf52840")]
static IMAGES: &[u8] = include_bytes!("../data/images.bin");

/// The source of images.
pub struct TestSet {
    #[cfg(not(feature = "nrf52840"))]
    fd: usize,
    #[cfg(feature = "nrf52840")]
    next: usize,
}

impl TestSet {
    /// Opens the images (`file`: NUL-terminated host path, for semihosting).
    pub fn open(file: &str) -> Option<Self> {
        #[cfg(not(feature = "nrf52840"))]
        {
            // SAFETY: SYS_OPEN with a pointer to `file`'s bytes, its length without the NUL
            // terminator (which `file` has), and mode "rb" (1): the host reads only that string.
            let fd = unsafe { cortex_m_semihosting::syscall!(OPEN, file.as_ptr(), 1usize, file.len() - 1) } as isize;
            (fd >= 0 && file.ends_with('\0')).then_some(TestSet { fd: fd as usize })
        }
        #[cfg(feature = "nrf52840")]
        {
            let _ = file;
            Some(TestSet { next: 0 })
        }
    }

    /// Reads the next image into `px`; `false` when none is left (or the host failed).
    pub fn next_into(&mut self, px: &mut [u8; 784]) -> bool {
        #[cfg(not(feature = "nrf52840"))]
        {
            // SAFETY: SYS_READ of at most `px.len()` bytes into `px`, which the host writes and
            // nothing else; it returns the number of bytes *not* read.
            let left = unsafe { cortex_m_semihosting::syscall!(READ, self.fd, px.as_mut_ptr(), px.len()) };
            left == 0
        }
        #[cfg(feature = "nrf52840")]
        {
            match IMAGES.get(self.next * 784..(self.next + 1) * 784) {
                Some(img) => {
                    px.copy_from_slice(img);
                    self.next += 1;
                    true
                }
                None => false,
            }
        }
    }
}
