//! The leader's exit, observed with `RegisterWaitForSingleObject` on its process handle
//! (a thread-pool wait, no thread per child) firing a oneshot once.

use std::ffi::c_void;
use std::io;
use std::os::windows::io::{AsRawHandle as _, OwnedHandle};

use tokio::sync::oneshot;
use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Threading::{
    RegisterWaitForSingleObject, UnregisterWaitEx, INFINITE, WT_EXECUTEINWAITTHREAD,
    WT_EXECUTEONLYONCE,
};

/// A thread-pool wait on the leader's process handle that fires a oneshot once.
pub(crate) struct ExitWait {
    /// The wait object from `RegisterWaitForSingleObject`.
    wait: HANDLE,
    /// The callback's context: boxed so its address is stable; freed only after
    /// `UnregisterWaitEx(…, INVALID_HANDLE_VALUE)` guaranteed the callback is done.
    slot: *mut Option<oneshot::Sender<()>>,
    pub(crate) rx: oneshot::Receiver<()>,
    pub(crate) fired: bool,
}

// SAFETY: the wait handle and the boxed slot are only touched by the callback (once,
// on a pool thread, synchronized with Drop by UnregisterWaitEx) and by the owner; both
// may move between threads.
unsafe impl Send for ExitWait {}
// SAFETY: no `&self` method of ExitWait touches the raw pointers (only `&mut self` and
// Drop do), so shared references across threads cannot race on them.
unsafe impl Sync for ExitWait {}

unsafe extern "system" fn on_leader_exit(context: *mut c_void, _timed_out: bool) {
    // SAFETY: `context` is the `slot` box of a live ExitWait: ExitWait's Drop waits for
    // this callback to finish before freeing it, and WT_EXECUTEONLYONCE means it runs at
    // most once, so this is the only access.
    let slot = unsafe { &mut *context.cast::<Option<oneshot::Sender<()>>>() };
    if let Some(tx) = slot.take() {
        let _ = tx.send(());
    }
}

impl ExitWait {
    pub(crate) fn register(process: &OwnedHandle) -> io::Result<ExitWait> {
        let (tx, rx) = oneshot::channel();
        let slot = Box::into_raw(Box::new(Some(tx)));
        let mut wait: HANDLE = std::ptr::null_mut();
        // SAFETY: `process` outlives the wait (the Leader drops its ExitWait first);
        // `slot` stays valid until Drop unregistered the wait (see `on_leader_exit`).
        let ok = unsafe {
            RegisterWaitForSingleObject(
                &mut wait,
                process.as_raw_handle(),
                Some(on_leader_exit),
                slot.cast::<c_void>().cast_const(),
                INFINITE,
                WT_EXECUTEONLYONCE | WT_EXECUTEINWAITTHREAD,
            )
        };
        if ok == 0 {
            let e = io::Error::last_os_error();
            // SAFETY: the registration failed, so no callback will ever see `slot`.
            drop(unsafe { Box::from_raw(slot) });
            return Err(e);
        }
        Ok(ExitWait {
            wait,
            slot,
            rx,
            fired: false,
        })
    }
}

impl Drop for ExitWait {
    fn drop(&mut self) {
        // SAFETY: `wait` is our registered wait object; INVALID_HANDLE_VALUE makes the
        // call return only once a running callback has finished, after which the slot
        // can no longer be reached.
        unsafe {
            UnregisterWaitEx(self.wait, INVALID_HANDLE_VALUE);
        }
        // SAFETY: the slot came from Box::into_raw and nothing else refers to it now.
        drop(unsafe { Box::from_raw(self.slot) });
    }
}
