//! SIGINT, SIGTERM and SIGHUP sent to kennel run the ladder on the tree; a second one
//! jumps to the forceful rung (as a second Ctrl-C does for most tools).

use kennel::Controller;

/// Forward termination signals received by this process to `controller` until the task
/// is aborted.
pub async fn forward_to_ladder(controller: Controller) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            eprintln!(
                "kennel: cannot install signal handlers; signals to kennel will not reach the tree"
            );
            return;
        };
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            // The first cancel runs the ladder; a second one escalates.
            controller.cancel();
        }
    }
    #[cfg(not(unix))]
    {
        while tokio::signal::ctrl_c().await.is_ok() {
            controller.cancel();
        }
    }
}
