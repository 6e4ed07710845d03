//! The one driver of a `kennel serve` sidecar, shared by the serve tests, the bench
//! and the soak: start the process, send requests, read events as typed values with
//! deadlines.
//!
//! * [`Sidecar::start`] spawns `<kennel> serve [args]` with piped stdin and stdout
//!   (stderr inherited, for diagnostics), reads the `hello` and hands back the
//!   process with a [`Writer`] and a [`Reader`] — separate, so one task can read
//!   while others write (the soak), or one loop can do both (the tests, the bench).
//! * [`Reader::next_before`] returns the next event as a [`Received`]: the typed
//!   [`Event`] (checked against the protocol types, so a malformed line is an error
//!   here, never a silent skip) with the raw JSON next to it, for the tests that check
//!   the wire itself. A binary data frame is decoded into the same `stdout`/`stderr`
//!   event a JSON line would carry, with [`Received::framed`] set.
//! * [`request`] builds request lines: a typed [`request::Spawn`] builder and one
//!   function per simple operation, so no caller spells `{"op": …}` by hand unless it
//!   means to send something odd.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kennel_protocol::{Data, Event, FrameStream, OutputChunk};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, ChildStdin, ChildStdout};

pub mod request;

/// Why the driver could not do what it was asked.
#[derive(Debug)]
pub enum DriverError {
    /// Starting, writing to, reading from or waiting for the sidecar failed.
    Io(&'static str, std::io::Error),
    /// Nothing complete arrived before the deadline.
    Timeout,
    /// A line that is not a protocol event (the line, and why).
    NotAnEvent(String, String),
    /// A binary frame that does not decode.
    BadFrame(String),
    /// The first line was not `hello` (the line), or stdout ended before it.
    NoHello(String),
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriverError::Io(what, e) => write!(f, "{what}: {e}"),
            DriverError::Timeout => f.write_str("nothing complete arrived before the deadline"),
            DriverError::NotAnEvent(line, why) => write!(f, "not a protocol event ({why}): {line}"),
            DriverError::BadFrame(why) => write!(f, "a bad data frame: {why}"),
            DriverError::NoHello(line) => write!(f, "the first line was not hello: {line:?}"),
        }
    }
}

impl std::error::Error for DriverError {}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> DriverError {
    move |e| DriverError::Io(what, e)
}

/// One event read from the sidecar.
#[derive(Clone, Debug)]
pub struct Received {
    /// The event, typed.
    pub event: Event,
    /// The same event as JSON (for a frame: the JSON line it stands for, with
    /// `"frame": true`).
    pub json: Value,
    /// Whether it came as a binary data frame rather than a JSON line.
    pub framed: bool,
}

/// A running `kennel serve`, its pipes split off into a [`Writer`] and a [`Reader`].
pub struct Sidecar {
    /// The process (killed when dropped).
    pub process: Child,
    /// Its pid.
    pub pid: u32,
    /// The `hello` it sent first.
    pub hello: Received,
}

impl Sidecar {
    /// Starts `<kennel> serve <args>` with `env` added, and reads its `hello` within
    /// `patience`.
    ///
    /// # Errors
    ///
    /// When the process cannot start or its first line is not a `hello`.
    pub async fn start(
        kennel: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        patience: Duration,
    ) -> Result<(Sidecar, Writer, Reader), DriverError> {
        let mut command = Sidecar::command(kennel);
        command.args(args).envs(env.iter().copied());
        Sidecar::spawn(&mut command, patience).await
    }

    /// The command [`Sidecar::start`] runs — `<kennel> serve`, stdin and stdout piped,
    /// stderr inherited, killed when dropped — for a caller to add to (arguments,
    /// environment, another stderr) before [`Sidecar::spawn`].
    pub fn command(kennel: &Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(kennel);
        command
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        command
    }

    /// Spawns `command` (from [`Sidecar::command`]) and reads its `hello` within
    /// `patience`.
    ///
    /// # Errors
    ///
    /// When the process cannot start or its first line is not a `hello`.
    pub async fn spawn(
        command: &mut tokio::process::Command,
        patience: Duration,
    ) -> Result<(Sidecar, Writer, Reader), DriverError> {
        let mut process = command.spawn().map_err(io("start kennel serve"))?;
        let missing = || DriverError::Io("start kennel serve", std::io::ErrorKind::Other.into());
        let pid = process.id().ok_or_else(missing)?;
        let writer = Writer::new(process.stdin.take().ok_or_else(missing)?);
        let mut reader = Reader::new(process.stdout.take().ok_or_else(missing)?);
        let hello = match reader.next_before(Instant::now() + patience).await? {
            Some(r) if matches!(r.event, Event::Hello(_)) => r,
            Some(r) => return Err(DriverError::NoHello(r.json.to_string())),
            None => return Err(DriverError::NoHello(String::new())),
        };
        let sidecar = Sidecar {
            process,
            pid,
            hello,
        };
        Ok((sidecar, writer, reader))
    }

    /// Waits up to `patience` for the process to exit.
    ///
    /// # Errors
    ///
    /// [`DriverError::Timeout`] when it is still running, or the wait's own error.
    pub async fn wait(&mut self, patience: Duration) -> Result<ExitStatus, DriverError> {
        tokio::time::timeout(patience, self.process.wait())
            .await
            .map_err(|_| DriverError::Timeout)?
            .map_err(io("wait for the sidecar"))
    }
}

/// The sidecar's stdin: request lines go here.
pub struct Writer {
    stdin: BufWriter<ChildStdin>,
}

impl Writer {
    fn new(stdin: ChildStdin) -> Writer {
        Writer {
            stdin: BufWriter::new(stdin),
        }
    }

    /// Queues one request line (a JSON value); see [`Writer::flush`].
    ///
    /// # Errors
    ///
    /// When the pipe is broken.
    pub async fn queue(&mut self, request: &Value) -> Result<(), DriverError> {
        let mut line = request.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(io("write to the sidecar"))
    }

    /// Sends everything queued.
    ///
    /// # Errors
    ///
    /// When the pipe is broken.
    pub async fn flush(&mut self) -> Result<(), DriverError> {
        self.stdin.flush().await.map_err(io("write to the sidecar"))
    }

    /// Sends one request line now.
    ///
    /// # Errors
    ///
    /// When the pipe is broken.
    pub async fn send(&mut self, request: &Value) -> Result<(), DriverError> {
        self.queue(request).await?;
        self.flush().await
    }

    /// Sends raw bytes now (for the tests of odd input).
    ///
    /// # Errors
    ///
    /// When the pipe is broken.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), DriverError> {
        self.stdin
            .write_all(bytes)
            .await
            .map_err(io("write to the sidecar"))?;
        self.flush().await
    }
}

/// The sidecar's stdout: events come from here.
pub struct Reader {
    stdout: BufReader<ChildStdout>,
    /// A line read in part when a deadline cut the read short.
    line: Vec<u8>,
}

impl Reader {
    fn new(stdout: ChildStdout) -> Reader {
        Reader {
            stdout: BufReader::with_capacity(256 * 1024, stdout),
            // Room for the longest event (a 64 KiB chunk in base64) from the start, so
            // the buffer's growth is not taken for a leak in the middle of a soak.
            line: Vec::with_capacity(256 * 1024),
        }
    }

    /// The next event, or `None` at EOF.
    ///
    /// # Errors
    ///
    /// [`DriverError::Timeout`] when nothing complete arrived before `deadline` (a
    /// line read in part is kept for the next call); a line that is not an event; a
    /// frame that does not decode; a read error.
    pub async fn next_before(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<Received>, DriverError> {
        let deadline = tokio::time::Instant::from_std(deadline);
        if self.line.is_empty() {
            let first = tokio::time::timeout_at(deadline, self.stdout.fill_buf())
                .await
                .map_err(|_| DriverError::Timeout)?
                .map_err(io("read the sidecar's stdout"))?
                .first()
                .copied();
            match first {
                None => return Ok(None),
                Some(kennel_protocol::FRAME_MARKER) => {
                    return tokio::time::timeout_at(deadline, self.read_frame())
                        .await
                        .map_err(|_| DriverError::Timeout)?
                        .map(Some)
                }
                Some(_) => {}
            }
        }
        // `read_until` keeps what it read in `self.line` if the timeout cancels it.
        let n = tokio::time::timeout_at(deadline, self.stdout.read_until(b'\n', &mut self.line))
            .await
            .map_err(|_| DriverError::Timeout)?
            .map_err(io("read the sidecar's stdout"))?;
        if n == 0 && self.line.is_empty() {
            return Ok(None);
        }
        let line = std::mem::take(&mut self.line);
        let received = parse_line(&line);
        // Keep the buffer (and its capacity) for the next line.
        self.line = line;
        self.line.clear();
        received.map(Some)
    }

    /// The pipe itself (to ask the kernel how much waits in it, say).
    pub fn get_ref(&self) -> &ChildStdout {
        self.stdout.get_ref()
    }

    /// The next event within `patience`, or `None` at EOF.
    ///
    /// # Errors
    ///
    /// As [`Reader::next_before`].
    pub async fn next_within(
        &mut self,
        patience: Duration,
    ) -> Result<Option<Received>, DriverError> {
        self.next_before(Instant::now() + patience).await
    }

    /// Reads one binary data frame (its marker is next) as the `stdout`/`stderr`
    /// event it stands for.
    async fn read_frame(&mut self) -> Result<Received, DriverError> {
        let mut frame = vec![0u8; kennel_protocol::FRAME_HEADER_BYTES];
        let read = io("read a frame from the sidecar's stdout");
        self.stdout.read_exact(&mut frame).await.map_err(read)?;
        let id_len = usize::from(u16::from_be_bytes([frame[2], frame[3]]));
        let len = u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]) as usize;
        if len > kennel_protocol::MAX_FRAME_PAYLOAD {
            return Err(DriverError::BadFrame(format!("a payload of {len} bytes")));
        }
        frame.resize(frame.len() + id_len + len, 0);
        let read = io("read a frame from the sidecar's stdout");
        self.stdout
            .read_exact(&mut frame[kennel_protocol::FRAME_HEADER_BYTES..])
            .await
            .map_err(read)?;
        let (decoded, used) = kennel_protocol::decode_frame(&frame)
            .map_err(|e| DriverError::BadFrame(e.to_string()))?
            .ok_or_else(|| DriverError::BadFrame("incomplete".into()))?;
        if used != frame.len() {
            return Err(DriverError::BadFrame(format!(
                "{used} of {} bytes used",
                frame.len()
            )));
        }
        let chunk = OutputChunk {
            id: decoded.id.to_owned(),
            data: Data::Binary(decoded.payload.to_vec()),
        };
        let event = match decoded.stream {
            FrameStream::Stdout => Event::Stdout(chunk),
            FrameStream::Stderr => Event::Stderr(chunk),
        };
        let mut json =
            serde_json::to_value(&event).map_err(|e| DriverError::BadFrame(e.to_string()))?;
        json["frame"] = Value::Bool(true);
        Ok(Received {
            event,
            json,
            framed: true,
        })
    }
}

/// One JSON event line (with its newline) as a [`Received`].
fn parse_line(line: &[u8]) -> Result<Received, DriverError> {
    let bad = |why: String| DriverError::NotAnEvent(String::from_utf8_lossy(line).into(), why);
    if line.last() != Some(&b'\n') {
        return Err(bad("no newline at its end".into()));
    }
    let event = Event::from_line(line).map_err(|e| bad(e.to_string()))?;
    let json = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
    Ok(Received {
        event,
        json,
        framed: false,
    })
}

/// The bytes of a `stdout`/`stderr`/`write` payload in JSON (`data` or `data_b64`).
///
/// # Errors
///
/// When the value has not exactly one of the two fields, or bad base64.
pub fn payload_of(json: &Value) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    match (json["data"].as_str(), json["data_b64"].as_str()) {
        (Some(text), None) => Ok(text.as_bytes().to_vec()),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("bad base64 in {json}: {e}")),
        _ => Err(format!(
            "payload must have exactly one of data/data_b64: {json}"
        )),
    }
}
