//! The control protocol: the engine's API as JSON lines (documented in docs/control-protocol.md).
//!
//! ```text
//! stdin  {"id":7,"call":{"type":"status"}}
//! stdout {"id":7,"ok":{"type":"status","peer_id":"12D3KooW…",…}}
//! stdout {"event":{"type":"profile_changed","display_name":"Ada"}}
//! ```
//!
//! Calls run concurrently, so replies may come out of order; `id` (any JSON value the caller
//! picks) pairs them. A line that is not valid JSON, lacks `call`, names an unknown operation or is
//! longer than [`MAX_LINE`] gets an `err` reply (with the `id` when one could be read) and the
//! node keeps going. End of input, Ctrl-C or SIGTERM stops it after the calls in flight finish.

use std::io;

use earshot_engine::api::{ApiError, Event, Request};
use earshot_engine::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

/// The longest request line accepted (1 MiB): far above any real call, small enough that a
/// runaway writer cannot exhaust memory.
pub const MAX_LINE: usize = 1 << 20;
/// Output lines waiting for stdout; calls wait beyond this (back-pressure on a slow reader).
const OUTPUT_QUEUE: usize = 256;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    #[serde(default)]
    id: Value,
    call: Request,
}

/// Parses one request line into its id and call, or the `err` reply to send instead.
fn parse(line: &str) -> Result<(Value, Request), Value> {
    let value: Value = serde_json::from_str(line).map_err(|e| {
        reply_err(
            &Value::Null,
            &ApiError::malformed(format!("not valid JSON: {e}")),
        )
    })?;
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    if !value.is_object() {
        return Err(reply_err(
            &id,
            &ApiError::malformed(
                "a request is a JSON object like {\"id\":1,\"call\":{\"type\":\"status\"}}",
            ),
        ));
    }
    let envelope: Envelope = serde_json::from_value(value).map_err(|e| {
        reply_err(
            &id,
            &ApiError::malformed(format!("not a valid request: {e}")),
        )
    })?;
    Ok((envelope.id, envelope.call))
}

fn reply_err(id: &Value, error: &ApiError) -> Value {
    json!({ "id": id, "err": error })
}

/// Serves the protocol until `input` ends or the process is asked to stop.
pub async fn serve<R, W>(engine: Engine, input: R, output: W) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (lines_out, lines_rx) = mpsc::channel::<Value>(OUTPUT_QUEUE);
    let writer = tokio::spawn(write_lines(output, lines_rx));
    let events = tokio::spawn(forward_events(engine.subscribe(), lines_out.clone()));

    let mut lines = LineReader::new(input);
    let mut calls = JoinSet::new();
    loop {
        tokio::select! {
            read = lines.next_line() => match read? {
                Line::End => break,
                Line::TooLong(len) => {
                    let error = ApiError::malformed(format!(
                        "the request line is {len} bytes long; the limit is {MAX_LINE}"
                    ));
                    let _ = lines_out.send(reply_err(&Value::Null, &error)).await;
                }
                Line::Text(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let text = text.trim();
                    if text.is_empty() {
                        continue;
                    }
                    match parse(text) {
                        Err(reply) => {
                            let _ = lines_out.send(reply).await;
                        }
                        Ok((id, call)) => {
                            let engine = engine.clone();
                            let out = lines_out.clone();
                            calls.spawn(async move {
                                let reply = match engine.call(call).await {
                                    Ok(ok) => json!({ "id": id, "ok": ok }),
                                    Err(err) => reply_err(&id, &err),
                                };
                                let _ = out.send(reply).await;
                            });
                        }
                    }
                }
            },
            Some(done) = calls.join_next() => log_panic(done),
            () = stop_signal() => break,
        }
    }
    while let Some(done) = calls.join_next().await {
        log_panic(done);
    }
    events.abort();
    drop(lines_out);
    writer.await.map_err(io::Error::other)?
}

fn log_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(error = %e, "a call panicked");
    }
}

enum Line {
    /// A line's bytes, without its newline.
    Text(Vec<u8>),
    TooLong(usize),
    End,
}

/// Splits input into lines, never holding more than [`MAX_LINE`] bytes of one: the rest of an
/// oversized line is skipped.
///
/// [`LineReader::next_line`] is cancellation-safe, because `serve` polls it in a `select!` that
/// drops it whenever a call finishes: the part of a line read so far lives in the reader, not in
/// the future, and nothing is consumed from the input without being kept.
struct LineReader<R> {
    input: BufReader<R>,
    /// The line so far (emptied once it passes [`MAX_LINE`]).
    line: Vec<u8>,
    /// Its length so far, counting what was skipped.
    len: usize,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    fn new(input: R) -> Self {
        LineReader {
            input: BufReader::new(input),
            line: Vec::new(),
            len: 0,
        }
    }

    async fn next_line(&mut self) -> io::Result<Line> {
        loop {
            // The only await: when it is cancelled, nothing has been taken from the input.
            let available = self.input.fill_buf().await?;
            if available.is_empty() {
                return Ok(if self.len == 0 {
                    Line::End
                } else {
                    self.finish()
                });
            }
            let (chunk, found_newline) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], true),
                None => (available, false),
            };
            let taken = chunk.len();
            self.len += taken;
            if self.len <= MAX_LINE {
                self.line.extend_from_slice(chunk);
            } else {
                self.line = Vec::new();
            }
            self.input.consume(taken + usize::from(found_newline));
            if found_newline {
                return Ok(self.finish());
            }
        }
    }

    fn finish(&mut self) -> Line {
        let len = std::mem::take(&mut self.len);
        let line = std::mem::take(&mut self.line);
        if len > MAX_LINE {
            Line::TooLong(len)
        } else {
            Line::Text(line)
        }
    }
}

async fn forward_events(mut events: broadcast::Receiver<Event>, out: mpsc::Sender<Value>) {
    loop {
        match events.recv().await {
            Ok(event) => {
                if out.send(json!({ "event": event })).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "the control client reads too slowly; events were dropped"
                );
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn write_lines<W: AsyncWrite + Unpin>(
    mut output: W,
    mut lines: mpsc::Receiver<Value>,
) -> io::Result<()> {
    while let Some(line) = lines.recv().await {
        let mut bytes = serde_json::to_vec(&line).expect("JSON values to serialise");
        bytes.push(b'\n');
        output.write_all(&bytes).await?;
        output.flush().await?;
    }
    Ok(())
}

/// The process-wide stop flag, set once Ctrl-C or SIGTERM arrives. One listener is installed for
/// the whole process (by [`listen_for_stop`], early), so a signal that lands between two waits —
/// say while `serve` is returning at end of input — is never lost.
static STOP: std::sync::OnceLock<tokio::sync::watch::Receiver<bool>> = std::sync::OnceLock::new();

/// Installs the Ctrl-C / SIGTERM listener (idempotent). Call it inside the runtime, before any
/// work a signal should interrupt.
pub fn listen_for_stop() -> tokio::sync::watch::Receiver<bool> {
    STOP.get_or_init(|| {
        let (set, flag) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("asked to stop");
            let _ = set.send(true);
            // Keep the sender alive so receivers see `true`, not a closed channel.
            std::future::pending::<()>().await;
        });
        flag
    })
    .clone()
}

/// Whether Ctrl-C or SIGTERM has arrived.
pub fn stop_requested() -> bool {
    STOP.get().is_some_and(|flag| *flag.borrow())
}

/// Resolves once Ctrl-C or SIGTERM has arrived (at once if it already has).
pub async fn stop_signal() {
    let mut flag = listen_for_stop();
    let _ = flag.wait_for(|stopped| *stopped).await;
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_line_yields_its_id_and_call() {
        let (id, call) = parse(r#"{"id":7,"call":{"type":"status"}}"#).unwrap();
        assert_eq!(id, json!(7));
        assert_eq!(call, Request::Status);
    }

    #[test]
    fn invalid_json_is_answered_with_a_null_id() {
        let reply = parse("{nope").unwrap_err();
        assert_eq!(reply["id"], Value::Null);
        assert_eq!(reply["err"]["kind"], "malformed_request");
    }

    #[test]
    fn an_unknown_operation_is_answered_with_the_callers_id() {
        let reply = parse(r#"{"id":"x","call":{"type":"fly"}}"#).unwrap_err();
        assert_eq!(reply["id"], "x");
        assert_eq!(reply["err"]["kind"], "malformed_request");
    }

    #[test]
    fn a_line_without_a_call_is_malformed() {
        let reply = parse(r#"{"id":3}"#).unwrap_err();
        assert_eq!(reply["id"], 3);
        assert!(reply["err"]["message"].as_str().unwrap().contains("call"));
    }

    /// Regression: `serve` polls the reader inside `select!`, which drops it whenever a call
    /// finishes. A line whose newline had not arrived yet was dropped with it, so a request
    /// written in two pieces (a test harness's `writeln!` writes the text, then "\n") was
    /// silently lost under load, and its caller waited forever for the reply.
    #[tokio::test]
    async fn a_line_survives_the_reader_being_cancelled_before_its_newline() {
        let (mut writer, reader) = tokio::io::duplex(64);
        let mut lines = LineReader::new(reader);
        writer.write_all(br#"{"id":1}"#).await.unwrap();
        let cancelled =
            tokio::time::timeout(std::time::Duration::from_millis(50), lines.next_line()).await;
        assert!(cancelled.is_err(), "no line is complete yet");
        writer.write_all(b"\n").await.unwrap();
        match lines.next_line().await.unwrap() {
            Line::Text(text) => assert_eq!(text, br#"{"id":1}"#),
            Line::TooLong(n) => panic!("a short line was called too long ({n})"),
            Line::End => panic!("the line was lost"),
        }
    }

    #[tokio::test]
    async fn an_oversized_line_is_skipped_and_the_next_line_still_read() {
        let mut input = vec![b'x'; MAX_LINE + 10];
        input.extend_from_slice(b"\n{\"id\":1}\n");
        let mut lines = LineReader::new(&input[..]);
        assert!(matches!(lines.next_line().await.unwrap(), Line::TooLong(n) if n == MAX_LINE + 10));
        assert!(
            matches!(lines.next_line().await.unwrap(), Line::Text(text) if text == b"{\"id\":1}")
        );
        assert!(matches!(lines.next_line().await.unwrap(), Line::End));
    }
}
