//! The emulated machine's `/init` (see `tools/amx_emulator.sh`): runs `/dynq-tests` with the
//! arguments the kernel passes on, copies everything it prints to Bochs's debug port 0xE9
//! (Bochs writes it to its own standard output: Linux's serial console loses it), prints the
//! exit status the same way and stops Bochs through its shutdown port (the guest runs without
//! ACPI, so it cannot power itself off). Built static with plain `rustc`.

use std::arch::asm;
use std::ffi::c_void;
use std::io::Read;
use std::os::raw::{c_char, c_int, c_ulong};
use std::process::Command;

unsafe extern "C" {
    fn ioperm(from: c_ulong, num: c_ulong, turn_on: c_int) -> c_int;
    fn reboot(cmd: c_int) -> c_int;
    fn mount(
        source: *const c_char,
        target: *const c_char,
        fstype: *const c_char,
        flags: c_ulong,
        data: *const c_void,
    ) -> c_int;
}

/// Bochs's `port_e9_hack` port.
const DEBUG_PORT: u16 = 0xe9;
/// Bochs's shutdown port: writing "Shutdown" to it ends the emulator.
const SHUTDOWN_PORT: u16 = 0x8900;
/// `LINUX_REBOOT_CMD_POWER_OFF`.
const POWER_OFF: c_int = 0x4321_fedc;

fn write_port(port: u16, bytes: &[u8]) {
    for &byte in bytes {
        // SAFETY: ioperm gave this process the port, which Bochs only reads.
        unsafe { asm!("out dx, al", in("dx") port, in("al") byte, options(nomem, nostack)) };
    }
}

fn print(bytes: &[u8]) {
    write_port(DEBUG_PORT, bytes);
}

fn main() {
    // SAFETY: ioperm only changes this process's I/O permission bitmap.
    let granted = |port: u16| unsafe { ioperm(c_ulong::from(port), 1, 1) } == 0;
    if !granted(DEBUG_PORT) || !granted(SHUTDOWN_PORT) {
        return;
    }
    // /dev for the programs the tests start (their standard input is /dev/null), /proc and
    // /sys, where the tests read the CPU's name, its caches and this process.
    let filesystems = [
        (c"devtmpfs", c"/dev"),
        (c"proc", c"/proc"),
        (c"sysfs", c"/sys"),
    ];
    for (fstype, target) in filesystems {
        let (fstype, target_ptr, no_data) = (fstype.as_ptr(), target.as_ptr(), std::ptr::null());
        // SAFETY: the strings are NUL-terminated and outlive the call, the data pointer is
        // null (none); as init we may mount.
        if unsafe { mount(fstype, target_ptr, fstype, 0, no_data) } != 0 {
            print(format!("init: cannot mount {target:?}\n").as_bytes());
        }
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    print(format!("init: /dynq-tests {}\n", args.join(" ")).as_bytes());
    let status = std::io::pipe().and_then(|(mut reader, writer)| {
        let mut child = Command::new("/dynq-tests")
            .args(&args)
            .env("RUST_BACKTRACE", "1")
            .stdout(writer.try_clone()?)
            .stderr(writer)
            .spawn()?;
        let mut buffer = [0u8; 4096];
        loop {
            match reader.read(&mut buffer)? {
                0 => break,
                n => print(&buffer[..n]),
            }
        }
        child.wait()
    });
    print(format!("init: dynq-tests ended: {status:?}\n").as_bytes());
    write_port(SHUTDOWN_PORT, b"Shutdown");
    // SAFETY: reboot with POWER_OFF takes no pointers; as init we may call it.
    unsafe { reboot(POWER_OFF) };
}
