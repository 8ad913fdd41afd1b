//! The live ingest log: where an acknowledged event is durable before it reaches the tables.
//!
//! Each group commit appends one *group*: a header line `{"group":N,"events":M}` and then M
//! lines `{"source":…,"event":<the event's JSON>}`.
//! - On a local warehouse, groups are appended to a segment file under `_prov9/log/` and
//!   `fdatasync`ed before the group is acknowledged: durable across kill -9 and power loss.
//!   A new segment starts with each fold-in; segments whose groups a warehouse commit has folded
//!   in are deleted.
//! - On object storage, each group is one object `_prov9/log/<N>.log`: durable once the store
//!   acknowledges the PUT (S3 and GCS acknowledge durably stored objects).
//!
//! On start, the groups after the newest warehouse commit's `log_through` are replayed. A group
//! cut short by a crash was never acknowledged (its sync had not returned) and is skipped.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use prov9_store::Warehouse;

use crate::{IngestError, RawEvent};

const FOLDER: &str = "log";

/// One group read back from the log.
pub(crate) struct Group {
    pub(crate) seq: u64,
    pub(crate) events: Vec<RawEvent>,
}

pub(crate) struct DurableLog {
    store: Arc<dyn ObjectStore>,
    /// The local segment being appended to (local warehouses).
    segment: Option<Arc<Mutex<Segment>>>,
    dir: Option<PathBuf>,
    next_seq: u64,
}

struct Segment {
    file: std::fs::File,
    first_seq: u64,
}

fn io(e: impl std::fmt::Display) -> IngestError {
    IngestError::Log(e.to_string())
}

impl DurableLog {
    /// Open the log of `warehouse`, returning the groups not yet folded in (after
    /// `log_through`), oldest first.
    pub(crate) async fn open(
        warehouse: &Warehouse,
        log_through: Option<u64>,
    ) -> Result<(Self, Vec<Group>), IngestError> {
        let store = warehouse.system_store();
        let dir = warehouse.system_dir().map(|d| d.join(FOLDER));
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut names: Vec<Path> = store
            .list(Some(&Path::from(FOLDER)))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(io)?;
        names.sort();
        let mut pending = Vec::new();
        let mut last = log_through.unwrap_or(0);
        for name in names {
            let bytes = store
                .get(&name)
                .await
                .map_err(io)?
                .bytes()
                .await
                .map_err(io)?;
            for group in parse_groups(&bytes, &name) {
                last = last.max(group.seq);
                if log_through.is_none_or(|t| group.seq > t) {
                    pending.push(group);
                }
            }
        }
        let log = DurableLog {
            store,
            segment: None,
            dir,
            next_seq: last + 1,
        };
        Ok((log, pending))
    }

    /// The number the next group will get.
    #[cfg(test)]
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The next group's text: its header and one line per event (source, event text).
    pub(crate) fn encode(&self, events: &[(&str, &str)]) -> Result<String, IngestError> {
        let seq = self.next_seq;
        let mut text =
            String::with_capacity(64 + events.iter().map(|(_, e)| e.len() + 40).sum::<usize>());
        text.push_str(&format!(
            "{{\"group\":{seq},\"events\":{}}}\n",
            events.len()
        ));
        for (source, event) in events {
            text.push_str("{\"source\":");
            text.push_str(&serde_json::to_string(source).map_err(io)?);
            text.push_str(",\"event\":");
            text.push_str(event.trim());
            text.push_str("}\n");
        }
        Ok(text)
    }

    /// Write a group [`DurableLog::encode`]d and make it durable; returns its number.
    pub(crate) async fn write(&mut self, text: String) -> Result<u64, IngestError> {
        let seq = self.next_seq;
        match &self.dir {
            Some(dir) => {
                let segment = match &self.segment {
                    Some(s) => Arc::clone(s),
                    None => {
                        let path = dir.join(format!("{seq:020}.log"));
                        let file = std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&path)
                            .map_err(io)?;
                        // The new file's name must survive a power loss too.
                        std::fs::File::open(dir)
                            .and_then(|d| d.sync_all())
                            .map_err(io)?;
                        let s = Arc::new(Mutex::new(Segment {
                            file,
                            first_seq: seq,
                        }));
                        self.segment = Some(Arc::clone(&s));
                        s
                    }
                };
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    let mut segment = segment.lock().expect("log segment lock");
                    segment.file.write_all(text.as_bytes())?;
                    segment.file.sync_data()
                })
                .await
                .map_err(io)?
                .map_err(io)?;
            }
            None => {
                let path = Path::from(format!("{FOLDER}/{seq:020}.log"));
                self.store.put(&path, text.into()).await.map_err(io)?;
            }
        }
        self.next_seq += 1;
        Ok(seq)
    }

    /// Start a new segment: the groups so far are being folded in.
    pub(crate) fn rotate(&mut self) {
        self.segment = None;
    }

    /// Delete the log of every group up to `through` (a warehouse commit folded them in).
    pub(crate) async fn forget_through(&mut self, through: u64) -> Result<(), IngestError> {
        let current = self
            .segment
            .as_ref()
            .map(|s| s.lock().expect("log segment lock").first_seq);
        let names: Vec<Path> = self
            .store
            .list(Some(&Path::from(FOLDER)))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(io)?;
        let mut firsts: Vec<(u64, Path)> = names
            .into_iter()
            .filter_map(|p| {
                let first = p.filename()?.strip_suffix(".log")?.parse().ok()?;
                Some((first, p))
            })
            .collect();
        firsts.sort();
        for (i, (first, path)) in firsts.iter().enumerate() {
            // A segment holds groups from its first up to the next segment's first.
            let last = match (&self.dir, firsts.get(i + 1)) {
                (None, _) => *first,
                (Some(_), Some((next, _))) => next - 1,
                (Some(_), None) => u64::MAX,
            };
            if last <= through && Some(*first) != current {
                match self.store.delete(path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(io(e)),
                }
            }
        }
        Ok(())
    }
}

/// The complete groups of one log file; a group cut short (by a crash mid-write: it was never
/// acknowledged) ends the file.
fn parse_groups(bytes: &[u8], name: &Path) -> Vec<Group> {
    #[derive(serde::Deserialize)]
    struct Header {
        group: u64,
        events: usize,
    }
    #[derive(serde::Deserialize)]
    struct Line<'a> {
        source: String,
        #[serde(borrow)]
        event: &'a serde_json::value::RawValue,
    }
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split_inclusive('\n');
    let mut groups = Vec::new();
    'groups: while let Some(header) = lines.next() {
        let Ok(header) = serde_json::from_str::<Header>(header) else {
            break;
        };
        let mut events = Vec::with_capacity(header.events);
        for _ in 0..header.events {
            let Some(line) = lines.next().filter(|l| l.ends_with('\n')) else {
                break 'groups;
            };
            let Ok(line) = serde_json::from_str::<Line>(line) else {
                break 'groups;
            };
            events.push(RawEvent {
                text: line.event.get().to_string(),
                source: line.source,
            });
        }
        groups.push(Group {
            seq: header.group,
            events,
        });
    }
    if groups.is_empty() && !bytes.is_empty() {
        tracing::warn!("{name}: no complete group in the live ingest log");
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn append(log: &mut DurableLog, events: &[usize]) -> u64 {
        let texts: Vec<(String, String)> = events
            .iter()
            .map(|i| (format!("http:{i}"), format!(r#"{{"n":{i}}}"#)))
            .collect();
        let pairs: Vec<(&str, &str)> = texts
            .iter()
            .map(|(s, t)| (s.as_str(), t.as_str()))
            .collect();
        let text = log.encode(&pairs).unwrap();
        log.write(text).await.unwrap()
    }

    #[tokio::test]
    async fn groups_survive_reopening_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
        let (mut log, pending) = DurableLog::open(&warehouse, None).await.unwrap();
        assert!(pending.is_empty());
        assert_eq!(append(&mut log, &[1, 2]).await, 1);
        log.rotate();
        assert_eq!(append(&mut log, &[3]).await, 2);
        // A crash in the middle of writing group 3: its header and half an event.
        let segment = dir.path().join("_prov9/log/00000000000000000002.log");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&segment)
            .unwrap();
        file.write_all(b"{\"group\":3,\"events\":2}\n{\"source\":\"http:1\",\"event\":{\"n\"")
            .unwrap();
        drop(file);

        let (log, pending) = DurableLog::open(&warehouse, None).await.unwrap();
        let seen: Vec<(u64, Vec<String>)> = pending
            .iter()
            .map(|g| (g.seq, g.events.iter().map(|e| e.text.clone()).collect()))
            .collect();
        assert_eq!(
            seen,
            [
                (1, vec![r#"{"n":1}"#.to_string(), r#"{"n":2}"#.to_string()]),
                (2, vec![r#"{"n":3}"#.to_string()])
            ]
        );
        assert_eq!(log.next_seq(), 3);
        // Folded through 1: only group 2 is left to replay; the first segment is deleted.
        let (mut log, pending) = DurableLog::open(&warehouse, Some(1)).await.unwrap();
        assert_eq!(pending.iter().map(|g| g.seq).collect::<Vec<_>>(), [2]);
        log.forget_through(1).await.unwrap();
        assert!(
            !dir.path()
                .join("_prov9/log/00000000000000000001.log")
                .exists()
        );
        assert!(segment.exists());
    }
}
