//! The fixture's handshake lines: `pid <pid> <ppid> <role>\n`.

/// One `pid <pid> <ppid> <role>` line printed by a fixture process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PidLine {
    /// The process that printed the line.
    pub pid: u32,
    /// Its parent at the moment it printed (0 on Windows for a process the
    /// test started directly: Windows has no cheap `getppid`).
    pub ppid: u32,
    /// What it is: `root`, `child`, `grandchild`, `daemon`, `holder`, … (see
    /// the fixture's docs).
    pub role: String,
}

impl PidLine {
    /// Parses one line (without its `\n`); `None` unless it is exactly
    /// `pid <u32> <u32> <role>` with a non-empty role without spaces.
    pub fn parse(line: &[u8]) -> Option<PidLine> {
        let line = std::str::from_utf8(line).ok()?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut it = line.split(' ');
        if it.next()? != "pid" {
            return None;
        }
        let pid = it.next()?.parse().ok()?;
        let ppid = it.next()?.parse().ok()?;
        let role = it.next()?;
        if role.is_empty() || it.next().is_some() {
            return None;
        }
        Some(PidLine {
            pid,
            ppid,
            role: role.to_owned(),
        })
    }
}

/// All pid lines in `buf`, in order, ignoring every other line.
///
/// Only complete (`\n`-terminated) lines count, so calling this on a buffer
/// that is still growing never yields a half-written line.
pub fn parse_pid_lines(buf: &[u8]) -> Vec<PidLine> {
    complete_lines(buf).filter_map(PidLine::parse).collect()
}

/// Whether `buf` contains the complete line `line` (given without `\n`),
/// e.g. `has_line(&out, "stopped")`.
pub fn has_line(buf: &[u8], line: &str) -> bool {
    complete_lines(buf).any(|l| l == line.as_bytes() || l == [line.as_bytes(), b"\r"].concat())
}

/// The complete lines of `buf`, without their `\n`.
fn complete_lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let end = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    buf[..end]
        .split(|&b| b == b'\n')
        .take(buf[..end].iter().filter(|&&b| b == b'\n').count())
}

/// Reads `reader` (blocking) until what it gave holds at least `n` pid lines; returns
/// every byte read. Panics if it ends first.
pub fn read_pid_lines(reader: &mut impl std::io::Read, n: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while parse_pid_lines(&buf).len() < n {
        let got = reader.read(&mut chunk).expect("read pid lines");
        assert!(got > 0, "ended before {n} pid lines: {buf:?}");
        buf.extend_from_slice(&chunk[..got]);
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_ignores_other_lines() {
        let buf = b"hello\npid 12 1 root\nstopped\npid 13 12 child\npid x 1 y\npid 1 2\npid 1 2 a b\npid 14 13 gran";
        let got = parse_pid_lines(buf);
        assert_eq!(
            got,
            vec![
                PidLine {
                    pid: 12,
                    ppid: 1,
                    role: "root".into()
                },
                PidLine {
                    pid: 13,
                    ppid: 12,
                    role: "child".into()
                },
            ]
        );
        assert!(has_line(buf, "stopped"));
        assert!(!has_line(buf, "pid 14 13 gran"), "incomplete line");
        assert!(!has_line(b"stop", "stop"));
    }

    #[test]
    fn crlf_is_tolerated() {
        assert_eq!(parse_pid_lines(b"pid 5 0 main\r\n")[0].role, "main");
        assert!(has_line(b"ready\r\n", "ready"));
    }
}
