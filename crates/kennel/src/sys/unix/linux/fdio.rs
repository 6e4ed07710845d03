//! Two calls on a socket or pipe that the guard, the keeper's link and the PID
//! namespace's entry share: a zero-timeout look at whether the peer closed its end, and
//! a `send` of a whole line that never raises `SIGPIPE`. Standalone (no `crate::`
//! paths): `examples/pidns_cost.rs` compiles it beside `pidns`.

use std::io;
use std::os::fd::AsFd;

/// Whether `fd` is readable or hung up now (`poll(2)` with a zero timeout, again on
/// `EINTR`): for a socket or pipe whose peer writes nothing, that it closed its end.
pub(crate) fn closed_now(fd: impl AsFd) -> io::Result<bool> {
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        match rustix::event::poll(&mut fds, Some(&zero)) {
            Ok(_) => return Ok(!fds[0].revents().is_empty()),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Send all of `bytes` on the socket `fd` (again on `EINTR`), with `send(MSG_NOSIGNAL)`,
/// not `write`: a dead peer is an `EPIPE`, never a `SIGPIPE` that kills a host program
/// which did not ignore it.
pub(crate) fn send_all(fd: impl AsFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::net::send(&fd, bytes, rustix::net::SendFlags::NOSIGNAL) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
