//! NDJSON input read and parsed on a thread of its own.
//!
//! Parsing (JSON, the OpenLineage model, the canonical hash behind `event_id`) is about a third
//! of a bulk load's work and needs nothing from the warehouse, so one thread reads, decompresses
//! and parses the lines of a file while the loader normalises and commits the ones before. Lines
//! arrive in file order, in chunks; the channel is bounded, so a slow commit stops the reader
//! instead of filling memory.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prov9_model::openlineage::Event;
use tokio::sync::mpsc;

use crate::IngestError;
use crate::loader::parse_event;

/// A longer line is rejected as a bad line (an OpenLineage event is kilobytes).
pub(crate) const MAX_LINE_BYTES: u64 = 256 << 20;

/// Lines per message from the reader: enough to make the hand-off cheap.
const CHUNK_LINES: usize = 512;
/// Chunks in flight: bounds what the reader runs ahead (a few thousand events).
const CHUNKS_AHEAD: usize = 8;

/// One non-empty line of input, parsed.
pub(crate) enum Line {
    Event {
        event: Event,
        event_id: String,
        /// The line, trimmed: stored verbatim as the event's payload.
        text: String,
        source: String,
    },
    Bad {
        text: String,
        source: String,
        reason: String,
    },
}

/// The parsed lines of one file, as the reader thread produces them.
pub(crate) struct ParsedLines {
    chunks: mpsc::Receiver<Result<Vec<Line>, IngestError>>,
    /// File bytes read so far (compressed bytes for gzip), for the progress bar.
    bytes_read: Arc<AtomicU64>,
}

impl ParsedLines {
    /// Start reading `path` (gzip when `gz`) on a new thread.
    pub(crate) fn spawn(path: &Path, gz: bool) -> Result<Self, IngestError> {
        let (reader, bytes_read) = open_reader(path, gz)?;
        let (tx, chunks) = mpsc::channel(CHUNKS_AHEAD);
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name("prov9-parse".into())
            .spawn(move || read_lines(reader, &path, &tx))
            .map_err(|source| IngestError::Io {
                path: PathBuf::from("<thread>"),
                source,
            })?;
        Ok(ParsedLines { chunks, bytes_read })
    }

    /// The next chunk, in file order; `None` at the end of the file.
    pub(crate) async fn next(&mut self) -> Option<Result<Vec<Line>, IngestError>> {
        self.chunks.recv().await
    }

    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }
}

type Sender = mpsc::Sender<Result<Vec<Line>, IngestError>>;

/// The reader thread: stops at the end of the file, on a read error (sent on), or when the
/// loader hangs up (it stopped at a bad line).
fn read_lines(mut reader: Box<dyn BufRead + Send>, path: &Path, tx: &Sender) {
    let display = path.display().to_string();
    let mut chunk = Vec::with_capacity(CHUNK_LINES);
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let io = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    loop {
        buf.clear();
        match (&mut reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = tx.blocking_send(Err(io(e)));
                return;
            }
        }
        line_no += 1;
        let source = format!("{display}:{line_no}");
        if buf.len() as u64 > MAX_LINE_BYTES {
            if let Err(e) = skip_rest_of_line(&mut reader, &buf) {
                let _ = tx.blocking_send(Err(io(e)));
                return;
            }
            chunk.push(Line::Bad {
                text: String::new(),
                source,
                reason: format!("line longer than {} MiB", MAX_LINE_BYTES >> 20),
            });
        } else if let Some(line) = parse_line(&buf, source) {
            chunk.push(line);
        }
        if chunk.len() >= CHUNK_LINES {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_LINES));
            if tx.blocking_send(Ok(full)).is_err() {
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(Ok(chunk));
    }
}

/// Read past the rest of an over-long line without holding it.
fn skip_rest_of_line(reader: &mut Box<dyn BufRead + Send>, head: &[u8]) -> std::io::Result<()> {
    let mut rest = Vec::new();
    while !head.ends_with(b"\n") && !rest.ends_with(b"\n") {
        rest.clear();
        if reader.take(1 << 20).read_until(b'\n', &mut rest)? == 0 {
            break;
        }
    }
    Ok(())
}

/// One line's bytes as an event, a bad line, or nothing (blank).
fn parse_line(bytes: &[u8], source: String) -> Option<Line> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_text(text, source),
        Err(e) => Some(Line::Bad {
            text: String::from_utf8_lossy(bytes).into_owned(),
            source,
            reason: format!("not UTF-8 text: {e}"),
        }),
    }
}

/// One event's text (a line, or a value of a JSON document), parsed; `None` when blank.
pub(crate) fn parse_text(text: &str, source: String) -> Option<Line> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(match parse_event(text) {
        Ok((event, event_id)) => Line::Event {
            event,
            event_id,
            text: text.to_string(),
            source,
        },
        Err(reason) => Line::Bad {
            text: text.to_string(),
            source,
            reason,
        },
    })
}

/// A buffered reader over a file (decompressed if gzip) and a count of the file bytes read.
pub(crate) fn open_reader(
    path: &Path,
    gz: bool,
) -> Result<(Box<dyn BufRead + Send>, Arc<AtomicU64>), IngestError> {
    let file = File::open(path).map_err(|source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let counter = Arc::new(AtomicU64::new(0));
    let raw = CountingFile {
        file,
        count: counter.clone(),
    };
    let reader: Box<dyn BufRead + Send> = if gz {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, raw))
    };
    Ok((reader, counter))
}

/// A file that counts the bytes read from it, for the progress bar (compressed bytes for .gz).
struct CountingFile {
    file: File,
    count: Arc<AtomicU64>,
}

impl Read for CountingFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
