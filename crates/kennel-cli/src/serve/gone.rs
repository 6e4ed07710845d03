//! Noticing that the client stopped reading stdout for good, without writing to it.
//!
//! The writer learns that stdout's reader is gone only when a write fails (`EPIPE`).
//! A sidecar with nothing to say (no children, or children that print nothing) would
//! never write, and a client that closed its read end but not the sidecar's stdin
//! would leave it running forever. So one thread sits in `poll(2)` on a duplicate of
//! stdout asking for no event at all: the kernel still reports `POLLERR` (a pipe whose
//! readers are all gone), `POLLHUP` (a socket whose peer closed, a terminal hung up)
//! and `POLLNVAL`, and nothing else ever wakes it. A file or `/dev/null` never
//! reports anything. The thread costs no wake-up while the client is there, and is
//! never joined: the process exits around it.
//!
//! Off Unix there is nothing to watch; the writer's `EPIPE` is the only signal.

/// Calls `on_gone` (once, from a thread of its own) when stdout's reader is gone; at
/// once if stdout is not open.
pub(crate) fn watch_stdout(on_gone: impl FnOnce() + Send + 'static) {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;

        // A duplicate: fd 1 itself may be closed and reused meanwhile.
        let Ok(stdout) = std::io::stdout().as_fd().try_clone_to_owned() else {
            on_gone();
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("kennel-stdout-watch".into())
            .spawn(move || {
                use rustix::event::{poll, PollFd, PollFlags};
                loop {
                    let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
                    match poll(&mut fds, None) {
                        Ok(_) => {
                            let gone = PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL;
                            if fds[0].revents().intersects(gone) {
                                break;
                            }
                        }
                        Err(rustix::io::Errno::INTR) => {}
                        // Cannot watch: the writer's EPIPE remains.
                        Err(_) => return,
                    }
                }
                on_gone();
            });
        if let Err(e) = spawned {
            tracing::warn!("serve: cannot watch stdout for the client going away: {e}");
        }
    }
    #[cfg(not(unix))]
    drop(on_gone);
}
